/**
 * The wrappers on a real remote backend: openBackend('rest:…') against `rclone serve restic`
 * (with a user and password) behind an HTTP proxy that can fail chosen requests, counts them and
 * measures how many run at once.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { hashId, isAppError } from '../../base/index.js'
import type { Backend, Handle } from '../backend.js'
import { openBackend } from '../registry.js'
import { rcloneAvailable, startRcloneServe, type RcloneServer } from '../rest/testing.js'

const USER = 'alice'
const SECRET = 'Pw-9f8e7d6c5b'

interface Proxy {
  port: number
  requests: string[]
  maxInFlight: number
  /** The next `count` requests matching `pattern` get `status` with a body that leaks the password. */
  fail(pattern: RegExp, count: number, status: number): void
  /** Each forwarded request waits this long first. */
  delayMs: number
  close(): Promise<void>
}

async function startProxy(target: URL): Promise<Proxy> {
  const faults: { pattern: RegExp; count: number; status: number }[] = []
  let inFlight = 0
  const state: Proxy = {
    port: 0,
    requests: [],
    maxInFlight: 0,
    delayMs: 0,
    fail: (pattern, count, status) => faults.push({ pattern, count, status }),
    close: async () => {},
  }
  const server = http.createServer(async (req, res) => {
    const line = `${req.method} ${req.url}`
    state.requests.push(line)
    inFlight++
    state.maxInFlight = Math.max(state.maxInFlight, inFlight)
    res.on('close', () => inFlight--)
    const fault = faults.find((f) => f.count > 0 && f.pattern.test(line))
    if (fault) {
      fault.count--
      req.resume()
      res.writeHead(fault.status, { 'content-type': 'text/plain' })
      res.end(`backend trouble for ${req.headers.authorization ?? ''} (${USER}:${SECRET})`)
      return
    }
    if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs))
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.port = (server.address() as AddressInfo).port
  state.close = () => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(() => resolve()))
  }
  return state
}

function file(size = 300): { h: Handle; data: Buffer } {
  const data = randomBytes(size)
  return { h: { type: 'snapshots', name: hashId(data) }, data }
}

const skip = (await rcloneAvailable()) ? false : 'rclone is not installed'

describe('openBackend() wrappers on a REST server', { skip }, () => {
  let dir: string
  let server: RcloneServer
  let proxy: Proxy
  let url: string

  before(async () => {
    dir = await fs.mkdtemp(join(tmpdir(), 'cairn-wrap-rest-'))
    server = await startRcloneServe(dir, ['--user', USER, '--pass', SECRET])
    proxy = await startProxy(new URL(server.url))
    url = `rest:http://${USER}:${SECRET}@127.0.0.1:${proxy.port}/`
    const be = await openBackend(url)
    await be.create()
    await be.close()
  })

  after(async () => {
    await proxy?.close()
    await server?.stop()
    await fs.rm(dir, { recursive: true, force: true })
  })

  const open = (messages: string[], extra: Parameters<typeof openBackend>[1] = {}): Promise<Backend> =>
    openBackend(url, { ...extra, onMessage: (m) => messages.push(m) })

  it('retries server failures and reports them without the password', async () => {
    const messages: string[] = []
    const be = await open(messages)
    const { h, data } = file()
    await be.save(h, data)
    proxy.requests.length = 0
    proxy.fail(new RegExp(`^GET /snapshots/${h.name}$`), 2, 500)
    assert.deepEqual(await be.load(h), data)
    assert.equal(proxy.requests.filter((r) => r.endsWith(h.name)).length, 3)
    assert.equal(messages.length, 3)
    assert.match(messages[0], new RegExp(`^Load\\(snapshots/${h.name.slice(0, 10)}\\) failed: .*500.*\\*\\*\\*.*, retrying in \\d+ms$`))
    assert.match(messages[2], /succeeded after 2 retries$/)
    const basic = Buffer.from(`${USER}:${SECRET}`).toString('base64')
    for (const m of messages) assert.ok(!m.includes(SECRET) && !m.includes(basic), m)
    await be.close()
  })

  it('does not retry a refused login, and its error carries no secret', async () => {
    const messages: string[] = []
    const be = await open(messages)
    const { h } = file()
    proxy.requests.length = 0
    proxy.fail(/^GET \/snapshots\//, 1, 401)
    await assert.rejects(be.load(h), (err: unknown) => {
      assert.ok(isAppError(err, 'PERMISSION_DENIED'), String(err))
      assert.ok(!err.message.includes(SECRET) && !(err.stack ?? '').includes(SECRET), err.message)
      return true
    })
    assert.equal(proxy.requests.length, 1)
    assert.deepEqual(messages, [])
    await be.close()
  })

  it('holds concurrent requests to -o rest.connections', async () => {
    const be = await open([], { extended: { 'rest.connections': '2' } })
    assert.equal(be.properties.connections, 2)
    const files = Array.from({ length: 10 }, () => file())
    await Promise.all(files.map((f) => be.save(f.h, f.data)))
    proxy.maxInFlight = 0
    proxy.delayMs = 30
    try {
      const loaded = await Promise.all(files.map((f) => be.load(f.h)))
      loaded.forEach((d, i) => assert.deepEqual(d, files[i].data))
    } finally {
      proxy.delayMs = 0
    }
    assert.equal(proxy.maxInFlight, 2)
    await be.close()
  })

  it('keeps uploads to --limit-upload', async () => {
    const be = await open([], { limitUploadKiB: 256 })
    const data = randomBytes(256 * 1024)
    const started = performance.now()
    await be.save({ type: 'data', name: hashId(data) }, data)
    const seconds = (performance.now() - started) / 1000
    assert.ok(seconds >= 0.95 && seconds < 2, `256 KiB at 256 KiB/s took ${seconds.toFixed(2)} s`)
    await be.close()
  })
})
