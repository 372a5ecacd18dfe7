/**
 * `cairn serve rest` as a user runs it: managing users, the printed address, the JSON access
 * log, SIGHUP reloads, startup errors, and SIGTERM during an upload (it finishes, exit 0).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { existsSync } from 'node:fs'
import { readFile, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { cairnBin, collect, makeTempRoot, needs, waitUntil, type TempRoot } from '../../test/helpers/index.js'
import { parseHtpasswd } from './auth/htpasswd.js'
import { verifyPassword } from './auth/password-hash.js'
import { loadUsersFile } from './auth/users-file.js'
import { basic, idOf, quickHash, rawRequest, spawnServer } from './testing.js'

const FIXED_TIME = new Date('2026-01-02T03:04:05Z')

const skip = await needs('cairn')
let tmp: TempRoot
before(async () => {
  tmp = await makeTempRoot('server-cli')
})
after(() => tmp?.cleanup())

function serve(args: string[], input?: string) {
  const child = spawn(process.execPath, [cairnBin, 'serve', 'rest', ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  return collect(child, { input, timeoutMs: 60_000 })
}

test('--create-user, --list-users and --delete-user manage a users file (bcrypt, mode 0600)', { skip }, async () => {
  const file = join(tmp.path, 'users.yaml')
  const add = await serve(['--users-file', file, '--create-user', 'alice', '--access', 'read-only', '--quota', '1G', '--allow-repo', 'alice', '--allow-repo', 'shared/photos'], 'alice secret\n')
  assert.equal(add.code, 0, add.stderr)
  assert.match(add.stdout, /added user "alice"/)
  assert.equal((await stat(file)).mode & 0o777, 0o600)
  const users = await loadUsersFile(file)
  const alice = users.get('alice')!
  assert.match(alice.passwordHash, /^\$2[aby]\$10\$/)
  assert.equal(await verifyPassword(alice.passwordHash, 'alice secret'), true)
  assert.equal(alice.access, 'read-only')
  assert.equal(alice.quota, 1024 ** 3)
  assert.deepEqual(alice.repos, [['alice'], ['shared', 'photos']])
  assert.equal((await serve(['--users-file', file, '--create-user', 'bob'], 'bob pw\n')).code, 0)
  const list = await serve(['--users-file', file, '--list-users'])
  assert.equal(list.code, 0, list.stderr)
  assert.match(list.stdout, /^alice\tread-only\tquota 1073741824\trepos \/alice,\/shared\/photos$/m)
  assert.match(list.stdout, /^bob\tfull$/m)
  assert.equal((await serve(['--users-file', file, '--delete-user', 'bob'])).code, 0)
  const again = await serve(['--users-file', file, '--delete-user', 'bob'])
  assert.equal(again.code, 1)
  assert.match(again.stderr, /User "bob" is not in/)
  const bad = await serve(['--users-file', file, '--create-user', 'carol', '--access', 'admin'], 'x\n')
  assert.equal(bad.code, 1)
  assert.match(bad.stderr, /Invalid access level "admin"/)
  const empty = await serve(['--users-file', file, '--create-user', 'dave'], '')
  assert.equal(empty.code, 1)
  assert.match(empty.stderr, /No password for user "dave" given/)
})

test('--create-user without a users file adds a bcrypt line to <path>/.htpasswd, which the server then accepts', { skip }, async () => {
  // The first user of a new server: --path is created (mode 0700) as the server creates it; it
  // failed with ENOENT before.
  const root = join(await tmp.dir('htpasswd-served'), 'new', 'repos')
  const add = await serve(['--path', root, '--create-user', 'eve'], 'eve pw\n')
  assert.equal(add.code, 0, add.stderr)
  assert.equal((await stat(root)).mode & 0o777, 0o700)
  const users = parseHtpasswd(await readFile(join(root, '.htpasswd'), 'utf8')).users
  assert.ok(users.has('eve'))
  const refused = await serve(['--path', root, '--create-user', 'eve', '--quota', '1G'], 'x\n')
  assert.match(refused.stderr, /need a users file/)
  const server = await spawnServer(['--path', root, '--listen', '127.0.0.1:0'])
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
    assert.equal((await rawRequest(server.url, 'POST', '/eve/?create=true', { headers: { Authorization: basic('eve', 'eve pw') } })).status, 200)
  } finally {
    const r = await server.stop()
    assert.equal(r.code, 0, r.stderr)
  }
})

test('a missing htpasswd file stops the server at startup with exit 1 and a hint about --no-auth', { skip }, async () => {
  const root = await tmp.dir('no-credentials')
  const r = await serve(['--path', root, '--listen', '127.0.0.1:0'])
  assert.equal(r.code, 1)
  assert.match(r.stderr, /Fatal: Cannot load htpasswd file ".*\.htpasswd": it does not exist .*--no-auth/)
})

test('SIGTERM during an upload: the upload finishes with 200 and is stored, the access log is complete, exit 0', { skip }, async () => {
  const root = await tmp.dir('sigterm')
  const log = join(tmp.path, 'access.log')
  const server = await spawnServer(['--path', root, '--no-auth', '--listen', '127.0.0.1:0', '--log', log])
  assert.equal((await rawRequest(server.url, 'POST', '/r/?create=true')).status, 200)
  const body = Buffer.alloc(3 * 1024 * 1024, 5)
  const u = new URL(server.url)
  const socket = connect(Number(u.port), u.hostname)
  let response = ''
  socket.on('data', (c: Buffer) => (response += c.toString('latin1')))
  const closed = new Promise<void>((res) => socket.on('close', () => res()))
  await new Promise<void>((res) => socket.on('connect', () => res()))
  socket.write(`POST /r/data/${idOf(body)} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`)
  socket.write(body.subarray(0, 1024 * 1024))
  // The upload is in flight (/health counts the others), then the server has taken SIGTERM.
  const inFlight = () => rawRequest(server.url, 'GET', '/health').then((r) => (JSON.parse(r.body.toString()) as { inFlight: number }).inFlight)
  await waitUntil(async () => (await inFlight()) === 1, 30_000, 'the upload to be in flight')
  await server.signal('SIGTERM')
  await waitUntil(() => server.output().stderr.includes('SIGTERM received'), 30_000, 'the server to take SIGTERM')
  socket.write(body.subarray(1024 * 1024))
  await closed
  const result = await server.exited()
  assert.match(response, /^HTTP\/1\.1 200 /)
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stderr, /SIGTERM received, finishing 1 requests in flight/)
  assert.match(result.stderr, /stopped/)
  assert.deepEqual(await readFile(join(root, 'r', 'data', idOf(body).slice(0, 2), idOf(body))), body)
  const lines = (await readFile(log, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { method: string; status: number; bytesIn: number; path: string })
    .filter((l) => l.path !== '/health')
  assert.equal(lines.length, 2)
  assert.deepEqual(
    lines.map((l) => [l.method, l.status, l.bytesIn]),
    [
      ['POST', 200, 0],
      ['POST', 200, body.length],
    ],
  )
})

test('an upload the client gives up half-way is logged as such (499, the reason, its address), not as a 200', { skip }, async () => {
  const root = await tmp.dir('aborted')
  const log = join(tmp.path, 'aborted.log')
  const server = await spawnServer(['--path', root, '--no-auth', '--listen', '127.0.0.1:0', '--log', log])
  try {
    assert.equal((await rawRequest(server.url, 'POST', '/r/?create=true')).status, 200)
    const body = Buffer.alloc(2 * 1024 * 1024, 7)
    const u = new URL(server.url)
    const socket = connect(Number(u.port), u.hostname)
    await new Promise<void>((res) => socket.on('connect', () => res()))
    socket.write(`POST /r/data/${idOf(body)} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`)
    socket.write(body.subarray(0, 512 * 1024))
    await new Promise((r) => setTimeout(r, 200))
    socket.destroy()
    const entry = async () =>
      (await readFile(log, 'utf8').catch(() => ''))
        .trim()
        .split('\n')
        .filter((l) => l.includes('/r/data/'))
        .map((l) => JSON.parse(l) as { status: number; error?: string; remote: string })[0]
    await waitUntil(async () => (await entry()) !== undefined, 30_000, 'the log line of the upload')
    const e = (await entry())!
    assert.equal(e.status, 499)
    assert.match(e.error ?? '', /closed the connection before the response was complete/)
    assert.equal(e.remote, '127.0.0.1')
    assert.equal((await rawRequest(server.url, 'HEAD', `/r/data/${idOf(body)}`)).status, 404, 'nothing stored')
  } finally {
    await server.stop()
  }
})

test('an upload followed by bytes that do not parse ends: it no longer stays in flight for ever', { skip }, async () => {
  // Node closed the connection while the login was checked, before the body was read: no event
  // came, the request stayed in flight, and every shutdown waited out its timeout.
  const root = await tmp.dir('junk-after-body')
  await writeFile(join(root, '.htpasswd'), `carol:${quickHash('pw')}\n`)
  const server = await spawnServer(['--path', root, '--listen', '127.0.0.1:0'])
  try {
    assert.equal((await rawRequest(server.url, 'POST', '/carol/?create=true', { headers: { Authorization: basic('carol', 'pw') } })).status, 200)
    const u = new URL(server.url)
    const socket = connect(Number(u.port), u.hostname)
    await new Promise<void>((res) => socket.on('connect', () => res()))
    socket.write(`POST /carol/data/${'a'.repeat(64)} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic('carol', 'pw')}\r\nContent-Length: 10\r\n\r\nhello world and more`)
    await new Promise<void>((res) => socket.on('close', () => res()).resume())
    const inFlight = () => rawRequest(server.url, 'GET', '/health').then((r) => (JSON.parse(r.body.toString()) as { inFlight: number }).inFlight)
    await waitUntil(async () => (await inFlight()) === 0, 10_000, 'the broken upload to end')
  } finally {
    await server.stop()
  }
})

test('SIGHUP reloads the credentials even when the file looks unchanged', { skip }, async () => {
  const root = await tmp.dir('sighup')
  const file = join(root, '.htpasswd')
  await writeFile(file, `aaa:${quickHash('pw')}\n`)
  await utimes(file, FIXED_TIME, FIXED_TIME)
  const server = await spawnServer(['--path', root, '--listen', '127.0.0.1:0', '--json'])
  try {
    const status = (user: string) => rawRequest(server.url, 'GET', '/data/', { headers: { Authorization: basic(user, 'pw') } }).then((r) => r.status)
    assert.equal(await status('aaa'), 200)
    const text = await readFile(file, 'utf8')
    await writeFile(file, text.replace(/^aaa:/, 'bbb:'))
    // The same whole-second mtime as when the server read it (a Date from stat() would lose
    // the sub-millisecond part, and the file would look changed).
    await utimes(file, FIXED_TIME, FIXED_TIME)
    assert.equal(await status('bbb'), 401, 'same size and mtime: not noticed without SIGHUP')
    await server.signal('SIGHUP')
    await waitUntil(async () => (await status('bbb')) === 200, 30_000, 'SIGHUP to reload the credentials')
    assert.equal(await status('aaa'), 401)
    assert.equal(server.child.exitCode, null, 'SIGHUP does not stop the server')
  } finally {
    const r = await server.stop()
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^\{"message_type":"listening","url":"http:\/\/127\.0\.0\.1:\d+\/","location":".*sighup"\}$/m)
  }
})

test('an access log that cannot be written is told once and the server goes on; one that cannot be opened is an error before it starts', { skip: skip || !existsSync('/dev/full') }, async () => {
  // A full disk under the log (here /dev/full) ended the server with exit 1, cutting uploads.
  const root = await tmp.dir('log-full')
  const server = await spawnServer(['--path', root, '--no-auth', '--listen', '127.0.0.1:0', '--log', '/dev/full'])
  try {
    for (let i = 0; i < 3; i++) assert.equal((await rawRequest(server.url, 'POST', `/r${i}/?create=true`)).status, 200)
    await waitUntil(() => server.output().stderr.includes('cannot be written'), 10_000, 'the warning')
    assert.equal(server.output().stderr.split('cannot be written').length - 1, 1, 'told once')
    assert.equal((await rawRequest(server.url, 'GET', '/health')).status, 200, 'still serving')
  } finally {
    await server.signal('SIGTERM')
    await server.exited()
  }
  const bad = await serve(['--path', root, '--no-auth', '--listen', '127.0.0.1:0', '--log', join(root, 'no', 'such', 'dir', 'access.log')])
  assert.equal(bad.code, 1)
  assert.match(bad.stderr, /Cannot open the access log ".*access\.log": .*no such file/i)
  assert.doesNotMatch(bad.stderr, /    at /, 'no stack trace')
})
