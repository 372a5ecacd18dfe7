/**
 * The server around the protocol: startup checks, /health, /metrics, the access log, credential
 * reloads, serving a non-local backend, and graceful shutdown that finishes uploads in flight.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { readFile, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { makeTempRoot, type TempRoot } from '../../test/helpers/index.js'
import type { AccessLogEntry } from './http/exchange.js'
import { basic, idOf, quickHash, rawRequest, shaHash, startTestServer } from './testing.js'

let tmp: TempRoot
before(async () => {
  tmp = await makeTempRoot('server-lifecycle')
})
after(() => tmp?.cleanup())

test('startRestServer() refuses to start without credentials, naming the file and --no-auth', async () => {
  const root = await tmp.dir('no-htpasswd')
  await assert.rejects(startTestServer({ path: root }), (err: Error) => {
    assert.match(err.message, /htpasswd file ".*no-htpasswd\/\.htpasswd": it does not exist.*--no-auth/)
    return true
  })
  await assert.rejects(startTestServer({ path: root, noAuth: true, listen: 'nonsense' }), /Invalid listen address "nonsense"/)
  // Both files missing: the certificate is named, every time (they were once read at once, and
  // whichever read failed first was reported).
  for (let i = 0; i < 5; i++) {
    await assert.rejects(startTestServer({ path: root, noAuth: true, tls: true }), /Cannot read the TLS certificate ".*public_key"/)
  }
  await writeFile(join(root, 'public_key'), 'not checked before the key is read\n')
  await assert.rejects(startTestServer({ path: root, noAuth: true, tls: true }), /Cannot read the TLS key ".*private_key"/)
})

test('startRestServer() refuses --no-auth with options that only mean something with logins, and never shows a backend\'s password', async () => {
  // --private-repos, --htpasswd-file and --users-file were silently off: every repository open to all.
  const root = await tmp.dir('no-auth-conflicts')
  for (const extra of [{ privateRepos: true }, { htpasswdFile: join(root, '.htpasswd') }, { usersFile: join(root, 'users.yaml') }]) {
    const started = await startTestServer({ path: root, noAuth: true, ...extra }).catch((err: unknown) => err as Error)
    if (!(started instanceof Error)) {
      await started.close()
      assert.fail(`started with ${JSON.stringify(extra)}`)
    }
    assert.match(started.message, /--no-auth turns logins off, so --(private-repos|htpasswd-file|users-file) would do nothing/)
  }
  const server = await startTestServer({ backend: 'rest:http://someone:s3cret-pw@127.0.0.1:1/base', noAuth: true })
  try {
    assert.ok(!server.location.includes('s3cret-pw'), server.location)
  } finally {
    await server.close()
  }
})

test('/health answers 200 JSON without credentials; /metrics needs them unless --prometheus-no-auth', async () => {
  const root = await tmp.dir('health')
  await writeFile(join(root, '.htpasswd'), `u:${shaHash('pw')}\n`)
  const server = await startTestServer({ path: root, prometheus: true })
  try {
    const health = await rawRequest(server.url, 'GET', '/health')
    assert.equal(health.status, 200)
    assert.equal(health.headers['content-type'], 'application/json')
    assert.equal((JSON.parse(health.body.toString()) as { status: string }).status, 'ok')
    assert.equal((await rawRequest(server.url, 'POST', '/health')).status, 405)
    assert.equal((await rawRequest(server.url, 'GET', '/metrics')).status, 401)
    const h = { Authorization: basic('u', 'pw') }
    assert.equal((await rawRequest(server.url, 'POST', '/r/?create=true', { headers: h })).status, 200)
    const data = Buffer.alloc(300, 3)
    assert.equal((await rawRequest(server.url, 'POST', `/r/data/${idOf(data)}`, { headers: h, body: data })).status, 200)
    assert.equal((await rawRequest(server.url, 'GET', `/r/data/${idOf(data)}`, { headers: { ...h, Range: 'bytes=0-99' } })).status, 206)
    assert.equal((await rawRequest(server.url, 'DELETE', `/r/data/${idOf(data)}`, { headers: h })).status, 200)
    const m = await rawRequest(server.url, 'GET', '/metrics', { headers: h })
    assert.equal(m.status, 200)
    assert.match(m.headers['content-type'], /^text\/plain; version=0\.0\.4/)
    const text = m.body.toString()
    for (const line of [
      'rest_server_blob_write_total{user="u",repo="r",type="data"} 1',
      'rest_server_blob_write_bytes_total{user="u",repo="r",type="data"} 300',
      'rest_server_blob_read_total{user="u",repo="r",type="data"} 1',
      'rest_server_blob_read_bytes_total{user="u",repo="r",type="data"} 100',
      'rest_server_blob_delete_total{user="u",repo="r",type="data"} 1',
      'rest_server_blob_delete_bytes_total{user="u",repo="r",type="data"} 300',
      '# TYPE cairn_rest_request_duration_seconds histogram',
    ]) {
      assert.ok(text.includes(line), `missing ${line}\n${text}`)
    }
    assert.match(text, /cairn_rest_request_duration_seconds_count\{method="POST",code="200"\} 2/)
    assert.match(text, /cairn_rest_request_duration_seconds_bucket\{method="GET",code="401",le="\+Inf"\} 1/)
  } finally {
    await server.close()
  }
  const open = await startTestServer({ path: root, prometheus: true, prometheusNoAuth: true })
  try {
    assert.equal((await rawRequest(open.url, 'GET', '/metrics')).status, 200)
    assert.equal((await rawRequest(open.url, 'GET', '/r/data/')).status, 401, 'only /metrics is open')
  } finally {
    await open.close()
  }
})

test('the access log has one structured entry per request, with the user and never the password', async () => {
  const root = await tmp.dir('log')
  await writeFile(join(root, '.htpasswd'), `logger:${shaHash('s3cret-pw')}\n`)
  const entries: AccessLogEntry[] = []
  const server = await startTestServer({ path: root, onAccess: (e) => entries.push(e) })
  try {
    await rawRequest(server.url, 'POST', '/l/?create=true', { headers: { Authorization: basic('logger', 's3cret-pw'), 'User-Agent': 'restic/0.14.0' } })
    await rawRequest(server.url, 'GET', '/l/keys/', { headers: { Authorization: basic('logger', 'wrong-pw') } })
    await rawRequest(server.url, 'GET', '/../etc/passwd')
  } finally {
    await server.close()
  }
  assert.equal(entries.length, 3)
  assert.equal(entries[0].method, 'POST')
  assert.equal(entries[0].path, '/l/?create=true')
  assert.equal(entries[0].status, 200)
  assert.equal(entries[0].user, 'logger')
  assert.equal(entries[0].repo, 'l')
  assert.equal(entries[0].userAgent, 'restic/0.14.0')
  assert.equal(entries[0].remote, '127.0.0.1')
  assert.ok(entries[0].durationMs >= 0 && entries[0].durationMs < 10_000)
  assert.match(entries[0].time, /^\d{4}-\d\d-\d\dT/)
  assert.equal(entries[1].status, 401)
  assert.equal(entries[1].user, '')
  assert.match(entries[1].error ?? '', /login failed for user "logger"/)
  assert.equal(entries[2].status, 401)
  const all = JSON.stringify(entries)
  assert.ok(!all.includes('s3cret-pw') && !all.includes('wrong-pw'))
})

test('a changed htpasswd file is picked up without a restart (mtime/size check), and reloadCredentials() forces it', async () => {
  const root = await tmp.dir('reload')
  const file = join(root, '.htpasswd')
  await writeFile(file, `old:${quickHash('pw-old')}\n`)
  const server = await startTestServer({ path: root, reloadCheckMs: 50 })
  try {
    const status = (user: string, pw: string) => rawRequest(server.url, 'GET', '/data/', { headers: { Authorization: basic(user, pw) } }).then((r) => r.status)
    assert.equal(await status('old', 'pw-old'), 200)
    assert.equal(await status('new', 'pw-new'), 401)
    await writeFile(file, `new:${quickHash('pw-new', '$2y$')}\n`)
    // The same size as before: only the mtime tells, and two writes a few ms apart can get the
    // same one from the kernel's coarse clock.
    await utimes(file, new Date(), new Date(Date.now() + 5000))
    await new Promise((r) => setTimeout(r, 120))
    assert.equal(await status('new', 'pw-new'), 200)
    assert.equal(await status('old', 'pw-old'), 401)
    // Same size and an mtime set back: only a forced reload sees it (SIGHUP in the CLI).
    const before = await readFile(file, 'utf8')
    await writeFile(file, before.replace(/^new:/, 'nex:'))
    await utimes(file, new Date(0), new Date(0))
    await server.reloadCredentials()
    assert.equal(await status('nex', 'pw-new'), 200)
  } finally {
    await server.close()
  }
})

test('--no-auth serves without credentials; --no-verify-upload stores content under any name', async () => {
  const root = await tmp.dir('no-auth')
  const server = await startTestServer({ path: root, noAuth: true, verifyUpload: false })
  try {
    assert.equal((await rawRequest(server.url, 'POST', '/?create=true')).status, 200)
    const r = await rawRequest(server.url, 'POST', `/keys/${'ab'.repeat(32)}`, { body: 'not matching' })
    assert.equal(r.status, 200)
    assert.equal(await readFile(join(root, 'keys', 'ab'.repeat(32)), 'utf8'), 'not matching')
  } finally {
    await server.close()
  }
})

test('the server fronts a non-local backend (memory:) through the same Backend interface', async () => {
  const server = await startTestServer({ backend: 'memory:server-lifecycle', noAuth: true })
  try {
    const data = Buffer.from('in memory')
    assert.equal((await rawRequest(server.url, 'POST', '/alice/?create=true')).status, 200)
    assert.equal((await rawRequest(server.url, 'POST', '/alice/config', { body: 'cfg' })).status, 200)
    assert.equal((await rawRequest(server.url, 'POST', `/alice/data/${idOf(data)}`, { body: data })).status, 200)
    assert.equal((await rawRequest(server.url, 'POST', `/alice/data/${idOf(data)}`, { body: data })).status, 403)
    const list = await rawRequest(server.url, 'GET', '/alice/data/', { headers: { Accept: 'application/vnd.x.restic.rest.v2' } })
    assert.deepEqual(JSON.parse(list.body.toString()), [{ name: idOf(data), size: data.length }])
    const part = await rawRequest(server.url, 'GET', `/alice/data/${idOf(data)}`, { headers: { Range: 'bytes=3-' } })
    assert.equal(part.body.toString(), 'memory')
    assert.equal((await rawRequest(server.url, 'GET', '/bob/data/', { headers: { Accept: 'application/vnd.x.restic.rest.v2' } })).body.toString(), '[]')
    assert.equal((await rawRequest(server.url, 'HEAD', '/bob/config')).status, 404, 'repositories are kept apart by prefix')
  } finally {
    await server.close()
  }
})

/** Opens a connection and sends the head and part of a POST body; returns a way to finish it. */
function startSlowUpload(url: string, target: string, body: Buffer) {
  const u = new URL(url)
  const s = connect(Number(u.port), u.hostname)
  let response = ''
  s.on('data', (c: Buffer) => (response += c.toString('latin1')))
  const ended = new Promise<string>((resolve) => s.on('close', () => resolve(response)))
  s.on('error', () => {})
  const opened = new Promise<void>((resolve) => s.on('connect', () => resolve()))
  const started = opened.then(
    () =>
      new Promise<void>((resolve) => {
        s.write(`POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`)
        s.write(body.subarray(0, body.length >> 1), () => resolve())
      }),
  )
  return { started, finish: () => s.write(body.subarray(body.length >> 1)), abort: () => s.destroy(), response: ended }
}

test('bodies in memory are bounded over all requests: an upload past the bound waits for one to finish, and one whose client leaves while waiting frees its place', async () => {
  // Any logged-in user's parallel uploads (or unread downloads) were held whole, without bound:
  // eight uploads of 250 MB took the server to 2.5 GB.
  const root = await tmp.dir('memory-bound')
  const server = await startTestServer({ path: root, noAuth: true, memoryBytes: 1024 * 1024, maxUploadBytes: 1024 * 1024 })
  const first = Buffer.alloc(700 * 1024, 1)
  let slow: ReturnType<typeof startSlowUpload> | undefined
  try {
    assert.equal((await rawRequest(server.url, 'POST', '/m/?create=true')).status, 200)
    slow = startSlowUpload(server.url, `/m/data/${idOf(first)}`, first)
    await slow.started
    await new Promise((r) => setTimeout(r, 100))
    // Another 700 KiB does not fit beside the first: it waits, and so does a third that gives up.
    const quitter = startSlowUpload(server.url, `/m/data/${idOf(Buffer.alloc(700 * 1024, 3))}`, Buffer.alloc(700 * 1024, 3))
    await quitter.started
    const second = Buffer.alloc(700 * 1024, 2)
    let secondDone = false
    const secondUpload = rawRequest(server.url, 'POST', `/m/data/${idOf(second)}`, { body: second }).then((r) => {
      secondDone = true
      return r
    })
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(secondDone, false, 'the second upload waits while the first holds the memory')
    quitter.abort()
    slow.finish()
    assert.equal((await secondUpload).status, 200)
    assert.equal((await rawRequest(server.url, 'GET', `/m/data/${idOf(second)}`)).body.length, second.length)
  } finally {
    await server.close()
  }
  // (Its connection stays open, kept alive, until the server closes.)
  assert.match(await slow!.response, /^HTTP\/1\.1 200 /)
})

test('close() stops accepting, lets an upload in flight finish and be stored, then resolves (not forced)', async () => {
  const root = await tmp.dir('graceful')
  const server = await startTestServer({ path: root, noAuth: true })
  assert.equal((await rawRequest(server.url, 'POST', '/g/?create=true')).status, 200)
  const body = Buffer.alloc(2 * 1024 * 1024, 9)
  const upload = startSlowUpload(server.url, `/g/data/${idOf(body)}`, body)
  await upload.started
  await new Promise((r) => setTimeout(r, 50))
  assert.equal(server.handler.inFlight, 1)
  const closing = server.close()
  await new Promise((r) => setTimeout(r, 100))
  await assert.rejects(rawRequest(server.url, 'GET', '/health'), /ECONNREFUSED/, 'no new connections once closing')
  upload.finish()
  const response = await upload.response
  assert.match(response, /^HTTP\/1\.1 200 /)
  assert.match(response, /[Cc]onnection: close/)
  assert.deepEqual(await closing, { forced: false })
  assert.deepEqual(await readFile(join(root, 'g', 'data', idOf(body).slice(0, 2), idOf(body))), body)
})

test('close() cuts requests still running after the shutdown timeout and says so', async () => {
  const root = await tmp.dir('forced')
  const server = await startTestServer({ path: root, noAuth: true, shutdownTimeoutMs: 200 })
  assert.equal((await rawRequest(server.url, 'POST', '/f/?create=true')).status, 200)
  const body = Buffer.alloc(1000, 1)
  const upload = startSlowUpload(server.url, `/f/data/${idOf(body)}`, body)
  await upload.started
  await new Promise((r) => setTimeout(r, 50))
  const t0 = Date.now()
  assert.deepEqual(await server.close(), { forced: true })
  assert.ok(Date.now() - t0 >= 150)
  assert.doesNotMatch(await upload.response, /200/)
  await assert.rejects(readFile(join(root, 'f', 'data', idOf(body).slice(0, 2), idOf(body))), /ENOENT/)
})
