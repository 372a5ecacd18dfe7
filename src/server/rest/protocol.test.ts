/**
 * The REST protocol as restic 0.14 and rest-server speak it (restic-format.md §7.2, §7.3),
 * checked with raw HTTP requests against a real server on a temp directory: status codes,
 * HEAD sizes, list formats and content types, ranges, immutability, upload verification.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { connect } from 'node:net'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { makeTempRoot, type TempRoot } from '../../../test/helpers/index.js'
import type { RunningRestServer } from '../serve-rest.js'
import { basic, idOf, quickHash, rawRequest, startTestServer } from '../testing.js'

const V2 = 'application/vnd.x.restic.rest.v2'
const V1 = 'application/vnd.x.restic.rest.v1'

describe('REST protocol', () => {
  let tmp: TempRoot
  let root: string
  let server: RunningRestServer
  const auth = { Authorization: basic('alice', 'pw-alice') }
  const req = (method: string, target: string, opts: Parameters<typeof rawRequest>[3] = {}) =>
    rawRequest(server.url, method, target, { ...opts, headers: { ...auth, ...opts.headers } })

  before(async () => {
    tmp = await makeTempRoot('server-protocol')
    root = await tmp.dir('repos')
    await writeFile(join(root, '.htpasswd'), `alice:${quickHash('pw-alice')}\n`)
    server = await startTestServer({ path: root, maxUploadBytes: 1024 * 1024 })
  })
  after(async () => {
    await server?.close()
    await tmp?.cleanup()
  })

  test('POST on a repository path creates it only with ?create=true, and again answers 200', async () => {
    assert.equal((await req('POST', '/alice/')).status, 400)
    assert.equal((await req('POST', '/alice/?create=false')).status, 400)
    await assert.rejects(stat(join(root, 'alice')), /ENOENT/)
    const created = await req('POST', '/alice/?create=true', { headers: { 'Content-Type': 'binary/octet-stream' } })
    assert.equal(created.status, 200)
    const dirs = (await readdir(join(root, 'alice'))).sort()
    assert.deepEqual(dirs, ['data', 'index', 'keys', 'locks', 'snapshots'])
    assert.equal((await readdir(join(root, 'alice', 'data'))).length, 256)
    assert.equal((await req('POST', '/alice/?create=true')).status, 200)
  })

  test('config: 404 before it exists, 200 once, 403 on a second POST, HEAD gives its size, GET its bytes', async () => {
    assert.equal((await req('HEAD', '/alice/config', { headers: { Accept: V2 } })).status, 404)
    assert.equal((await req('GET', '/alice/config')).status, 404)
    const config = Buffer.from('config bytes, encrypted in real life')
    const post = await req('POST', '/alice/config', { body: config, headers: { 'Content-Type': 'application/octet-stream' } })
    assert.equal(post.status, 200)
    assert.equal(post.body.length, 0)
    assert.equal((await req('POST', '/alice/config', { body: 'other' })).status, 403)
    const head = await req('HEAD', '/alice/config', { headers: { Accept: V2 } })
    assert.equal(head.status, 200)
    assert.equal(head.headers['content-length'], String(config.length))
    const get = await req('GET', '/alice/config', { headers: { Range: 'bytes=0-', Accept: V2 } })
    assert.ok(get.status === 200 || get.status === 206)
    assert.deepEqual(get.body, config)
    assert.deepEqual(await readFile(join(root, 'alice', 'config')), config)
  })

  const blob = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251))
  const id = idOf(blob)

  test('POST of an object answers exactly 200 and stores it in restic\'s local layout; a second POST is 403', async () => {
    const post = await req('POST', `/alice/data/${id}`, { body: blob, headers: { Accept: V2, 'Content-Type': 'application/octet-stream' } })
    assert.equal(post.status, 200)
    assert.deepEqual(await readFile(join(root, 'alice', 'data', id.slice(0, 2), id)), blob)
    const again = await req('POST', `/alice/data/${id}`, { body: blob })
    assert.equal(again.status, 403)
    assert.match(again.body.toString(), /exists already/)
  })

  test('HEAD of an object gives 200 with its size as Content-Length and no body; 404 when missing', async () => {
    const head = await req('HEAD', `/alice/data/${id}`, { headers: { Accept: V2 } })
    assert.equal(head.status, 200)
    assert.equal(head.headers['content-length'], '1000')
    assert.equal((await req('HEAD', `/alice/data/${'0'.repeat(64)}`)).status, 404)
  })

  test('GET honours byte ranges: 206 with Content-Range, suffix ranges, 416 past the end, 200 without Range', async () => {
    const full = await req('GET', `/alice/data/${id}`)
    assert.equal(full.status, 200)
    assert.deepEqual(full.body, blob)
    const part = await req('GET', `/alice/data/${id}`, { headers: { Range: 'bytes=10-19' } })
    assert.equal(part.status, 206)
    assert.equal(part.headers['content-range'], 'bytes 10-19/1000')
    assert.equal(part.headers['content-length'], '10')
    assert.deepEqual(part.body, blob.subarray(10, 20))
    const open = await req('GET', `/alice/data/${id}`, { headers: { Range: 'bytes=990-' } })
    assert.equal(open.status, 206)
    assert.deepEqual(open.body, blob.subarray(990))
    const clipped = await req('GET', `/alice/data/${id}`, { headers: { Range: 'bytes=995-5000' } })
    assert.equal(clipped.headers['content-range'], 'bytes 995-999/1000')
    const huge = await req('GET', `/alice/data/${id}`, { headers: { Range: 'bytes=0-999999999999999' } })
    assert.equal(huge.status, 206, 'a huge claimed range is clipped to the file, not allocated')
    assert.equal(huge.headers['content-range'], 'bytes 0-999/1000')
    const suffix = await req('GET', `/alice/data/${id}`, { headers: { Range: 'bytes=-4' } })
    assert.deepEqual(suffix.body, blob.subarray(996))
    const past = await req('GET', `/alice/data/${id}`, { headers: { Range: 'bytes=1000-' } })
    assert.equal(past.status, 416)
    assert.equal(past.headers['content-range'], 'bytes */1000')
    assert.equal((await req('GET', `/alice/data/${'1'.repeat(64)}`, { headers: { Range: 'bytes=0-' } })).status, 404)
  })

  test('an upload whose content does not hash to its name is refused with 400 and nothing is stored', async () => {
    const tampered = Buffer.from(blob)
    tampered[500] ^= 1
    for (const type of ['data', 'keys', 'snapshots', 'index', 'locks']) {
      const r = await req('POST', `/alice/${type}/${idOf(blob.subarray(1))}`, { body: tampered })
      assert.equal(r.status, 400, type)
      assert.match(r.body.toString(), /does not match its name/)
    }
    assert.equal((await req('HEAD', `/alice/keys/${idOf(blob.subarray(1))}`)).status, 404)
    const files = await readdir(join(root, 'alice', 'keys'))
    assert.deepEqual(files, [], 'no file and no temp file left')
  })

  test('an upload cut short (less than its Content-Length) stores nothing and leaves no temp file', async () => {
    const data = Buffer.alloc(4000, 7)
    const cutId = idOf(data)
    await new Promise<void>((resolve, reject) => {
      const u = new URL(server.url)
      const s = connect(Number(u.port), u.hostname, () => {
        s.write(`POST /alice/data/${cutId} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth.Authorization}\r\nContent-Length: 4000\r\n\r\n`)
        s.write(data.subarray(0, 1500), () => setTimeout(() => s.destroy(), 100))
      })
      s.on('close', () => resolve())
      s.on('error', reject)
    })
    // The request settles (its temp file removed) once the server has seen the connection go.
    await server.handler.drained()
    assert.equal((await req('HEAD', `/alice/data/${cutId}`)).status, 404)
    assert.deepEqual(await readdir(join(root, 'alice', 'data', cutId.slice(0, 2))), [])
  })

  test('an upload larger than the server accepts is 413, with or without Content-Length', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 1)
    const r = await req('POST', `/alice/data/${idOf(big)}`, { body: big })
    assert.equal(r.status, 413)
    const chunked = await new Promise<number>((resolve, reject) => {
      const u = new URL(server.url)
      const c = request({ host: u.hostname, port: u.port, method: 'POST', path: `/alice/data/${idOf(big)}`, headers: { ...auth, 'Transfer-Encoding': 'chunked' } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      c.on('error', reject)
      c.end(big)
    })
    assert.equal(chunked, 413)
    assert.equal((await req('HEAD', `/alice/data/${idOf(big)}`)).status, 404)
  })

  test('an upload without Content-Length (chunked) is accepted when no quota applies', async () => {
    const data = Buffer.from('chunked upload')
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(server.url)
      const c = request({ host: u.hostname, port: u.port, method: 'POST', path: `/alice/snapshots/${idOf(data)}`, headers: { ...auth, 'Transfer-Encoding': 'chunked' } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      c.on('error', reject)
      c.write(data.subarray(0, 4))
      c.end(data.subarray(4))
    })
    assert.equal(status, 200)
    assert.deepEqual(await readFile(join(root, 'alice', 'snapshots', idOf(data))), data)
  })

  test('list: v2 JSON with sizes and the exact v2 Content-Type for the v2 Accept, v1 names otherwise', async () => {
    const other = Buffer.from('second pack')
    assert.equal((await req('POST', `/alice/data/${idOf(other)}`, { body: other })).status, 200)
    // A loose file directly in data/ and a temp-looking file are not objects.
    await writeFile(join(root, 'alice', 'data', idOf('loose')), 'loose')
    await writeFile(join(root, 'alice', 'data', id.slice(0, 2), `${id}-tmp-abc`), 'junk')
    const v2 = await req('GET', '/alice/data/', { headers: { Accept: V2 } })
    assert.equal(v2.status, 200)
    assert.equal(v2.headers['content-type'], V2)
    assert.ok(!v2.body.toString().endsWith('\n'))
    const entries = (JSON.parse(v2.body.toString()) as { name: string; size: number }[]).sort((a, b) => a.name.localeCompare(b.name))
    assert.deepEqual(entries, [{ name: id, size: 1000 }, { name: idOf(other), size: other.length }].sort((a, b) => a.name.localeCompare(b.name)))
    const v1 = await req('GET', '/alice/data/')
    assert.equal(v1.headers['content-type'], V1)
    assert.deepEqual((JSON.parse(v1.body.toString()) as string[]).sort(), [id, idOf(other)].sort())
    const v1explicit = await req('GET', '/alice/data/', { headers: { Accept: V1 } })
    assert.equal(v1explicit.headers['content-type'], V1)
    const withCharset = await req('GET', '/alice/data/', { headers: { Accept: `${V2}; charset=utf-8` } })
    assert.equal(withCharset.headers['content-type'], V1, 'only the exact v2 type selects v2')
    const empty = await req('GET', '/alice/locks/', { headers: { Accept: V2 } })
    assert.equal(empty.body.toString(), '[]')
  })

  test('a wrong method is 405 with an Allow header naming the methods of that route', async () => {
    const cases: Array<[string, string, string]> = [
      ['PUT', `/alice/data/${id}`, 'HEAD, GET, POST, DELETE'],
      ['PATCH', '/alice/config', 'HEAD, GET, POST, DELETE'],
      ['GET', '/alice/', 'POST'],
      ['DELETE', '/alice/', 'POST'],
      ['POST', '/alice/keys/', 'GET'],
      ['DELETE', '/alice/data/', 'GET'],
    ]
    for (const [method, target, allow] of cases) {
      const r = await req(method, target)
      assert.equal(r.status, 405, `${method} ${target}`)
      assert.equal(r.headers.allow, allow, `${method} ${target}`)
    }
  })

  test('DELETE answers 200 and is idempotent; the object is gone afterwards', async () => {
    const data = Buffer.from('to be deleted')
    assert.equal((await req('POST', `/alice/locks/${idOf(data)}`, { body: data })).status, 200)
    assert.equal((await req('DELETE', `/alice/locks/${idOf(data)}`)).status, 200)
    assert.equal((await req('DELETE', `/alice/locks/${idOf(data)}`)).status, 200)
    assert.equal((await req('HEAD', `/alice/locks/${idOf(data)}`)).status, 404)
  })

  test('requests without credentials, with a wrong password or an unknown user are 401 and change nothing', async () => {
    const data = Buffer.from('unauthorised')
    const cases: Record<string, string>[] = [
      {},
      { Authorization: basic('alice', 'wrong') },
      { Authorization: basic('mallory', 'pw-alice') },
      { Authorization: 'Basic !!!' },
      { Authorization: 'Bearer abc' },
      { Authorization: basic('alice', '') },
    ]
    for (const headers of cases) {
      for (const [method, target] of [['GET', '/alice/data/'], ['POST', `/alice/data/${idOf(data)}`], ['DELETE', `/alice/data/${id}`], ['POST', '/mallory/?create=true'], ['HEAD', '/alice/config']]) {
        const r = await rawRequest(server.url, method, target, { headers, body: method === 'POST' ? data : undefined })
        assert.equal(r.status, 401, `${method} ${target} with ${JSON.stringify(headers)}`)
        assert.equal(r.headers['www-authenticate'], undefined, 'rest-server sets no WWW-Authenticate')
      }
    }
    assert.equal((await req('HEAD', `/alice/data/${id}`)).status, 200)
    await assert.rejects(stat(join(root, 'mallory')), /ENOENT/)
    assert.equal((await req('HEAD', `/alice/data/${idOf(data)}`)).status, 404)
  })
})
