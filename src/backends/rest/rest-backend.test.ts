/**
 * RestBackend's protocol handling against a scripted HTTP server on loopback: what it sends,
 * the v1 fallback, servers that ignore Range or send short bodies, and how statuses and
 * network failures become errors. The real servers are in rest-rclone-serve.test.ts.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import type http from 'node:http'
import { after, describe, it } from 'node:test'
import { isAppError } from '../../base/index.js'
import type { FileInfo, FileType, Handle } from '../backend.js'
import { FileExistsError, NotFoundError } from '../errors.js'
import { parseRepositoryUrl, type BackendOptions, type RepositoryLocation } from '../registry.js'
import { HttpTransport } from './http-transport.js'
import { openRestBackend } from './open-rest-backend.js'
import { V2_TYPE } from './list-format.js'
import { RestBackend } from './rest-backend.js'
import { freePort, startScriptedServer, type ScriptedServer } from './testing.js'

interface Quirks {
  /** Lists answer in v1 (names only) whatever the Accept header says. */
  v1?: boolean
  /** The Content-Type of a list answer (default: v2 type for v2, application/json for v1). */
  listType?: string
  /** GET ignores Range and sends the whole file with 200. */
  ignoreRange?: boolean
  /** Extra names in every v1 listing. */
  junk?: string[]
  /** Answer every request with this status instead (body: "scripted failure"). */
  failWith?: number
  /** Delay before each answer. */
  delayMs?: number
}

/** A small in-memory REST server (rest-server's behaviour, §7.3) with switchable quirks. */
function restServer(quirks: Quirks = {}) {
  const files = new Map<string, Buffer>()
  let inFlight = 0
  let maxInFlight = 0
  const handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => {
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    const answer = () => {
      inFlight--
      respond(req, res, body)
    }
    if (quirks.delayMs !== undefined) setTimeout(answer, quirks.delayMs)
    else answer()
  }
  function respond(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) {
    const url = new URL(req.url ?? '/', 'http://x')
    const path = url.pathname.slice(1)
    if (quirks.failWith !== undefined) {
      res.writeHead(quirks.failWith, { 'content-type': 'text/plain' }).end('scripted failure\n')
      return
    }
    if (req.method === 'POST' && path === '') {
      res.writeHead(url.searchParams.get('create') === 'true' ? 200 : 400).end()
      return
    }
    if (req.method === 'GET' && path.endsWith('/')) {
      const type = path.slice(0, -1)
      const mine = [...files].filter(([k]) => k.startsWith(`${type}/`)).map(([k, v]) => ({ name: k.slice(type.length + 1), size: v.length }))
      const v2 = !quirks.v1 && req.headers.accept === V2_TYPE
      const json = v2 ? JSON.stringify(mine) : JSON.stringify([...mine.map((f) => f.name), ...(quirks.junk ?? [])])
      res.writeHead(200, { 'content-type': quirks.listType ?? (v2 ? V2_TYPE : 'application/json') }).end(json)
      return
    }
    const data = files.get(path)
    switch (req.method) {
      case 'HEAD':
        if (data === undefined) res.writeHead(404).end()
        else res.writeHead(200, { 'content-length': data.length }).end()
        return
      case 'GET': {
        if (data === undefined) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
        const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
        if (quirks.ignoreRange || m === null) return void res.writeHead(200, { 'content-length': data.length }).end(data)
        const start = Number(m[1])
        const end = Math.min(m[2] === '' ? data.length - 1 : Number(m[2]), data.length - 1)
        if (start >= data.length) return void res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end()
        res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${data.length}`, 'content-length': end - start + 1 }).end(data.subarray(start, end + 1))
        return
      }
      case 'POST':
        if (data !== undefined) return void res.writeHead(403).end()
        files.set(path, body)
        res.writeHead(200).end()
        return
      case 'DELETE':
        files.delete(path)
        res.writeHead(200).end()
        return
    }
    res.writeHead(405).end()
  }
  return { handler, files, maxInFlight: () => maxInFlight }
}

/** The backend alone, without the retry and other wrappers openBackend() adds. */
function open(url: string, options: BackendOptions = {}) {
  return openRestBackend(parseRepositoryUrl(url) as Extract<RepositoryLocation, { scheme: 'rest' }>, options)
}

const servers: ScriptedServer[] = []
after(async () => {
  await Promise.all(servers.map((s) => s.stop()))
})

async function serve(handler: Parameters<typeof startScriptedServer>[0]): Promise<ScriptedServer> {
  const s = await startScriptedServer(handler)
  servers.push(s)
  return s
}

function file(type: FileType, size: number): { h: Handle; data: Buffer } {
  const data = randomBytes(size)
  return { h: { type, name: createHash('sha256').update(data).digest('hex') }, data }
}

async function collect(it: AsyncIterable<FileInfo>): Promise<FileInfo[]> {
  const out: FileInfo[] = []
  for await (const f of it) out.push(f)
  return out.sort((a, b) => (a.name < b.name ? -1 : 1))
}

describe('RestBackend protocol', () => {
  it('sends what restic 0.14 sends: create without Accept, v2 Accept elsewhere, explicit Content-Length, Range on every GET', async () => {
    const { handler } = restServer()
    const s = await serve(handler)
    const be = open(`rest:${s.url}`)
    try {
      await be.create()
      const { h, data } = file('data', 1000)
      await be.save(h, data)
      await be.load(h)
      await be.load(h, 10, 20)
      await be.stat(h)
      await collect(be.list('data'))
      await be.remove(h)
    } finally {
      await be.close()
    }
    const seen = s.requests.map((r) => `${r.method} ${r.url}`)
    const name = s.requests.find((r) => r.method === 'POST' && r.url.startsWith('/data/'))?.url
    assert.deepEqual(seen, ['HEAD /config', 'POST /?create=true', `POST ${name}`, `GET ${name}`, `GET ${name}`, `HEAD ${name}`, 'GET /data/', `DELETE ${name}`])
    const create = s.requests[1]
    assert.equal(create.headers.accept, undefined)
    assert.equal(create.headers['content-type'], 'binary/octet-stream')
    for (const r of s.requests.filter((_, i) => i !== 1)) assert.equal(r.headers.accept, V2_TYPE, `${r.method} ${r.url}`)
    const post = s.requests[2]
    assert.equal(post.headers['content-length'], '1000')
    assert.equal(post.headers['transfer-encoding'], undefined)
    assert.equal(post.headers['content-type'], 'application/octet-stream')
    assert.equal(s.requests[3].headers.range, 'bytes=0-')
    assert.equal(s.requests[4].headers.range, 'bytes=10-29')
  })

  it('list() falls back to v1: names from the list, sizes from a HEAD each, junk names skipped', async () => {
    const { handler } = restServer({ v1: true, junk: ['README', 'a'.repeat(63)] })
    const s = await serve(handler)
    const be = open(`rest:${s.url}`)
    try {
      await be.create()
      const files = [file('snapshots', 10), file('snapshots', 20), file('snapshots', 30)]
      for (const f of files) await be.save(f.h, f.data)
      const before = s.requests.length
      const listed = await collect(be.list('snapshots'))
      assert.deepEqual(listed, files.map((f) => ({ name: f.h.name, size: f.data.length })).sort((a, b) => (a.name < b.name ? -1 : 1)))
      const heads = s.requests.slice(before).filter((r) => r.method === 'HEAD')
      assert.equal(heads.length, 3, 'one HEAD per real file, none for junk')
    } finally {
      await be.close()
    }
  })

  it('list() parses v2 only for exactly the v2 Content-Type, as restic does', async () => {
    const { handler } = restServer({ listType: `${V2_TYPE}; charset=utf-8` })
    const s = await serve(handler)
    const be = open(`rest:${s.url}`)
    try {
      const f = file('keys', 5)
      await be.save(f.h, f.data)
      await assert.rejects(collect(be.list('keys')), (err: unknown) => isAppError(err, 'INVALID_DATA') && /listing is invalid: a v1 entry is not a string/.test(err.message))
    } finally {
      await be.close()
    }
  })

  it('load() cuts the range itself when a server ignores Range and sends the whole file', async () => {
    const { handler } = restServer({ ignoreRange: true })
    const s = await serve(handler)
    const be = open(`rest:${s.url}`)
    try {
      const { h, data } = file('data', 500)
      await be.save(h, data)
      assert.deepEqual(await be.load(h, 100, 50), data.subarray(100, 150))
      assert.deepEqual(await be.load(h, 450), data.subarray(450))
      await assert.rejects(be.load(h, 450, 51), (err: unknown) => isAppError(err, 'INVALID_DATA') && /it has 500 bytes/.test(err.message))
    } finally {
      await be.close()
    }
  })

  it('load() answers 416 with a short-read error, or an empty buffer at the end of the file', async () => {
    const { handler } = restServer()
    const s = await serve(handler)
    const be = open(`rest:${s.url}`)
    try {
      const { h, data } = file('data', 64)
      await be.save(h, data)
      assert.equal((await be.load(h, 64)).length, 0)
      await assert.rejects(be.load(h, 65), (err: unknown) => isAppError(err, 'INVALID_DATA') && /too short.*it has 64 bytes/.test(err.message))
      await assert.rejects(be.load(h, 100, 1), (err: unknown) => isAppError(err, 'INVALID_DATA') && /it has 64 bytes/.test(err.message))
    } finally {
      await be.close()
    }
  })

  it('load() rejects a Content-Range that does not match the request or the body as INVALID_DATA', async () => {
    const data = randomBytes(100)
    const h: Handle = { type: 'data', name: createHash('sha256').update(data).digest('hex') }
    let mode = 'offset'
    const s = await serve((_req, res) => {
      if (mode === 'offset') res.writeHead(206, { 'content-range': 'bytes 0-9/100', 'content-length': 10 }).end(data.subarray(0, 10))
      else if (mode === 'length') res.writeHead(206, { 'content-range': 'bytes 10-19/100', 'content-length': 5 }).end(data.subarray(10, 15))
      else res.writeHead(206, { 'content-length': 10 }).end(data.subarray(10, 20))
    })
    const be = open(`rest:${s.url}`)
    try {
      await assert.rejects(be.load(h, 10, 10), (err: unknown) => isAppError(err, 'INVALID_DATA') && /from offset 0, not 10/.test(err.message))
      mode = 'length'
      await assert.rejects(be.load(h, 10, 10), (err: unknown) => isAppError(err, 'INVALID_DATA') && /Content-Length 5 does not match/.test(err.message))
      mode = 'none'
      await assert.rejects(be.load(h, 10, 10), (err: unknown) => isAppError(err, 'INVALID_DATA') && /no valid Content-Range/.test(err.message))
    } finally {
      await be.close()
    }
  })

  it('load() of a body cut off mid-way fails with NETWORK (worth a retry), not a short buffer', async () => {
    const data = randomBytes(100_000)
    const s = await serve((_req, res) => {
      res.writeHead(206, { 'content-range': `bytes 0-${data.length - 1}/${data.length}`, 'content-length': data.length })
      res.write(data.subarray(0, 30_000), () => res.socket?.destroy())
    })
    const be = open(`rest:${s.url}`)
    try {
      await assert.rejects(be.load({ type: 'data', name: 'a'.repeat(64) }), (err: unknown) => isAppError(err, 'NETWORK') && /Cannot load "data\/a{64}"/.test(err.message))
    } finally {
      await be.close()
    }
  })

  it('maps statuses: 404 → NotFoundError, 401/403 → PERMISSION_DENIED, 5xx → NETWORK, 507 → IO, others → IO with the server text', async () => {
    let status = 500
    const s = await serve((req, res) => {
      res.writeHead(status, { 'content-type': 'text/plain' }).end(req.method === 'HEAD' ? undefined : 'scripted   failure\n')
    })
    const be = open(`rest:${s.url}`)
    const { h, data } = file('data', 10)
    const cases: [number, () => Promise<unknown>, (err: unknown) => boolean][] = [
      [404, () => be.load(h), (err) => err instanceof NotFoundError],
      [404, () => be.stat(h), (err) => err instanceof NotFoundError],
      [401, () => be.load(h), (err) => isAppError(err, 'PERMISSION_DENIED') && /refused the credentials \(401 Unauthorized\)/.test(err.message) && /password/.test(err.hint ?? '')],
      [403, () => be.remove(h), (err) => isAppError(err, 'PERMISSION_DENIED') && /append-only/.test(err.hint ?? '')],
      [500, () => be.save(h, data), (err) => isAppError(err, 'NETWORK') && /the server failed \(500 Internal Server Error\): scripted failure$/.test(err.message)],
      [503, () => be.stat(h), (err) => isAppError(err, 'NETWORK')],
      [507, () => be.save(h, data), (err) => isAppError(err, 'IO') && /out of space or over its quota \(507/.test(err.message)],
      [400, () => be.save(h, data), (err) => isAppError(err, 'IO') && /unexpected answer 400 Bad Request: scripted failure/.test(err.message)],
      [201, () => be.save(h, data), (err) => isAppError(err, 'IO') && /unexpected answer 201/.test(err.message)],
    ]
    try {
      for (const [code, call, check] of cases) {
        status = code
        await assert.rejects(call(), (err: unknown) => check(err) || assert.fail(`${code}: ${String(err)}`))
      }
      status = 404
      await be.remove(h) // 404 on delete: already gone
      assert.deepEqual(await collect(be.list('data')), [], '404 on a list: no files')
    } finally {
      await be.close()
    }
  })

  it("save() of an existing file answered 403 is a FileExistsError; a 403 for a missing file is PERMISSION_DENIED with the server's reason", async () => {
    const { handler, files } = restServer()
    let refuseAll = false
    const reason = 'Forbidden: read-only access: writing and deleting are refused (use restic --no-lock to read)'
    const s = await serve((req, res, body) => (refuseAll && req.method === 'POST' ? res.writeHead(403).end(reason) : handler(req, res, body)))
    const be = open(`rest:${s.url}`)
    try {
      const { h, data } = file('index', 40)
      await be.save(h, data)
      await assert.rejects(be.save(h, data), FileExistsError)
      refuseAll = true
      const other = file('index', 41)
      // The server's reason is in the message: it is the one that says what to do.
      await assert.rejects(
        be.save(other.h, other.data),
        (err: unknown) => isAppError(err, 'PERMISSION_DENIED') && !(err instanceof FileExistsError) && err.message.endsWith(`(403 Forbidden): ${reason}`),
      )
      assert.equal(files.size, 1)
    } finally {
      await be.close()
    }
  })

  it('save() of config checks first and never replaces one, even on a server that would', async () => {
    const files = new Map<string, Buffer>()
    const s = await serve((req, res, body) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname.slice(1)
      if (req.method === 'HEAD') return void res.writeHead(files.has(path) ? 200 : 404, { 'content-length': files.get(path)?.length ?? 0 }).end()
      files.set(path, body) // replaces, as rclone serve restic does
      res.writeHead(200).end()
    })
    const be = open(`rest:${s.url}`)
    try {
      await be.save({ type: 'config', name: '' }, Buffer.from('first'))
      await assert.rejects(be.save({ type: 'config', name: '' }, Buffer.from('second')), (err: unknown) => isAppError(err, 'REPOSITORY_EXISTS'))
      await assert.rejects(be.create(), (err: unknown) => isAppError(err, 'REPOSITORY_EXISTS'))
      assert.deepEqual(files.get('config'), Buffer.from('first'))
    } finally {
      await be.close()
    }
  })

  it('keeps connections alive: 30 requests in a row use one socket', async () => {
    const { handler } = restServer()
    const s = await serve(handler)
    const be = open(`rest:${s.url}`)
    try {
      const { h, data } = file('locks', 10)
      await be.save(h, data)
      for (let i = 0; i < 30; i++) {
        await be.stat(h)
        await be.load(h)
      }
      assert.equal(s.connections(), 1)
    } finally {
      await be.close()
    }
  })

  it('-o rest.connections=N bounds requests in flight and sockets', async () => {
    const server = restServer({ delayMs: 30 })
    const s = await serve(server.handler)
    const be = open(`rest:${s.url}`, { extended: { 'rest.connections': '3' } })
    try {
      assert.equal(be.properties.connections, 3)
      assert.equal(be.properties.local, false)
      const files = Array.from({ length: 20 }, (_, i) => file('data', 10 + i))
      await Promise.all(files.map((f) => be.save(f.h, f.data)))
      assert.equal(server.maxInFlight(), 3)
      assert.ok(s.connections() <= 3, `${s.connections()} sockets`)
    } finally {
      await be.close()
    }
  })

  it('fails with NETWORK when nothing listens, naming the URL', async () => {
    const port = await freePort()
    const be = open(`rest:http://user:secret-pw@127.0.0.1:${port}/repo/`)
    try {
      await assert.rejects(be.stat({ type: 'config', name: '' }), (err: unknown) => {
        assert.ok(isAppError(err, 'NETWORK'), String(err))
        assert.equal(err.message, `Cannot stat "config" in "rest:http://127.0.0.1:${port}/repo/": connection refused (ECONNREFUSED)`)
        // It had no hint, where the SFTP backend's asks whether sshd runs.
        assert.match(err.hint ?? '', /Is the server running, and listening on the port/)
        return true
      })
    } finally {
      await be.close()
    }
  })

  it('a save whose answer was lost on a reused connection, and whose sending again finds the file stored, succeeds', async () => {
    // The transport sends a request again when a reused connection was reset; the server had
    // stored the file the first time, answered 403 "exists" the second, and the backup failed.
    const { h, data } = file('data', 5000)
    const stored = new Map<string, Buffer>()
    let posts = 0
    const s = await serve((req, res, body) => {
      const path = req.url ?? ''
      if (req.method === 'POST' && path.includes('/data/')) {
        posts++
        if (stored.has(path)) {
          res.writeHead(403).end('exists')
          return
        }
        stored.set(path, body)
        req.socket.destroy() // stored, but the answer is lost
        return
      }
      if (req.method === 'HEAD') {
        const got = stored.get(path)
        res.writeHead(got === undefined ? 404 : 200, { 'content-length': got?.length ?? 0 }).end()
        return
      }
      res.writeHead(404).end()
    })
    const be = new RestBackend(new HttpTransport({ url: s.url, connections: 1 }), { location: `rest:${s.url}`, connections: 1 })
    try {
      await assert.rejects(be.stat({ type: 'config', name: '' }), NotFoundError) // a connection to reuse
      await be.save(h, data)
      assert.equal(posts, 2)
      assert.deepEqual([...stored.values()][0], data)
      // A file that was there before the save is still a conflict.
      await assert.rejects(be.save(h, data), FileExistsError)
    } finally {
      await be.close()
    }
  })

  it('fails with NETWORK when the server stops answering', async () => {
    const s = await serve(() => {}) // never answers
    const url = s.url
    const be = new RestBackend(new HttpTransport({ url, connections: 1, idleTimeoutMs: 200 }), { location: `rest:${url}`, connections: 1 })
    try {
      await assert.rejects(be.stat({ type: 'config', name: '' }), (err: unknown) => isAppError(err, 'NETWORK') && /no data sent or received for 200 ms \(ETIMEDOUT\)/.test(err.message))
    } finally {
      await be.close()
    }
  })

  it('refuses bad -o rest.* options', () => {
    assert.throws(() => open('rest:http://h/', { extended: { 'rest.connections': 'many' } }), (err: unknown) => isAppError(err, 'INVALID_ARGUMENT') && err.message === 'Invalid option "-o rest.connections=many": expected a whole number from 1 to 1000')
    assert.throws(() => open('rest:http://h/', { extended: { 'rest.connections': '0' } }), (err: unknown) => isAppError(err, 'INVALID_ARGUMENT'))
    assert.throws(() => open('rest:http://h/', { extended: { 'rest.conections': '2' } }), (err: unknown) => isAppError(err, 'INVALID_ARGUMENT') && /Unknown option "-o rest.conections"/.test(err.message) && /rest.connections/.test(err.hint ?? ''))
    assert.doesNotThrow(() => open('rest:http://h/', { extended: { 'sftp.command': 'x', 'rest.connections': '7' } }))
    assert.throws(() => open('rest:https://h/', { caCertFiles: ['/nonexistent/ca.pem'] }), (err: unknown) => isAppError(err, 'INVALID_ARGUMENT') && /Cannot read "\/nonexistent\/ca.pem" \(--cacert\): ENOENT/.test(err.message))
  })
})
