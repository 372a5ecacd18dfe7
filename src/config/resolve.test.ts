import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { isAppError } from '../base/index.js'
import { defaultConfigPath, expandHome, expandVariables, parseConfig, resolveBackupSet, resolveConfigPath, resolveRepository, resolveRepositoryUrl, unsetVariables } from './index.js'
import { ISSUE_EXAMPLE } from './testing.js'
import { parseByteSize, parseTimeout } from './values.js'

const env = { HOME: '/home/me' }
const example = parseConfig(ISSUE_EXAMPLE, '/home/me/.config/cairn/cairn.yaml')

describe('resolveBackupSet()', () => {
  test('adds the set\'s excludes after the defaults\' and says where each came from', () => {
    const { set, origins } = resolveBackupSet(example.config, 'data', example.dir, env)
    assert.deepEqual(set.exclude, ['*.tmp', 'node_modules', '.cache', 'tmp/*', '*.log'])
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((i) => origins[`exclude[${i}]`]),
      ['defaults', 'defaults', 'defaults', 'set', 'set'],
    )
    assert.equal(origins.mode, 'set')
    assert.equal(origins['prune.when'], 'built-in')
    assert.equal(set.prune.when, 'after-forget')
    assert.equal(origins['hooks.before[0]'], 'set')
    assert.deepEqual(set.hooks.before, [{ command: 'pg_dump mydb > /data/db.sql', timeoutMs: 3_600_000, continueOnError: false }])
  })

  test('a destination policy replaces the general one there; the general one applies elsewhere', () => {
    const { set, origins } = resolveBackupSet(example.config, 'data', example.dir, env)
    assert.deepEqual(set.retention, {
      nas: { 'keep-daily': 7, 'keep-weekly': 4 },
      usb: { 'keep-last': 5 },
      cloud: { 'keep-daily': 7, 'keep-weekly': 4 },
    })
    assert.equal(origins['retention.keep-daily'], 'defaults')
    assert.equal(origins['retention.usb.keep-last'], 'set')
  })

  test('expands ~ in sources and inherits mode from built-ins', () => {
    const { set, origins } = resolveBackupSet(example.config, 'config', example.dir, env)
    assert.deepEqual(set.sources, ['/home/me/.config', '/home/me/env.sh', '/home/me/.secrets'])
    assert.equal(set.mode, 'all')
    assert.equal(origins.copy, 'built-in')
    assert.equal(origins['retention.keep-weekly'], 'defaults')
  })

  test('merges retention per destination and hooks from defaults and the set', () => {
    const loaded = parseConfig(
      `repositories:
  a: { url: /a, password-env: P }
  b: { url: /b, password-env: P }
defaults:
  retention: { keep-daily: 7, a: { keep-last: 3, keep-weekly: 2 } }
  hooks: { timeout: 30s, finally: ["echo defaults"] }
  prune: { max-unused: 10% }
sets:
  s:
    sources: [rel/dir]
    destinations: [a, b]
    retention: { keep-daily: 3, a: { keep-last: 5 } }
    hooks: { finally: ["echo set", { command: "slow", timeout: 2m, continue-on-error: true }] }
    prune: { when: never }
`,
      '/etc/cairn/cairn.yaml',
    )
    const { set, origins } = resolveBackupSet(loaded.config, 's', loaded.dir, env)
    assert.deepEqual(set.retention, { a: { 'keep-last': 5, 'keep-weekly': 2 }, b: { 'keep-daily': 3 } })
    assert.equal(origins['retention.a.keep-last'], 'set')
    assert.equal(origins['retention.a.keep-weekly'], 'defaults')
    assert.deepEqual(set.hooks.finally, [
      { command: 'echo defaults', timeoutMs: 30_000, continueOnError: false },
      { command: 'echo set', timeoutMs: 30_000, continueOnError: false },
      { command: 'slow', timeoutMs: 120_000, continueOnError: true },
    ])
    assert.deepEqual(set.prune, { when: 'never', maxUnused: '10%', repackUncompressed: false, repackSmall: false })
    assert.equal(origins['prune.max-unused'], 'defaults')
    assert.deepEqual(set.sources, ['/etc/cairn/rel/dir'])
  })

  test('an unknown set is a CONFIG error naming the sets there are', () => {
    assert.throws(() => resolveBackupSet(example.config, 'dta', example.dir, env), (err: unknown) => isAppError(err, 'CONFIG') && /data, config/.test(err.hint ?? ''))
  })
})

describe('repositories and paths', () => {
  test('resolveRepository() expands ~ in password files and keeps remote URLs', () => {
    const nas = resolveRepository(example.config, 'nas', example.dir, env)
    assert.equal(nas.url, 'sftp://backup@nas.local//srv/cairn')
    assert.equal(nas.passwordFile, '/home/me/.config/cairn/nas.pass')
    const usb = resolveRepository(example.config, 'usb', example.dir, env)
    assert.equal(usb.removable, true)
    assert.equal(usb.passwordCommand, 'pass show cairn/usb')
  })

  test('resolveRepositoryUrl() makes local paths absolute', () => {
    assert.equal(resolveRepositoryUrl('~/r', '/etc', env), '/home/me/r')
    assert.equal(resolveRepositoryUrl('r', '/etc', env), '/etc/r')
    assert.equal(resolveRepositoryUrl('local:~/r', '/etc', env), 'local:/home/me/r')
    assert.equal(resolveRepositoryUrl('s3:https://h/b', '/etc', env), 's3:https://h/b')
    assert.equal(expandHome('~other/x', env), '~other/x')
  })

  test('paths expand $NAME and ${NAME} from the environment; a variable that is not set stays as written', () => {
    // They were taken literally: "$HOME/repo" became a folder named "$HOME" beside the config file.
    const vars = { HOME: '/home/me', NAS: '/mnt/nas', EMPTY: '' }
    assert.equal(resolveConfigPath('$HOME/Documents', '/etc/cairn', vars), '/home/me/Documents')
    assert.equal(resolveConfigPath('${NAS}/photos-${HOME}x', '/etc/cairn', vars), '/mnt/nas/photos-/home/mex')
    assert.equal(resolveRepositoryUrl('$NAS/cairn', '/etc', vars), '/mnt/nas/cairn')
    assert.equal(resolveRepositoryUrl('local:${NAS}/cairn', '/etc', vars), 'local:/mnt/nas/cairn')
    assert.equal(resolveRepositoryUrl('sftp:me@nas:/srv/$USER', '/etc', vars), 'sftp:me@nas:/srv/$USER', 'a remote path is the remote side\'s')
    assert.equal(expandVariables('$EMPTY/x', vars), '/x')
    assert.equal(expandVariables('$NOPE/x and ${ALSO_NOT}', vars), '$NOPE/x and ${ALSO_NOT}')
    assert.equal(expandVariables('price$ 5 $1', vars), 'price$ 5 $1')
    assert.deepEqual(unsetVariables('$NOPE/$HOME/${ALSO_NOT}', vars), ['NOPE', 'ALSO_NOT'])
  })

  test('defaultConfigPath() honours CAIRN_CONFIG and XDG_CONFIG_HOME', () => {
    assert.equal(defaultConfigPath({ HOME: '/nonexistent-home' }), '/nonexistent-home/.config/cairn/cairn.yaml')
    assert.equal(defaultConfigPath({ HOME: '/h', XDG_CONFIG_HOME: '/xdg' }), '/xdg/cairn/cairn.yaml')
    assert.equal(defaultConfigPath({ HOME: '/h', XDG_CONFIG_HOME: 'relative' }), '/h/.config/cairn/cairn.yaml')
    assert.equal(defaultConfigPath({ HOME: '/h', CAIRN_CONFIG: '~/c.json' }), '/h/c.json')
  })

  test('sizes and timeouts', () => {
    assert.equal(parseByteSize('10GiB'), 10 * 1024 ** 3)
    assert.equal(parseByteSize('500M'), 500 * 1024 ** 2)
    assert.equal(parseByteSize('1.5 kb'), 1536)
    assert.equal(parseByteSize('10 parsecs'), undefined)
    assert.equal(parseByteSize('5iB'), undefined)
    assert.equal(parseTimeout('1h30m'), 5_400_000)
    assert.equal(parseTimeout(90), 90_000)
    assert.equal(parseTimeout('90'), 90_000)
    assert.equal(parseTimeout('5ms'), undefined)
    assert.equal(parseTimeout('0s'), undefined)
  })
})
