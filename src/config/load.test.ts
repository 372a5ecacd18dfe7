import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { isAppError } from '../base/index.js'
import { ConfigError, formatIssue, inspectConfig, loadConfig, parseConfig, starterConfig } from './index.js'
import { formatKeyPath } from './locate.js'
import { BAD_EXAMPLE, BAD_EXAMPLE_MISTAKES, ISSUE_EXAMPLE } from './testing.js'

describe('inspectConfig()', () => {
  test('accepts the example of issue #7 as written', () => {
    const r = inspectConfig(ISSUE_EXAMPLE, '/etc/cairn.yaml')
    assert.deepEqual(r.issues.map(formatIssue), [])
    assert.ok(r.config)
    assert.deepEqual(Object.keys(r.config.repositories ?? {}), ['nas', 'usb', 'cloud'])
    assert.deepEqual(r.config.sets?.data?.destinations, ['nas', 'usb', 'cloud'])
    assert.deepEqual(r.config.repositories?.cloud?.env, { AWS_ACCESS_KEY_ID: '...', AWS_SECRET_ACCESS_KEY: '...' })
    assert.deepEqual(r.config.sets?.data?.retention, { usb: { 'keep-last': 5 } })
  })

  test('accepts the starter file of "config init" without a warning', () => {
    const r = inspectConfig(starterConfig(), '/home/me/.config/cairn/cairn.yaml')
    assert.deepEqual(r.issues.map(formatIssue), [])
    assert.deepEqual(Object.keys(r.config?.sets ?? {}), ['home', 'config'])
  })

  test('reports every mistake of a malformed file with its line, key path and a fix', () => {
    const r = inspectConfig(BAD_EXAMPLE, 'bad.yaml')
    assert.equal(r.config, undefined)
    const errors = r.issues.filter((i) => i.severity === 'error')
    for (const [line, key, pattern] of BAD_EXAMPLE_MISTAKES) {
      const found = errors.find((i) => i.position?.line === line && formatKeyPath(i.path) === key)
      assert.ok(found, `no error for ${key} on line ${line}; got:\n${errors.map(formatIssue).join('\n')}`)
      assert.match(formatIssue(found), pattern)
      assert.match(formatIssue(found), new RegExp(`^bad\\.yaml:${line}:\\d+: `))
    }
    assert.equal(errors.length, BAD_EXAMPLE_MISTAKES.length, errors.map(formatIssue).join('\n'))
  })

  test('reads JSON, with lines', () => {
    const json = '{\n  "repositories": { "a": { "url": "/r", "password-env": "PW" } },\n  "sets": {\n    "s": { "sources": ["/x"], "destinations": ["b"] }\n  }\n}\n'
    const r = inspectConfig(json, 'c.json')
    assert.deepEqual(
      r.issues.map((i) => [i.position?.line, formatKeyPath(i.path)]),
      [[4, 'sets.s.destinations[0]']],
    )
    assert.ok(inspectConfig(json.replace('"b"', '"a"'), 'c.json').config)
  })

  test('reports YAML syntax errors with their line', () => {
    const r = inspectConfig('sets:\n  a:\n    sources: [/x\n  b: 1\n', 'broken.yaml')
    assert.equal(r.config, undefined)
    assert.ok(r.issues.length > 0)
    assert.match(formatIssue(r.issues[0]), /^broken\.yaml:\d+:\d+: not valid YAML: /)
    // A key given twice is named, with a hint that fits (it said "Map keys must be unique" and to check the indentation).
    const dup = inspectConfig('sets: {}\nsets: {}\n', 'dup.yaml')
    assert.equal(formatIssue(dup.issues[0]), 'dup.yaml:2:1: not valid YAML: the key "sets" is given twice in the same map\n    A map holds each key once: merge the two into one, or rename one of them')
    const nested = inspectConfig('sets:\n  s1: { sources: [/a] }\n  "s1": { sources: [/b] }\n', 'dup.yaml')
    assert.match(formatIssue(nested.issues[0]), /^dup\.yaml:3:3: not valid YAML: the key "s1" is given twice in the same map/)
  })

  test('a notification of an unknown type gets the list of types and a suggestion', () => {
    const r = inspectConfig('notifications:\n  - type: ntfyy\n    url: https://ntfy.sh/x\n  - url: https://example.com\n', 't.yaml')
    const errors = r.issues.filter((i) => i.severity === 'error').map(formatIssue)
    const types = 'ntfy, gotify, discord, slack, healthchecks, webhook, email, command'
    assert.deepEqual(errors, [
      `t.yaml:2:5: notifications[0].type: the text "ntfyy" is not a valid type\n    Did you mean "ntfy"? Use one of: ${types}`,
      `t.yaml:4:5: notifications[1].type: "type" is required\n    Use one of: ${types}`,
    ])
  })

  test("refuses a set tag that starts with cairn's own cairn-set: prefix", () => {
    // Another set's retention removed the snapshots of a set that carried its tag.
    const text = 'repositories:\n  r1: { url: /r, password-env: P }\nsets:\n  s2: { sources: [/a], destinations: [r1] }\n  t:\n    sources: [/a]\n    destinations: [r1]\n    tags: [mine, "cairn-set:s2"]\n'
    const errors = inspectConfig(text, 't.yaml').issues.filter((i) => i.severity === 'error').map(formatIssue)
    assert.equal(errors.length, 1, errors.join('\n'))
    assert.match(errors[0], /^t\.yaml:8:\d+: sets\.t\.tags\[1\]: tag "cairn-set:s2" is reserved/)
  })

  test('names the missing key and where it belongs', () => {
    const r = inspectConfig('repositories:\n  a:\n    password-env: X\n', 'm.yaml')
    assert.deepEqual(r.issues.map(formatIssue), [
      'm.yaml:1:1: warning: no backup sets are defined\n    Add a "sets:" section; see "cairn config init" for a starting point',
      'm.yaml:2:3: repositories.a.url: "url" is required\n    Add "url:" with text',
    ])
  })

  test('suggests sources belong in sets when found in defaults, and refuses bad names', () => {
    const r = inspectConfig('defaults:\n  sources: [/x]\nrepositories:\n  "my nas": { url: /r, password-env: P }\n', 'n.yaml')
    const text = r.issues.map(formatIssue).join('\n')
    assert.match(text, /n\.yaml:2:3: defaults\.sources: unknown key "sources"\n {4}Sources belong in each set/)
    assert.match(text, /n\.yaml:4:3: repositories\.my nas: invalid name "my nas"/)
  })
})

describe('parseConfig() and loadConfig()', () => {
  test('throws ConfigError (code CONFIG) listing each error', () => {
    assert.throws(
      () => parseConfig(BAD_EXAMPLE, '/x/bad.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError)
        assert.equal(err.code, 'CONFIG')
        assert.match(err.message, /^Invalid configuration "\/x\/bad\.yaml": 16 problems\n\/x\/bad\.yaml:5:5: /)
        return true
      },
    )
  })

  test('loadConfig() names a missing file and how to create one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-config-'))
    try {
      await assert.rejects(loadConfig(undefined, { HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg') }), (err: unknown) => {
        assert.ok(isAppError(err, 'CONFIG'))
        assert.equal(err.message, `No config file "${join(dir, 'xdg', 'cairn', 'cairn.yaml')}"`)
        assert.match(err.hint ?? '', /cairn config init/)
        return true
      })
      await writeFile(join(dir, 'c.yaml'), ISSUE_EXAMPLE)
      const loaded = await loadConfig(join(dir, 'c.yaml'))
      assert.equal(loaded.dir, dir)
      assert.deepEqual(loaded.issueAt(['sets', 'config', 'mode'], 'm', 'warning').position, { line: 31, column: 5 })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('YAML merge keys share one set\'s settings with another, and a mistake beside them is still placed', () => {
    // "<<" was an unknown key, and the set it should have filled had no destinations.
    const text = 'repositories:\n  r: { url: /srv/r, password-file: /etc/pw }\nsets:\n  s: &common\n    destinations: [r]\n    schedule: daily 02:30\n    sources: [/srv]\n  t:\n    <<: *common\n    sources: [/home]\n'
    const ok = inspectConfig(text, '/etc/cairn.yaml')
    assert.deepEqual(ok.issues, [])
    assert.deepEqual(ok.config?.sets?.t, { destinations: ['r'], schedule: 'daily 02:30', sources: ['/home'] })
    const bad = inspectConfig(text + '    bogus: 1\n', '/etc/cairn.yaml')
    assert.deepEqual(bad.issues.map((i) => [formatKeyPath(i.path), i.position?.line]), [['sets.t.bogus', 11]])
  })

  test('a value out of bounds gets one message in words, not zod\'s', () => {
    // "to: me" gave "Too small: expected string to have >=3 characters"; a negative hook timeout
    // gave that kind of message beside the timeout's own.
    const text = 'repositories:\n  r: { url: /srv/r, password-file: /etc/pw }\nnotifications:\n  - { type: email, host: localhost, from: a@b.c, to: me }\nsets:\n  s:\n    sources: [/srv]\n    destinations: [r]\n    hooks: { timeout: -5 }\n'
    const issues = inspectConfig(text, '/etc/cairn.yaml').issues.filter((i) => i.severity === 'error')
    assert.deepEqual(issues.map((i) => [formatKeyPath(i.path), i.message]), [
      ['notifications[0].to', 'the text "me" is too short for to: at least 3 characters'],
      ['sets.s.hooks.timeout', 'invalid timeout -5: use seconds, or a duration such as 90s, 5m or 1h30m'],
    ])
    assert.equal(issues[0].hint, 'Write an email address, such as me@example.com')
  })

  test('a jitter as long as the time between runs is an error (the daemon skipped runs quietly)', () => {
    const text = 'repositories:\n  r: { url: /srv/r, password-file: /etc/pw }\nsets:\n  s:\n    sources: [/srv]\n    destinations: [r]\n    schedule: { when: every 15m, jitter: 2h }\n  t:\n    sources: [/srv]\n    destinations: [r]\n    schedule: { when: hourly, jitter: 10m }\n'
    const issues = inspectConfig(text, '/etc/cairn.yaml').issues.filter((i) => i.severity === 'error')
    assert.deepEqual(issues.map((i) => [formatKeyPath(i.path), i.position?.line, i.message]), [
      ['sets.s.schedule.jitter', 7, 'jitter 2h is not shorter than the time between two runs of "every 15m" (15m): runs would be skipped'],
    ])
    assert.match(issues[0].hint ?? '', /a third of it/)
  })

  test('loadConfig() refuses a path naming an environment variable that is not set, as "config check" reports it', async () => {
    // "cairn run --init" created a repository in a folder named "${BACKUP_DISK}" beside the file.
    const dir = await mkdtemp(join(tmpdir(), 'cairn-config-'))
    try {
      const text = 'repositories:\n  r: { url: "${BACKUP_DISK}/cairn", password-file: /etc/pw }\nsets:\n  s:\n    sources: [/srv, "$DATA/x"]\n    destinations: [r]\n'
      await writeFile(join(dir, 'c.yaml'), text)
      await assert.rejects(loadConfig(join(dir, 'c.yaml'), { HOME: dir }), (err: unknown) => {
        assert.ok(err instanceof ConfigError)
        assert.deepEqual(err.issues.map((i) => `${i.position?.line}: ${i.message}`), [
          '2: environment variable $BACKUP_DISK in "${BACKUP_DISK}/cairn" is not set here',
          '5: environment variable $DATA in "$DATA/x" is not set here',
        ])
        return true
      })
      const loaded = await loadConfig(join(dir, 'c.yaml'), { HOME: dir, BACKUP_DISK: '/media/usb', DATA: '/data' })
      assert.deepEqual(loaded.config.sets?.s.sources, ['/srv', '$DATA/x'])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
