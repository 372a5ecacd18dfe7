import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { hashId, randomId } from '../../base/index.js'
import type { Backend, FileType, Handle } from '../backend.js'
import { NotFoundError } from '../errors.js'
import { MemoryBackend } from '../memory/memory-backend.js'
import { runConformanceSuite } from '../testing/conformance.js'
import { FaultyBackend } from '../testing/faulty.js'
import { LocalBackend } from '../local/local-backend.js'
import { Cache, CACHEDIR_TAG } from './cache.js'
import { cachedBackend, withCache } from './cache-backend.js'

let root: string
before(async () => {
  root = await fs.mkdtemp(join(tmpdir(), 'cairn-cache-'))
})
after(async () => {
  await fs.rm(root, { recursive: true, force: true })
})

function file(type: FileType, size = 200): { h: Handle; data: Buffer } {
  const data = randomBytes(size)
  return { h: { type, name: hashId(data) }, data }
}

let n = 0
/** A counting backend behind a cache in a new directory. */
async function setup(): Promise<{ faulty: FaultyBackend; cache: Cache; be: Backend; warnings: string[] }> {
  const faulty = new FaultyBackend(new MemoryBackend())
  const cache = await Cache.open(join(root, `base-${n++}`), randomId())
  const warnings: string[] = []
  return { faulty, cache, be: withCache(faulty, cache, { onWarning: (m) => warnings.push(m) }), warnings }
}

runConformanceSuite('cached MemoryBackend', async () => withCache(new MemoryBackend(), await Cache.open(join(root, `conf-${n++}`), randomId())))

describe('Cache.open()', () => {
  it("creates restic's layout: CACHEDIR.TAG, version and one folder per cached type", async () => {
    const base = join(root, 'layout')
    const id = randomId()
    const cache = await Cache.open(base, id)
    assert.equal(cache.created, true)
    assert.equal(cache.dir, join(base, id))
    assert.equal(await fs.readFile(join(base, 'CACHEDIR.TAG'), 'utf8'), CACHEDIR_TAG)
    assert.ok(CACHEDIR_TAG.startsWith('Signature: 8a477f597d28d172789f06886806bc55\n'))
    assert.equal(await fs.readFile(join(base, id, 'version'), 'utf8'), '1')
    assert.deepEqual((await fs.readdir(join(base, id))).sort(), ['data', 'index', 'snapshots', 'version'])
    const { h, data } = file('snapshots')
    await cache.write(h, data)
    assert.ok(existsSync(join(base, id, 'snapshots', h.name.slice(0, 2), h.name)))
  })

  it('marks the cache used on every open (its directory mtime)', async () => {
    const base = join(root, 'mtime')
    const id = randomId()
    await Cache.open(base, id)
    const old = new Date(Date.now() - 40 * 24 * 3600 * 1000)
    await fs.utimes(join(base, id), old, old)
    const again = await Cache.open(base, id)
    assert.equal(again.created, false)
    assert.ok((await fs.stat(join(base, id))).mtimeMs > Date.now() - 60_000)
  })

  it('refuses a cache written by a newer layout', async () => {
    const base = join(root, 'newer')
    const id = randomId()
    await Cache.open(base, id)
    await fs.writeFile(join(base, id, 'version'), '2')
    await assert.rejects(Cache.open(base, id), /newer version/)
  })
})

describe('cachedBackend()', () => {
  it('warns and goes on without a cache when the directory cannot be created', async () => {
    const blocker = join(root, 'blocker')
    await fs.writeFile(blocker, 'a file where the cache directory should be')
    const warnings: string[] = []
    const mem = new MemoryBackend()
    const be = await cachedBackend(mem, { dir: join(blocker, 'cache'), repositoryId: randomId(), onWarning: (m) => warnings.push(m) })
    assert.equal(be, mem)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0], /^Cannot create the cache directory ".*blocker\/cache\/[0-9a-f]{64}": .*; continuing without a local cache$/)
  })
})

describe('withCache()', () => {
  it('loads index and snapshot files from the backend once, then from the cache', async () => {
    const { faulty, be } = await setup()
    for (const type of ['index', 'snapshots'] as const) {
      const { h, data } = file(type)
      await faulty.inner.save(h, data)
      assert.deepEqual(await be.load(h), data)
      assert.deepEqual(await be.load(h), data)
      assert.deepEqual(await be.load(h, 10, 50), data.subarray(10, 60))
      assert.equal(faulty.count('load', type), 1, type)
    }
  })

  it('caches data packs only when flagged as metadata, and serves their ranges from the cache', async () => {
    const { faulty, be, cache } = await setup()
    const tree = file('data', 5000)
    const blobs = file('data', 5000)
    await faulty.inner.save(tree.h, tree.data)
    await faulty.inner.save(blobs.h, blobs.data)
    const flagged = { ...tree.h, isMetadata: true }
    assert.deepEqual(await be.load(flagged, 100, 200), tree.data.subarray(100, 300), 'a ranged first load fetches the whole pack')
    assert.deepEqual(await be.load(flagged), tree.data)
    assert.deepEqual(await be.load(flagged, 4000), tree.data.subarray(4000))
    assert.equal(faulty.count('load'), 1)
    assert.deepEqual(faulty.calls.find((c) => c.op === 'load'), { op: 'load', h: flagged, bytes: 5000 }, 'fetched whole, not the range')
    await assert.rejects(be.load(flagged, 4990, 20), /too short/)
    await be.load(blobs.h)
    await be.load(blobs.h, 0, 10)
    await be.load(tree.h, 0, 10) // not flagged: data is never read from the cache
    assert.equal(faulty.count('load'), 4)
    assert.deepEqual(await cache.names('data'), [tree.h.name])
  })

  it('loadInto() serves ranges of cached packs from the cache and the others from the backend, into the memory given', async () => {
    const local = new LocalBackend(join(root, `local-${n++}`))
    await local.create()
    const be = withCache(local, await Cache.open(join(root, `base-${n++}`), randomId()), {})
    const tree = file('data', 5000)
    const blobs = file('data', 5000)
    await local.save(tree.h, tree.data)
    await local.save(blobs.h, blobs.data)
    const memory = Buffer.from(new SharedArrayBuffer(8000))
    for (const h of [{ ...tree.h, isMetadata: true }, blobs.h]) {
      const data = h.name === tree.h.name ? tree.data : blobs.data
      const got = await be.loadInto!(h, (size) => memory.subarray(0, size), 100, 200)
      assert.deepEqual(got, data.subarray(100, 300))
      assert.equal(got.buffer, memory.buffer)
      assert.deepEqual(await be.loadInto!(h, (size) => memory.subarray(0, size)), data)
    }
    await local.remove(tree.h)
    assert.deepEqual(await be.loadInto!({ ...tree.h, isMetadata: true }, (size) => memory.subarray(0, size), 4000), tree.data.subarray(4000), 'from the cache')
  })

  it('never caches config, keys or locks', async () => {
    const { faulty, be, cache } = await setup()
    await be.save({ type: 'config', name: '' }, Buffer.from('config'))
    for (const type of ['keys', 'locks'] as const) {
      const { h, data } = file(type)
      await be.save(h, data)
      await be.load(h)
      await be.load(h)
      assert.equal(faulty.count('load', type), 2)
    }
    await be.load({ type: 'config', name: '' })
    await be.load({ type: 'config', name: '' })
    assert.equal(faulty.count('load', 'config'), 2)
    for (const folder of ['data', 'index', 'snapshots']) assert.deepEqual(await fs.readdir(join(cache.dir, folder)), [])
  })

  it('stores saved index and snapshot files and flagged packs, so they are never downloaded', async () => {
    const { faulty, be, cache } = await setup()
    const idx = file('index')
    const snap = file('snapshots')
    const tree = file('data')
    const blobs = file('data')
    await be.save(idx.h, idx.data)
    await be.save(snap.h, snap.data)
    await be.save({ ...tree.h, isMetadata: true }, tree.data)
    await be.save(blobs.h, blobs.data)
    assert.deepEqual(await be.load(idx.h), idx.data)
    assert.deepEqual(await be.load(snap.h), snap.data)
    assert.deepEqual(await be.load({ ...tree.h, isMetadata: true }), tree.data)
    assert.equal(faulty.count('load'), 0)
    assert.deepEqual(await cache.names('data'), [tree.h.name])
  })

  it('detects a damaged cached file, drops it, warns and loads the file again', async () => {
    const { faulty, be, cache, warnings } = await setup()
    const { h, data } = file('snapshots')
    await faulty.inner.save(h, data)
    await be.load(h)
    const path = cache.path(h)
    const bad = Buffer.from(data)
    bad[7] ^= 0xff
    await fs.writeFile(path, bad)
    assert.deepEqual(await be.load(h), data)
    assert.equal(faulty.count('load'), 2)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0], new RegExp(`^Cached file "snapshots/${h.name}" in ".*" is damaged: removed it, loading it from the repository again$`))
    assert.deepEqual(await fs.readFile(path), data, 'the good copy is cached again')
    assert.deepEqual(await be.load(h), data)
    assert.equal(faulty.count('load'), 2)
  })

  it('does not cache a backend file that does not match its name', async () => {
    const { faulty, be, cache } = await setup()
    const h: Handle = { type: 'index', name: hashId(Buffer.from('what it should be')) }
    await faulty.inner.save(h, Buffer.from('damaged in the repository'))
    assert.deepEqual(await be.load(h), Buffer.from('damaged in the repository'), 'returned: the repository layer reports it')
    assert.deepEqual(await cache.names('index'), [])
    await be.load(h)
    assert.equal(faulty.count('load'), 2)
  })

  it('downloads a file once when many load it at the same time', async () => {
    const { faulty, be } = await setup()
    const { h, data } = file('index', 10_000)
    await faulty.inner.save(h, data)
    faulty.delays.load = 20
    const all = await Promise.all(Array.from({ length: 8 }, () => be.load(h)))
    for (const d of all) assert.deepEqual(d, data)
    assert.equal(faulty.count('load'), 1)
    all[0].fill(0)
    assert.deepEqual(all[1], data, 'each caller owns its buffer')
  })

  it('removes a file from the cache when it is removed through the wrapper', async () => {
    const { be, cache } = await setup()
    const { h, data } = file('snapshots')
    await be.save(h, data)
    assert.ok(existsSync(cache.path(h)))
    await be.remove(h)
    assert.ok(!existsSync(cache.path(h)))
    await assert.rejects(be.load(h), NotFoundError)
  })

  it('drops cached files the backend no longer lists, after a complete listing only', async () => {
    const { faulty, be, cache } = await setup()
    const files = Array.from({ length: 4 }, () => file('snapshots'))
    for (const f of files) await be.save(f.h, f.data)
    await faulty.inner.remove(files[0].h) // forgotten by another client
    await faulty.inner.remove(files[1].h)
    for await (const _ of be.list('snapshots')) break // an abandoned listing proves nothing
    assert.equal((await cache.names('snapshots')).length, 4)
    const listed: string[] = []
    for await (const fi of be.list('snapshots')) listed.push(fi.name)
    assert.equal(listed.length, 2)
    assert.deepEqual((await cache.names('snapshots')).sort(), [files[2].h.name, files[3].h.name].sort())
    await assert.rejects(be.load(files[0].h), NotFoundError)
  })

  it('drops a cached file when stat() finds it gone from the backend', async () => {
    const { faulty, be, cache } = await setup()
    const { h, data } = file('index')
    await be.save(h, data)
    await faulty.inner.remove(h)
    await assert.rejects(be.stat(h), NotFoundError)
    assert.ok(!existsSync(cache.path(h)))
  })

  it('warns once and goes on when the cache cannot be written', async () => {
    const { faulty, be, cache, warnings } = await setup()
    await fs.rm(join(cache.dir, 'index'), { recursive: true })
    await fs.writeFile(join(cache.dir, 'index'), 'not a directory')
    const a = file('index')
    const b = file('index')
    await be.save(a.h, a.data)
    await faulty.inner.save(b.h, b.data)
    assert.deepEqual(await be.load(b.h), b.data)
    assert.deepEqual(await be.load(a.h), a.data)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0], /^Cannot write to the cache ".*": .*; new files are not cached in this run$/)
  })

  it('warns once also when several writes under way fail together', async () => {
    const { faulty, be, cache, warnings } = await setup()
    await fs.rm(join(cache.dir, 'index'), { recursive: true })
    await fs.writeFile(join(cache.dir, 'index'), 'not a directory')
    const files = [file('index'), file('index'), file('index')]
    for (const f of files) await faulty.inner.save(f.h, f.data)
    const loaded = await Promise.all(files.map((f) => be.load(f.h)))
    loaded.forEach((b, i) => assert.deepEqual(b, files[i].data))
    assert.equal(warnings.length, 1, warnings.join('\n'))
  })
})
