import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { lstat, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { basicCredentials } from '../rest/rest-handler.js'
import { closedRange } from '../rest/range.js'
import { parseByteSize } from '../size.js'
import { listen, parseListenAddress } from './listen.js'

test('parseListenAddress() takes rest-server\'s --listen forms and refuses others', () => {
  assert.deepEqual(parseListenAddress(':8000'), { kind: 'tcp', port: 8000 })
  assert.deepEqual(parseListenAddress('127.0.0.1:0'), { kind: 'tcp', host: '127.0.0.1', port: 0 })
  assert.deepEqual(parseListenAddress('[::1]:8443'), { kind: 'tcp', host: '::1', port: 8443 })
  assert.deepEqual(parseListenAddress('backup.lan:8000'), { kind: 'tcp', host: 'backup.lan', port: 8000 })
  assert.deepEqual(parseListenAddress('unix:/run/cairn.sock'), { kind: 'unix', path: '/run/cairn.sock' })
  for (const bad of ['8000', 'host', ':70000', '::1:80', 'unix:', 'host:port']) assert.throws(() => parseListenAddress(bad), /Invalid listen address/, bad)
})

test('parseByteSize() takes bytes and binary units, and names a bad value', () => {
  assert.equal(parseByteSize('1073741824'), 1073741824)
  assert.equal(parseByteSize(5000), 5000)
  assert.equal(parseByteSize('500M'), 500 * 1024 ** 2)
  assert.equal(parseByteSize('10GiB'), 10 * 1024 ** 3)
  assert.equal(parseByteSize('1.5t'), 1.5 * 1024 ** 4)
  assert.equal(parseByteSize('2 KB'), 2048)
  for (const bad of ['', 'lots', '-1', '5X', '1e3']) assert.throws(() => parseByteSize(bad), /Invalid size/, bad)
  assert.throws(() => parseByteSize(-1), /Invalid size/)
})

test('closedRange() picks out restic\'s bytes=a-b reads only', () => {
  assert.deepEqual(closedRange('bytes=0-99'), { start: 0, end: 99 })
  for (const h of [undefined, 'bytes=0-', 'bytes=-5', 'bytes=5-1', 'bytes=0-1,3-4', 'items=0-1']) assert.equal(closedRange(h), undefined, String(h))
})

test('basicCredentials() decodes HTTP Basic auth, keeping colons in the password', () => {
  const h = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`
  assert.deepEqual(basicCredentials(h('alice:pa:ss')), { user: 'alice', password: 'pa:ss' })
  assert.deepEqual(basicCredentials(h('jürgen:ö')), { user: 'jürgen', password: 'ö' })
  assert.deepEqual(basicCredentials(`basic  ${Buffer.from('a:b').toString('base64')}`), { user: 'a', password: 'b' })
  for (const bad of [undefined, 'Bearer x', 'Basic', h('no-colon'), 'Basic ###']) assert.equal(basicCredentials(bad), undefined, String(bad))
})

test('listen() on a Unix socket takes over a socket file a killed server left, and leaves one a live server holds', async () => {
  // A socket file left by kill -9 blocked every restart ("another process uses this address").
  const dir = await mkdtemp(join(tmpdir(), 'cairn-listen-'))
  try {
    const path = join(dir, 'cairn.sock')
    const handler = (_req: unknown, res: { end(t: string): void }) => res.end('ok')
    // A socket file nobody listens on: a server in a child process, killed without cleanup.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`])
    await new Promise((r) => child.on('exit', r))
    assert.ok((await lstat(path)).isSocket(), 'setup: a stale socket file')
    const first = await listen(handler as never, { kind: 'unix', path })
    try {
      await assert.rejects(listen(handler as never, { kind: 'unix', path }), (err: Error) => /Cannot listen on "unix:.*": EADDRINUSE/.test(err.message) && /Another server answers on this socket/.test((err as { hint?: string }).hint ?? ''))
    } finally {
      await new Promise((r) => first.server.close(r))
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
