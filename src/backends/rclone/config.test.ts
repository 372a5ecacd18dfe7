import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../../base/index.js'
import { parseGoDuration, rcloneConfig, splitWords } from './config.js'

describe('rcloneConfig()', () => {
  it('builds restic\'s default command: rclone serve restic --stdio --b2-hard-delete REMOTE, 1 minute, 5 connections', () => {
    assert.deepEqual(rcloneConfig('b2:bucket/repo', undefined), {
      program: 'rclone',
      args: ['serve', 'restic', '--stdio', '--b2-hard-delete', 'b2:bucket/repo'],
      timeoutMs: 60_000,
      connections: 5,
    })
  })

  it('lets -o rclone.args replace the default arguments and rclone.program carry words of its own', () => {
    const c = rcloneConfig('remote:path', {
      'rclone.program': 'ssh backup-host "/opt/rclone dir/rclone"',
      'rclone.args': 'serve restic --stdio -v',
      'rclone.timeout': '1m30s',
      'rclone.connections': '8',
      'rest.connections': '2',
    })
    assert.deepEqual(c, { program: 'ssh', args: ['backup-host', '/opt/rclone dir/rclone', 'serve', 'restic', '--stdio', '-v', 'remote:path'], timeoutMs: 90_000, connections: 8 })
  })

  it('refuses unknown or malformed rclone options, naming them', () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ 'rclone.timeout': 'soon' }, /^Invalid option "-o rclone.timeout=soon": expected a duration/],
      [{ 'rclone.timeout': '0' }, /^Invalid option "-o rclone.timeout=0"/],
      [{ 'rclone.connections': '-1' }, /^Invalid option "-o rclone.connections=-1": expected a whole number/],
      [{ 'rclone.program': '' }, /^Invalid option "-o rclone.program="/],
      [{ 'rclone.program': '   ' }, /^Invalid option "-o rclone.program=   ": expected a program/],
      [{ 'rclone.args': 'serve "restic' }, /^Invalid option "-o rclone.args=serve "restic": a double-quoted string is not closed/],
      [{ 'rclone.arg': 'x' }, /^Unknown option "-o rclone.arg"/],
    ]
    for (const [extended, message] of bad) {
      assert.throws(() => rcloneConfig('r:p', extended), (err: unknown) => isAppError(err, 'INVALID_ARGUMENT') && message.test(err.message), JSON.stringify(extended))
    }
  })
})

describe('splitWords()', () => {
  it('splits on blanks and honours quotes and backslashes as a shell does', () => {
    const cases: [string, string[]][] = [
      ['serve restic --stdio', ['serve', 'restic', '--stdio']],
      ['  a\t b\n', ['a', 'b']],
      [`--config "/my dir/rclone.conf"`, ['--config', '/my dir/rclone.conf']],
      [`'it''s' x`, ['its', 'x']],
      [`"a \\"quoted\\" word"`, ['a "quoted" word']],
      [`'no \\escape'`, ['no \\escape']],
      [`a\\ b c`, ['a b', 'c']],
      [`pre"mid dle"post`, ['premid dlepost']],
      [`"" x`, ['', 'x']],
      ['', []],
    ]
    for (const [input, words] of cases) assert.deepEqual(splitWords(input, 'rclone.args'), words, input)
  })

  it('refuses an unclosed quote', () => {
    assert.throws(() => splitWords("serve 'restic", 'rclone.args'), /single-quoted string is not closed/)
  })
})

describe('parseGoDuration()', () => {
  it('reads Go durations in milliseconds', () => {
    const cases: [string, number | undefined][] = [
      ['1m', 60_000],
      ['30s', 30_000],
      ['1h30m', 5_400_000],
      ['1.5s', 1500],
      ['500ms', 500],
      ['0', 0],
      ['2m3s4ms', 123_004],
      ['', undefined],
      ['10', undefined],
      ['1 m', undefined],
      ['1d', undefined],
      ['m', undefined],
    ]
    for (const [input, ms] of cases) assert.equal(parseGoDuration(input), ms, input)
  })
})
