import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { encodeLock, newLockInfo } from '../repository/lock.js'
import { cairn, initRepo, PASSWORD, tempDir, withRepo } from './interop-testing.js'
import { initRepository, openRepository, repositoryLocation } from './session.js'

describe('repositoryLocation()', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-session-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'repository')
  writeFileSync(file, '  sftp:nas:/srv/cairn\n')
  const env = { HOME: dir }

  it('reads --repository-file and CAIRN_/RESTIC_REPOSITORY_FILE, trimmed, as restic does', () => {
    assert.deepEqual(repositoryLocation({ repositoryFile: file, env }), { url: 'sftp:nas:/srv/cairn', isDefault: false })
    assert.equal(repositoryLocation({ env: { ...env, RESTIC_REPOSITORY_FILE: file } }).url, 'sftp:nas:/srv/cairn')
    assert.equal(repositoryLocation({ env: { ...env, CAIRN_REPOSITORY_FILE: file } }).url, 'sftp:nas:/srv/cairn')
  })

  it('lets a flag win over the environment, and refuses a URL and a file given together', () => {
    assert.equal(repositoryLocation({ repo: '/srv/a', env: { ...env, CAIRN_REPOSITORY_FILE: file } }).url, '/srv/a')
    assert.equal(repositoryLocation({ repositoryFile: file, env: { ...env, CAIRN_REPOSITORY: '/srv/b' } }).url, 'sftp:nas:/srv/cairn')
    assert.throws(() => repositoryLocation({ repo: '/srv/a', repositoryFile: file, env }), (err) => isAppError(err, 'INVALID_ARGUMENT') && /Both a repository/.test(err.message))
    assert.throws(() => repositoryLocation({ env: { ...env, RESTIC_REPOSITORY: '/srv/a', RESTIC_REPOSITORY_FILE: file } }), /Both a repository/)
  })

  it('names a repository file it cannot read, or one that is empty', () => {
    assert.throws(() => repositoryLocation({ repositoryFile: join(dir, 'missing'), env }), (err) => isAppError(err, 'INVALID_ARGUMENT') && /Cannot read the repository file ".*missing": ENOENT/.test(err.message))
    const empty = join(dir, 'empty')
    writeFileSync(empty, '\n')
    assert.throws(() => repositoryLocation({ repositoryFile: empty, env }), /is empty/)
  })

  it('refuses a repository given but empty, rather than use the default', () => {
    // `-r ""` or RESTIC_REPOSITORY="" backed up into the default repository without a word.
    assert.throws(() => repositoryLocation({ repo: '', env }), (err) => isAppError(err, 'INVALID_ARGUMENT') && /given with -r\/--repo is empty/.test(err.message))
    assert.throws(() => repositoryLocation({ env: { ...env, RESTIC_REPOSITORY: '' } }), /given with RESTIC_REPOSITORY is empty/)
    assert.equal(repositoryLocation({ env }).isDefault, true)
  })
})

describe('the default repository', () => {
  it('makes its password file only when it creates the repository', async () => {
    // A new random password was written for a repository that existed, and opened nothing.
    const home = mkdtempSync(join(tmpdir(), 'cairn-default-'))
    try {
      const env = { HOME: home }
      const repo = await openRepository({ env, noCache: true }, true)
      await repo.close?.()
      const passwordFile = join(home, '.config', 'cairn', 'repository.password')
      assert.ok(existsSync(passwordFile))
      rmSync(passwordFile)
      await assert.rejects(openRepository({ env, noCache: true }, true), (err) => isAppError(err, 'NO_PASSWORD') && /password file of the default repository, ".*", is missing/.test(err.message))
      assert.equal(existsSync(passwordFile), false)
      await assert.rejects(initRepository({ env, noCache: true }), (err) => isAppError(err, 'NO_PASSWORD'))
      assert.equal(existsSync(passwordFile), false, 'init of the existing repository made none either')
    } finally {
      rmSync(home, { recursive: true, force: true })
    }
  })
})

describe('--no-lock', () => {
  it('is ignored by commands that change the repository: a backup or prune still meets a lock, a read does not', async () => {
    // backup and prune ran with no lock at all, and prune deleted the packs of a running backup.
    const tmp = await tempDir('no-lock')
    try {
      const repo = join(tmp.path, 'repo')
      await initRepo(repo)
      writeFileSync(join(tmp.path, 'f.txt'), 'f\n')
      await withRepo(repo, async (r) => {
        await r.saveUnpacked('locks', encodeLock({ ...newLockInfo(true), hostname: 'elsewhere.example', pid: 4242 }))
      })
      for (const args of [['backup', join(tmp.path, 'f.txt')], ['prune'], ['tag', '--add', 'x'], ['key', 'add', '--new-password-file', '/dev/null']]) {
        const r = await cairn(repo, ['--no-lock', ...args], { CAIRN_PASSWORD: PASSWORD })
        assert.equal(r.code, 11, `${args[0]}: ${r.stderr}`)
        assert.match(r.stderr, /already locked exclusively by PID 4242 on elsewhere\.example/)
      }
      const read = await cairn(repo, ['--no-lock', 'snapshots'], { CAIRN_PASSWORD: PASSWORD })
      assert.equal(read.code, 0, read.stderr)
      const dry = await cairn(repo, ['--no-lock', 'prune', '--dry-run'], { CAIRN_PASSWORD: PASSWORD })
      assert.equal(dry.code, 0, dry.stderr)
    } finally {
      await tmp.remove()
    }
  })
})
