import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../../base/index.js'
import { formatSftpLocation, sftpSettings, type SftpLocation } from './config.js'
import { splitShellWords } from './shell-split.js'

const loc: SftpLocation = { scheme: 'sftp', user: 'alice', host: 'nas', port: 2222, path: '/srv/repo' }
const env = { HOME: '/home/alice', USER: 'bob' }

describe('sftpSettings()', () => {
  it('uses ssh2 with restic\'s defaults when no option is given', () => {
    const s = sftpSettings(loc, { env })
    assert.equal(s.command, undefined)
    assert.equal(s.connections, 5)
    assert.equal(s.user, 'alice')
    assert.equal(s.port, 2222)
    assert.deepEqual(s.knownHostsFiles, ['/home/alice/.ssh/known_hosts', '/etc/ssh/ssh_known_hosts'])
    assert.equal(s.agentSocket, undefined)
    assert.equal(sftpSettings({ scheme: 'sftp', host: '[::1]', port: 22, path: 'r' }, { env }).host, '::1', 'IPv6 without the URL brackets')
  })

  it('takes the user from $USER, port 22, the agent socket, and cairn\'s key and known-hosts options', () => {
    const s = sftpSettings(
      { scheme: 'sftp', host: 'nas', path: 'repo' },
      { env: { ...env, SSH_AUTH_SOCK: '/tmp/agent.sock' }, extended: { 'sftp.key': '/k', 'sftp.known-hosts': '/kh', 's3.other': 'ignored' } },
    )
    assert.equal(s.user, 'bob')
    assert.equal(s.port, 22)
    assert.equal(s.agentSocket, '/tmp/agent.sock')
    assert.equal(s.keyFile, '/k')
    assert.deepEqual(s.knownHostsFiles, ['/kh'])
  })

  it('sftp.command is split into words as a shell would, without a shell', () => {
    const s = sftpSettings(loc, { env, extended: { 'sftp.command': `ssh -i '/keys/my key' -o "ProxyJump=jump host" alice@nas -s sftp` } })
    assert.deepEqual(s.command, ['ssh', '-i', '/keys/my key', '-o', 'ProxyJump=jump host', 'alice@nas', '-s', 'sftp'])
  })

  it('sftp.args builds restic\'s ssh command line around the location', () => {
    assert.deepEqual(sftpSettings(loc, { env, extended: { 'sftp.args': '-i /k -o BatchMode=yes' } }).command, [
      'ssh', 'nas', '-p', '2222', '-l', 'alice', '-i', '/k', '-o', 'BatchMode=yes', '-s', 'sftp',
    ])
    assert.deepEqual(sftpSettings({ scheme: 'sftp', host: 'nas', path: 'r' }, { env, extended: { 'sftp.args': '-v' } }).command, ['ssh', 'nas', '-v', '-s', 'sftp'])
  })

  it('rejects unknown sftp options, bad connection counts, unclosed quotes, and command with args', () => {
    const rejects = (extended: Record<string, string>, message: RegExp) =>
      assert.throws(() => sftpSettings(loc, { env, extended }), (err: unknown) => isAppError(err, 'INVALID_ARGUMENT') && message.test(err.message))
    rejects({ 'sftp.comand': 'ssh' }, /^Unknown option "-o sftp\.comand"$/)
    rejects({ 'sftp.connections': 'many' }, /^Invalid option "-o sftp\.connections=many": expected a whole number from 1 to 128$/)
    rejects({ 'sftp.connections': '0' }, /sftp\.connections=0": expected a whole number from 1 to 128/)
    rejects({ 'sftp.connections': '129' }, /sftp\.connections=129": expected a whole number from 1 to 128/)
    rejects({ 'sftp.connections': '2.5' }, /expected a whole number/)
    rejects({ 'sftp.key': ' ' }, /sftp\.key= ": the path is empty/)
    rejects({ 'sftp.command': `ssh "host` }, /Unclosed double quote/)
    rejects({ 'sftp.command': '   ' }, /the command is empty/)
    rejects({ 'sftp.command': 'ssh', 'sftp.args': '-v' }, /cannot be used together/)
  })
})

describe('formatSftpLocation()', () => {
  it('writes the short form without a port and the URL form with one', () => {
    assert.equal(formatSftpLocation({ scheme: 'sftp', user: 'a', host: 'h', path: '/srv/r' }), 'sftp:a@h:/srv/r')
    assert.equal(formatSftpLocation({ scheme: 'sftp', host: 'h', path: 'rel' }), 'sftp:h:rel')
    assert.equal(formatSftpLocation(loc), 'sftp://alice@nas:2222//srv/repo')
    assert.equal(formatSftpLocation({ scheme: 'sftp', host: 'h', port: 22, path: 'rel' }), 'sftp://h:22/rel')
    assert.equal(formatSftpLocation({ scheme: 'sftp', host: '[::1]', port: 2222, path: '/r' }), 'sftp://[::1]:2222//r')
  })
})

describe('splitShellWords()', () => {
  it('handles quotes, escapes, joined pieces and runs of blanks', () => {
    assert.deepEqual(splitShellWords(`  a  b\t'c d' "e \\"f\\" \\\\ g" h\\ i j'k'"l" ''  `), ['a', 'b', 'c d', 'e "f" \\ g', 'h i', 'jkl', ''])
    assert.deepEqual(splitShellWords(`'it''s' "$HOME"`), ['its', '$HOME'])
    assert.deepEqual(splitShellWords(''), [])
  })

  it('throws RangeError for an unclosed quote', () => {
    assert.throws(() => splitShellWords(`ssh 'host`), RangeError)
  })
})
