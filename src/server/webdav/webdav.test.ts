import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { SnapshotBrowser } from '../../app/index.js'
import { MemoryBackend } from '../../backends/index.js'
import { PASSWORD, run } from '../../app/interop-testing.js'
import { saveTestSnapshot } from '../../maintenance/testing.js'
import { createTestRepository, seededBytes } from '../../repository/testing.js'
import type { Repository } from '../../repository/index.js'
import { cairnBin, waitUntil } from '../../../test/helpers/index.js'
import { basic, quickHash, rawRequest } from '../testing.js'
import { startWebDavServer, type RunningWebDavServer } from './serve-webdav.js'

const hasRclone = spawnSync('rclone', ['version']).status === 0
const BIG = seededBytes(3, 10_000)
const ODD_NAME = Buffer.from([0x6f, 0x64, 0x64, 0xff, 0x2e, 0x74, 0x78, 0x74]) // "odd\xff.txt", not UTF-8

describe('serve webdav', () => {
  let repo: Repository
  let server: RunningWebDavServer
  let dir: string

  before(async () => {
    repo = await createTestRepository()
    await saveTestSnapshot(repo, { files: { '/home/me/old.txt': 'first version' }, time: '2026-11-20T10:00:00+01:00', tags: ['daily'] })
    await saveTestSnapshot(repo, {
      files: { '/home/me/old.txt': 'second version', '/home/me/big.bin': BIG, '/home/me/a & b <c>.txt': 'xml' },
      time: '2026-11-21T10:00:00.123456789+01:00',
      tags: ['daily', 'team/x'],
      chunkSize: 3000,
    })
    await repo.loadIndex()
    server = await startWebDavServer(repo, { listen: '127.0.0.1:0' })
    dir = await mkdtemp(join(tmpdir(), 'cairn-webdav-'))
  })
  after(async () => {
    await server?.close()
    await rm(dir, { recursive: true, force: true })
  })

  const get = (target: string, headers: Record<string, string> = {}, method = 'GET') => rawRequest(server.url, method, target, { headers })
  const hrefs = (xml: string) => [...xml.matchAll(/<D:href>([^<]*)<\/D:href>/g)].map((m) => m[1])

  it("lays the snapshots out as restic's mount does, with a latest folder in each listing", async () => {
    const top = await get('/', { Depth: '1' }, 'PROPFIND')
    assert.equal(top.status, 207)
    assert.deepEqual(hrefs(top.body.toString()), ['/', '/hosts/', '/ids/', '/snapshots/', '/tags/'])
    const snaps = await get('/snapshots/', { Depth: '1' }, 'PROPFIND')
    assert.deepEqual(hrefs(snaps.body.toString()), ['/snapshots/', '/snapshots/2026-11-20T10%3A00%3A00%2B01%3A00/', '/snapshots/2026-11-21T10%3A00%3A00%2B01%3A00/', '/snapshots/latest/'])
    const tags = await get('/tags/', { Depth: '1' }, 'PROPFIND')
    assert.deepEqual(hrefs(tags.body.toString()), ['/tags/', '/tags/daily/', '/tags/team_x/'])
    const latest = await get('/snapshots/latest/home/me/old.txt')
    assert.equal(latest.body.toString(), 'second version')
    const first = await get('/tags/daily/2026-11-20T10:00:00+01:00/home/me/old.txt')
    assert.equal(first.body.toString(), 'first version')
  })

  it('lists a folder with sizes, and escapes names in XML and URLs', async () => {
    const r = await get('/snapshots/latest/home/me/', { Depth: '1' }, 'PROPFIND')
    const xml = r.body.toString()
    assert.match(xml, /<D:href>\/snapshots\/latest\/home\/me\/big.bin<\/D:href><D:propstat><D:prop><D:displayname>big.bin<\/D:displayname>.*<D:getcontentlength>10000<\/D:getcontentlength>/)
    assert.match(xml, /<D:href>\/snapshots\/latest\/home\/me\/a%20%26%20b%20%3Cc%3E.txt<\/D:href><D:propstat><D:prop><D:displayname>a &amp; b &lt;c&gt;.txt<\/D:displayname>/)
    assert.equal((await get('/snapshots/latest/home/me/a%20%26%20b%20%3Cc%3E.txt')).body.toString(), 'xml')
    const one = await get('/snapshots/latest/home/me/big.bin', { Depth: '0' }, 'PROPFIND')
    assert.deepEqual(hrefs(one.body.toString()), ['/snapshots/latest/home/me/big.bin'])
  })

  it('serves byte ranges across blob boundaries, HEAD, and refuses unsatisfiable ranges', async () => {
    const whole = await get('/snapshots/latest/home/me/big.bin')
    assert.equal(whole.status, 200)
    assert.deepEqual(whole.body, BIG)
    const mid = await get('/snapshots/latest/home/me/big.bin', { Range: 'bytes=2990-6010' })
    assert.equal(mid.status, 206)
    assert.equal(mid.headers['content-range'], 'bytes 2990-6010/10000')
    assert.deepEqual(mid.body, BIG.subarray(2990, 6011))
    const tail = await get('/snapshots/latest/home/me/big.bin', { Range: 'bytes=-100' })
    assert.deepEqual(tail.body, BIG.subarray(9900))
    const open = await get('/snapshots/latest/home/me/big.bin', { Range: 'bytes=9000-' })
    assert.deepEqual(open.body, BIG.subarray(9000))
    assert.equal((await get('/snapshots/latest/home/me/big.bin', { Range: 'bytes=10000-' })).status, 416)
    const head = await get('/snapshots/latest/home/me/big.bin', {}, 'HEAD')
    assert.equal(head.headers['content-length'], '10000')
    assert.equal(head.body.length, 0)
    const etag = whole.headers.etag
    assert.equal((await get('/snapshots/latest/home/me/big.bin', { 'If-None-Match': etag })).status, 304)
  })

  it('is read-only, refuses infinite depth, and answers 404 for what is not there', async () => {
    for (const method of ['PUT', 'DELETE', 'MKCOL', 'MOVE', 'PROPPATCH', 'LOCK']) {
      const r = await get('/snapshots/latest/home/me/old.txt', {}, method)
      assert.equal(r.status, 405, method)
      assert.equal(r.headers.allow, 'OPTIONS, GET, HEAD, PROPFIND')
    }
    const options = await get('/', {}, 'OPTIONS')
    assert.equal(options.headers.dav, '1')
    assert.equal((await get('/snapshots/', { Depth: 'infinity' }, 'PROPFIND')).status, 403)
    assert.equal((await get('/snapshots/latest/nothing')).status, 404)
    assert.equal((await get('/snapshots/latest/home/me/old.txt/x')).status, 404)
    assert.equal((await get('/snapshots/%zz')).status, 400)
    assert.equal((await get('/snapshots/latest/../../x')).status, 400)
  })

  it('gives a browser an HTML listing of a folder', async () => {
    const r = await get('/snapshots/latest/home/me/')
    assert.equal(r.status, 200)
    assert.match(r.headers['content-type'], /text\/html/)
    assert.match(r.body.toString(), /<a href="big.bin">big.bin<\/a> <small>10000 bytes<\/small>/)
    const redirect = await get('/snapshots/latest/home/me')
    assert.equal(redirect.status, 301)
    assert.equal(redirect.headers.location, '/snapshots/latest/home/me/')
  })

  it('shows a new snapshot once the list is read again', async () => {
    const fresh = await createTestRepository()
    await saveTestSnapshot(fresh, { files: { '/a.txt': 'a' }, time: '2026-11-20T10:00:00Z' })
    await fresh.loadIndex()
    let now = 0
    const browser = new SnapshotBrowser(fresh, { now: () => now })
    assert.equal((await browser.resolve([Buffer.from('ids')]))?.kind, 'dir')
    const later = await saveTestSnapshot(fresh, { files: { '/b.txt': 'b' }, time: '2026-11-21T10:00:00Z' })
    assert.equal(await browser.resolve([Buffer.from('ids'), Buffer.from(later.id.slice(0, 8))]), undefined, 'not yet: the list is a minute old at most')
    now = 61_000
    const found = await browser.resolve([Buffer.from('ids'), Buffer.from(later.id.slice(0, 8)), Buffer.from('b.txt')])
    assert.equal(found?.kind, 'file')
  })

  it('gives a file another ETag when any of its blobs changes, and the same one for the same content', async () => {
    // The tag of a file of many blobs was made of its size, its count and its first and last
    // blobs: a change in the middle kept it, so clients kept (or spliced in) old bytes.
    const fresh = await createTestRepository()
    const before = seededBytes(4, 30_000)
    const after = Buffer.from(before)
    after.write('CHANGED', 15_000)
    await saveTestSnapshot(fresh, { files: { '/f.bin': before, '/same.bin': before }, time: '2026-11-20T10:00:00Z', chunkSize: 3000 })
    await saveTestSnapshot(fresh, { files: { '/f.bin': after, '/same.bin': before }, time: '2026-11-21T10:00:00Z', chunkSize: 3000 })
    await fresh.loadIndex()
    const browser = new SnapshotBrowser(fresh)
    const tag = async (time: string, name: string) => {
      const e = await browser.resolve(['snapshots', time, name].map((s) => Buffer.from(s)))
      assert.equal(e?.kind, 'file')
      return e.kind === 'file' ? e : assert.fail()
    }
    const [a, b] = [await tag('2026-11-20T10:00:00Z', 'f.bin'), await tag('2026-11-21T10:00:00Z', 'f.bin')]
    assert.ok(a.content.length >= 10 && a.content[0] === b.content[0] && a.content.at(-1) === b.content.at(-1), 'only middle blobs differ')
    assert.notEqual(a.etag, b.etag)
    assert.equal((await tag('2026-11-20T10:00:00Z', 'same.bin')).etag, (await tag('2026-11-21T10:00:00Z', 'same.bin')).etag)
  })

  it('answers If-None-Match lists, weak tags and "*" with 304, and sends an empty file whole for any range', async () => {
    const file = '/snapshots/latest/home/me/big.bin'
    const etag = (await get(file, {}, 'HEAD')).headers.etag
    for (const header of [`"other", ${etag}`, `W/${etag}`, '*']) assert.equal((await get(file, { 'If-None-Match': header })).status, 304, header)
    assert.equal((await get(file, { 'If-None-Match': '"other"' })).status, 200)
    // "bytes 0--1/0" was sent for an empty file: no byte of it can be named.
    const fresh = await createTestRepository()
    await saveTestSnapshot(fresh, { files: { '/empty': '' }, time: '2026-11-20T10:00:00Z' })
    await fresh.loadIndex()
    const s = await startWebDavServer(fresh, { listen: '127.0.0.1:0' })
    try {
      for (const range of ['bytes=-5', 'bytes=0-', 'bytes=0-0']) {
        const r = await rawRequest(s.url, 'GET', '/snapshots/latest/empty', { headers: { Range: range } })
        assert.equal(r.status, 200, range)
        assert.equal(r.headers['content-range'], undefined)
        assert.equal(r.body.length, 0)
      }
    } finally {
      await s.close()
    }
  })

  it('answers 500 when the first bytes of a file cannot be read (a pack is missing), not a 200 cut short', async () => {
    const backend = new MemoryBackend()
    const fresh = await createTestRepository({ backend })
    await saveTestSnapshot(fresh, { files: { '/f.bin': seededBytes(5, 5000) }, time: '2026-11-20T10:00:00Z' })
    await fresh.loadIndex()
    const dataPacks = new Set([...fresh.index.blobs()].filter((b) => b.type === 'data').map((b) => b.packId))
    assert.ok(dataPacks.size > 0)
    for (const pack of dataPacks) await backend.remove({ type: 'data', name: pack })
    const s = await startWebDavServer(fresh, { listen: '127.0.0.1:0' })
    try {
      const r = await rawRequest(s.url, 'GET', '/snapshots/latest/f.bin')
      assert.equal(r.status, 500)
      assert.match(r.body.toString(), /Cannot read the repository/)
    } finally {
      await s.close()
    }
  })

  it('says nothing about a client that goes away in the middle of a download', async () => {
    // Each cancelled download was logged as "GET …: Premature close", among the real problems.
    const fresh = await createTestRepository()
    await saveTestSnapshot(fresh, { files: { '/big.bin': seededBytes(6, 24 * 1024 * 1024) }, time: '2026-11-20T10:00:00Z', chunkSize: 1024 * 1024 })
    await fresh.loadIndex()
    const messages: string[] = []
    const s = await startWebDavServer(fresh, { listen: '127.0.0.1:0', onMessage: (m) => messages.push(m) })
    try {
      const { request } = await import('node:http')
      await new Promise<void>((resolve, reject) => {
        const req = request(`${s.url}snapshots/latest/big.bin`, (res) => {
          res.once('data', () => {
            req.destroy()
            resolve()
          })
        })
        req.on('error', () => {})
        req.once('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)))
        req.end()
      })
      await new Promise((r) => setTimeout(r, 500))
      assert.deepEqual(messages, [])
    } finally {
      await s.close()
    }
  })

  it('keeps decoded folders up to a number of entries in all, dropping those used longest ago', async () => {
    // Bounded by count (2048 folders), folders of many files ran the server out of memory.
    const fresh = await createTestRepository()
    const files: Record<string, string> = {}
    for (const d of ['a', 'b', 'c']) for (let i = 0; i < 6; i++) files[`/${d}/f${i}`] = `${d}${i}`
    await saveTestSnapshot(fresh, { files, time: '2026-11-20T10:00:00Z' })
    await fresh.loadIndex()
    const loads: string[] = []
    const counted = Object.assign(Object.create(fresh) as Repository, {
      loadBlob: (type: 'tree' | 'data', id: string) => (loads.push(id), fresh.loadBlob(type, id)),
    })
    const browser = new SnapshotBrowser(counted, { treeCacheEntries: 15 }) // the snapshot's top folder (3) and two others
    const list = async (d: string) => {
      const dir = await browser.resolve(['snapshots', 'latest', d].map((s) => Buffer.from(s)))
      assert.equal(dir?.kind, 'dir')
      const before = loads.length
      if (dir.kind === 'dir') assert.equal((await browser.list(dir)).length, 6)
      return loads.length - before
    }
    await list('a')
    await list('b')
    assert.equal(await list('a'), 0, 'a is kept, and now the last to go')
    await list('c') // 21 entries: b goes
    assert.equal(await list('a'), 0)
    assert.equal(await list('b'), 1, 'b was dropped')
  })

  it('asks for a login when given an htpasswd file, and refuses to serve other hosts without one', async () => {
    const htpasswd = join(dir, 'htpasswd')
    await writeFile(htpasswd, `alice:${quickHash('secret')}\n`)
    const s = await startWebDavServer(repo, { listen: '127.0.0.1:0', htpasswdFile: htpasswd })
    try {
      const anonymous = await rawRequest(s.url, 'GET', '/snapshots/latest/home/me/old.txt')
      assert.equal(anonymous.status, 401)
      assert.match(anonymous.headers['www-authenticate'], /^Basic realm="cairn"/)
      const wrong = await rawRequest(s.url, 'GET', '/snapshots/latest/home/me/old.txt', { headers: { Authorization: basic('alice', 'nope') } })
      assert.equal(wrong.status, 401)
      const ok = await rawRequest(s.url, 'GET', '/snapshots/latest/home/me/old.txt', { headers: { Authorization: basic('alice', 'secret') } })
      assert.equal(ok.body.toString(), 'second version')
    } finally {
      await s.close()
    }
    await assert.rejects(startWebDavServer(repo, { listen: '0.0.0.0:0' }), /without a login would let anybody/)
  })

  it('without a login, answers only requests addressed to a loopback name (no DNS rebinding)', async () => {
    // Any Host was answered: a hostile page whose name resolves to 127.0.0.1 could read every file.
    const file = '/snapshots/latest/home/me/old.txt'
    for (const host of ['localhost', '127.0.0.1', '[::1]']) {
      const port = new URL(server.url).port
      assert.equal((await get(file, { Host: `${host}:${port}` })).status, 200, host)
    }
    const evil = await get(file, { Host: 'evil.example:8080' })
    assert.equal(evil.status, 403)
    assert.doesNotMatch(evil.body.toString(), /old/)
    assert.equal((await get('/', { Host: 'evil.example' }, 'PROPFIND')).status, 403)
    // --no-auth says the user wants no check at all (a reverse proxy in front, say).
    const proxied = await startWebDavServer(repo, { listen: '127.0.0.1:0', noAuth: true })
    try {
      assert.equal((await rawRequest(proxied.url, 'GET', file, { headers: { Host: 'backups.example' } })).status, 200)
    } finally {
      await proxied.close()
    }
  })

  it('serves a repository through the CLI to rclone, a real WebDAV client, names that are not UTF-8 included', { skip: hasRclone ? false : 'rclone is not installed' }, async () => {
    const src = join(dir, 'src')
    await mkdir(join(src, 'docs'), { recursive: true })
    await writeFile(join(src, 'docs', 'big.bin'), BIG)
    await writeFile(join(src, 'docs', 'a & b.txt'), 'xml')
    await writeFile(Buffer.from(join(src, 'docs') + '/' + ODD_NAME.toString('latin1'), 'latin1'), 'odd')
    const repoDir = join(dir, 'repo')
    const env = { CAIRN_CACHE_DIR: join(dir, 'cache'), RCLONE_CONFIG: '/dev/null' }
    assert.equal((await run(process.execPath, [cairnBin, '-r', repoDir, 'init'], env)).code, 0)
    const backup = await run(process.execPath, [cairnBin, '-r', repoDir, 'backup', src], env)
    assert.equal(backup.code, 0, backup.stderr)

    const child = spawn(process.execPath, [cairnBin, '-r', repoDir, 'serve', 'webdav', '--listen', '127.0.0.1:0'], { env: { ...process.env, ...env, CAIRN_PASSWORD: PASSWORD } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)))
    try {
      await waitUntil(() => /read-only on (http:\S+)/.test(stdout), 20_000)
      const url = /read-only on (http:\S+)/.exec(stdout)![1]
      const docs = `snapshots/latest${src}/docs`
      assert.equal((await rawRequest(url, 'GET', `/${docs}/odd%FF.txt`)).body.toString(), 'odd')
      const lsf = await run('rclone', ['lsf', '--webdav-url', url, `:webdav:${docs}`], env)
      assert.equal(lsf.code, 0, lsf.stderr)
      assert.deepEqual(lsf.stdout.split('\n').filter((l) => l !== '').sort(), ['a & b.txt', 'big.bin', 'odd\ufffd.txt'])
      const target = join(dir, 'copy')
      const copy = await run('rclone', ['copy', '--webdav-url', url, `:webdav:${docs}`, target, '--exclude', 'odd*'], env)
      assert.equal(copy.code, 0, copy.stderr)
      assert.deepEqual(await readFile(join(target, 'big.bin')), BIG)
      assert.equal(await readFile(join(target, 'a & b.txt'), 'utf8'), 'xml')
      const locks = await readdir(join(repoDir, 'locks'))
      assert.equal(locks.length, 1, 'the repository is locked while it is served')
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await exited, 0, stderr)
    assert.deepEqual(await readdir(join(repoDir, 'locks')), [], 'and the lock is gone once the server stops')
  })
})


