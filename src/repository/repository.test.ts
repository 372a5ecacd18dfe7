import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AppError, hashId, isAppError, type Id } from '../base/index.js'
import { MemoryBackend, type Backend, type FileInfo, type FileType, type Handle } from '../backends/index.js'
import { open } from '../crypto/index.js'
import { plaintextLength } from './blob.js'
import { zstdDecompress } from './compression.js'
import { decodeIndex } from './index/index-file.js'
import { readPackHeader } from './pack/pack-reader.js'
import { withMembers } from '../backends/testing/overrides.js'
import { Repository } from './repository.js'
import { createTestRepository, seededBytes, TEST_PASSWORD, TEST_POLYNOMIAL } from './testing.js'

/**
 * A backend that forwards to a MemoryBackend, records the order of saves, and fails saves of the
 * types listed in `failSaves`.
 */
class RecordingBackend implements Backend {
  readonly inner = new MemoryBackend('recording')
  readonly saves: Handle[] = []
  failSaves = new Set<FileType>()
  get location() {
    return this.inner.location
  }
  get properties() {
    return this.inner.properties
  }
  create() {
    return this.inner.create()
  }
  async save(h: Handle, data: Uint8Array) {
    if (this.failSaves.has(h.type)) throw new AppError('IO', `injected failure saving ${h.type}/${h.name}`)
    await this.inner.save(h, data)
    this.saves.push(h)
  }
  load(h: Handle, offset?: number, length?: number) {
    return this.inner.load(h, offset, length)
  }
  stat(h: Handle): Promise<FileInfo> {
    return this.inner.stat(h)
  }
  list(type: FileType) {
    return this.inner.list(type)
  }
  remove(h: Handle) {
    return this.inner.remove(h)
  }
  close() {
    return this.inner.close()
  }
}

async function list(be: Backend, type: FileType): Promise<FileInfo[]> {
  const out: FileInfo[] = []
  for await (const f of be.list(type)) out.push(f)
  return out
}

/** Replaces a stored file by `mutate(content)` under the same name (backends never do this). */
async function tamper(be: Backend, h: Handle, mutate: (b: Buffer) => void): Promise<void> {
  const bytes = await be.load(h)
  mutate(bytes)
  await be.remove(h)
  await be.save(h, bytes)
}

/** Fails instead of hanging when `p` does not settle within `ms`. */
async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Compressible but not trivial: text lines with counters. */
function textBytes(seed: number, n: number): Buffer {
  const lines: string[] = []
  let size = 0
  for (let i = 0; size < n; i++) {
    const line = `line ${seed}.${i}: the quick brown fox jumps over the lazy dog\n`
    lines.push(line)
    size += line.length
  }
  return Buffer.from(lines.join('')).subarray(0, n)
}

describe('Repository.init() and open()', () => {
  it('open() with the right password gives the same config and key', async () => {
    const be = new MemoryBackend()
    const created = await createTestRepository({ backend: be })
    const repo = await Repository.open(be, TEST_PASSWORD)
    assert.deepEqual(repo.config, created.config)
    assert.equal(repo.config.version, 2)
    assert.equal(repo.config.chunkerPolynomial, TEST_POLYNOMIAL)
    assert.equal(repo.keyId, created.keyId)
    assert.deepEqual((await list(be, 'keys')).map((f) => f.name), [created.keyId])
  })

  it('open() with a wrong password fails with WRONG_PASSWORD', async () => {
    const be = new MemoryBackend()
    await createTestRepository({ backend: be })
    await assert.rejects(Repository.open(be, 'not the password'), (err) => isAppError(err, 'WRONG_PASSWORD'))
  })

  it('open() finds a second key added with addKey()', async () => {
    const be = new MemoryBackend()
    const repo = await createTestRepository({ backend: be })
    const id2 = await repo.addKey('second', { N: 1024, r: 8, p: 1 }, { username: 'u', hostname: 'h' })
    const again = await Repository.open(be, 'second')
    assert.equal(again.keyId, id2)
    assert.equal(again.config.id, repo.config.id)
  })

  it('open() on an empty backend fails with NO_REPOSITORY', async () => {
    await assert.rejects(Repository.open(new MemoryBackend(), TEST_PASSWORD), (err) => isAppError(err, 'NO_REPOSITORY'))
  })

  it('init() refuses an existing repository and an empty password', async () => {
    const be = new MemoryBackend()
    await createTestRepository({ backend: be })
    await assert.rejects(createTestRepository({ backend: be }), (err) => isAppError(err, 'REPOSITORY_EXISTS'))
    await assert.rejects(createTestRepository({ backend: new MemoryBackend(), password: '' }), (err) => isAppError(err, 'NO_PASSWORD'))
  })

  it('names a key file that is damaged, which a wrong password cannot be told from', async () => {
    const be = new MemoryBackend()
    const repo = await createTestRepository({ backend: be })
    const [name] = await repo.listIds('keys')
    await tamper(be, { type: 'keys', name }, (b) => {
      b[b.length - 10] ^= 1
    })
    await assert.rejects(Repository.open(be, TEST_PASSWORD), (err) => {
      assert.ok(isAppError(err, 'WRONG_PASSWORD'))
      assert.match(err.message, new RegExp(`key file ${name.slice(0, 8)} is damaged`))
      assert.match(err.hint ?? '', /copy of keys\//)
      return true
    })
  })

  it('a repository that lost its config file is not mistaken for an empty location', async () => {
    // init over it used to succeed, with a new key and config that left its snapshots unreadable.
    const be = new MemoryBackend()
    const repo = await createTestRepository({ backend: be })
    await repo.saveUnpacked('snapshots', Buffer.from('{}'))
    await be.remove({ type: 'config', name: '' })
    await assert.rejects(Repository.open(be, TEST_PASSWORD), (err) => {
      assert.ok(isAppError(err, 'INVALID_DATA'))
      assert.match(err.message, /config file is missing, though it holds 1 key file and 1 snapshot/)
      assert.doesNotMatch(err.hint ?? '', /run "cairn init" to/)
      return true
    })
    await assert.rejects(createTestRepository({ backend: be }), (err) => isAppError(err, 'REPOSITORY_EXISTS') && /no config file but holds 1 key file/.test(err.message))
    assert.equal((await repo.listIds('keys')).length, 1, 'no key was added')
  })

  it('init over what an init cut short left (key files only) starts afresh', async () => {
    // Refused before, with a hint to restore a config file that never existed.
    const be = new MemoryBackend()
    const repo = await createTestRepository({ backend: be })
    const [leftover] = await repo.listIds('keys')
    await be.remove({ type: 'config', name: '' })
    await assert.rejects(Repository.open(be, TEST_PASSWORD), (err) => isAppError(err, 'NO_REPOSITORY') && /no repository found there/.test(err.message))
    const again = await createTestRepository({ backend: be })
    const keys = await again.listIds('keys')
    assert.equal(keys.length, 1)
    assert.notEqual(keys[0], leftover, 'the leftover key is gone')
    await Repository.open(be, TEST_PASSWORD)
  })
})

describe('Repository unpacked files', () => {
  it('saveUnpacked() in v2 seals a zstd frame behind encoding byte 2, and loadUnpacked() reads it back', async () => {
    const repo = await createTestRepository()
    const json = Buffer.from(JSON.stringify({ hello: 'world', n: [1, 2, 3] }))
    const id = await repo.saveUnpacked('snapshots', json)
    const stored = await repo.backend.load({ type: 'snapshots', name: id })
    assert.equal(hashId(stored), id)
    const plain = open(repo.key, stored)
    assert.equal(plain[0], 2)
    assert.deepEqual(zstdDecompress(plain.subarray(1)), json)
    assert.deepEqual(await repo.loadUnpacked('snapshots', id), json)
  })

  it('saveUnpacked() in v1 seals the JSON itself', async () => {
    const repo = await createTestRepository({ version: 1 })
    const json = Buffer.from('{"a":1}')
    const id = await repo.saveUnpacked('locks', json)
    assert.deepEqual(open(repo.key, await repo.backend.load({ type: 'locks', name: id })), json)
    assert.deepEqual(await repo.loadUnpacked('locks', id), json)
  })

  it('loadUnpacked() in v2 accepts raw JSON without an encoding byte', async () => {
    const repo = await createTestRepository()
    const json = Buffer.from('{"raw":true}')
    const { seal } = await import('../crypto/index.js')
    const bytes = seal(repo.key, json)
    const id = hashId(bytes)
    await repo.backend.save({ type: 'snapshots', name: id }, bytes)
    assert.deepEqual(await repo.loadUnpacked('snapshots', id), json)
  })

  it('loadUnpacked() of a file with a flipped byte fails with INVALID_DATA naming the file', async () => {
    const repo = await createTestRepository()
    const id = await repo.saveUnpacked('index', Buffer.from('{"packs":[]}\n'))
    await tamper(repo.backend, { type: 'index', name: id }, (b) => {
      b[b.length >> 1] ^= 0x01
    })
    await assert.rejects(
      repo.loadUnpacked('index', id),
      (err) => isAppError(err, 'INVALID_DATA') && err.message.includes(`index/${id}`),
    )
  })

  it('loadUnpacked() of a file renamed after its damaged content fails the MAC check', async () => {
    const repo = await createTestRepository()
    const id = await repo.saveUnpacked('snapshots', Buffer.from('{"x":1}'))
    const bytes = await repo.backend.load({ type: 'snapshots', name: id })
    bytes[20] ^= 0x80
    const badId = hashId(bytes)
    await repo.backend.save({ type: 'snapshots', name: badId }, bytes)
    await assert.rejects(
      repo.loadUnpacked('snapshots', badId),
      (err) => isAppError(err, 'INVALID_DATA') && err.message.includes(`snapshots/${badId}`) && /decrypted/.test(err.message),
    )
  })
})

describe('Repository.withWriter()', () => {
  it('stores data and tree blobs in separate packs, trees compressed, random data uncompressed', async () => {
    const repo = await createTestRepository({ workers: true })
    const random = seededBytes(1, 50_000)
    const text = textBytes(1, 50_000)
    const tree = Buffer.from(`{"nodes":[${'{"name":"a"},'.repeat(50)}{"name":"b"}]}\n`)
    const tinyTree = Buffer.from('{"nodes":[]}\n')
    const results = await repo.withWriter(async (w) => [
      await w.saveBlob('data', random),
      await w.saveBlob('data', text),
      await w.saveBlob('tree', tree),
      await w.saveBlob('tree', tinyTree),
    ])
    assert.deepEqual(
      results.map((r) => r.known),
      [false, false, false, false],
    )
    assert.equal(results[0].id, hashId(random))
    const packs = await list(repo.backend, 'data')
    assert.equal(packs.length, 2)
    for (const p of packs) {
      const header = await readPackHeader(repo.backend, repo.key, p.name, p.size)
      assert.equal(new Set(header.map((b) => b.type)).size, 1, 'a pack holds one blob type')
    }
    const loc = (type: 'data' | 'tree', data: Buffer) => repo.index.lookup(type, hashId(data))!
    assert.equal(loc('data', random).uncompressedLength, 0, 'random data is stored as is')
    assert.equal(loc('data', random).length, random.length + 32)
    assert.equal(loc('data', text).uncompressedLength, text.length, 'text is compressed')
    assert.ok(loc('data', text).length < text.length / 2)
    assert.equal(loc('tree', tree).uncompressedLength, tree.length)
    // even a tree that does not shrink is stored compressed (restic's prune repacks others)
    assert.equal(loc('tree', tinyTree).uncompressedLength, tinyTree.length)
    assert.notEqual(loc('data', random).packId, loc('tree', tree).packId)
    assert.deepEqual(await repo.loadBlob('data', hashId(text)), text)
    assert.deepEqual(await repo.loadBlob('tree', hashId(tinyTree)), tinyTree)
  })

  it('loadBlobWith() gives the plaintext to a function in reused buffers, and passes its errors on as they are', async () => {
    const repo = await createTestRepository()
    const trees = [textBytes(5, 30_000), textBytes(6, 2_000), Buffer.from('{"nodes":[]}\n')]
    await repo.withWriter(async (w) => {
      for (const t of trees) await w.saveBlob('tree', t)
    })
    const buffers = new Set<ArrayBufferLike>()
    for (const t of trees) {
      const copy = await repo.loadBlobWith('tree', hashId(t), (plain) => {
        buffers.add(plain.buffer)
        return Buffer.from(plain)
      })
      assert.deepEqual(copy, t)
    }
    assert.equal(buffers.size, 1, 'one buffer for every tree: nothing blob-sized allocated per call')
    // Loaded concurrently, each function still sees its own tree.
    const got = await Promise.all(trees.map((t) => repo.loadBlobWith('tree', hashId(t), (plain) => hashId(plain))))
    assert.deepEqual(got, trees.map(hashId))
    const mistake = new Error('the function failed')
    await assert.rejects(repo.loadBlobWith('tree', hashId(trees[0]), () => {
      throw mistake
    }), (err) => err === mistake)
    await assert.rejects(repo.loadBlobWith('tree', hashId(Buffer.from('absent')), () => 1), (err) => isAppError(err, 'NOT_FOUND'))
  })

  it('a v1 repository never compresses', async () => {
    const repo = await createTestRepository({ version: 1 })
    const text = textBytes(2, 10_000)
    await repo.withWriter(async (w) => {
      await w.saveBlob('data', text)
      await w.saveBlob('tree', Buffer.from('{"nodes":[]}\n'))
    })
    for (const b of repo.index.blobs()) assert.equal(b.uncompressedLength, 0)
    assert.deepEqual(await repo.loadBlob('data', hashId(text)), text)
  })

  it('finishes a pack once it reaches the pack size', async () => {
    const repo = await createTestRepository()
    const packSize = 64 * 1024
    const blobs = Array.from({ length: 20 }, (_, i) => seededBytes(100 + i, 10_000 + i * 500))
    await repo.withWriter(
      async (w) => {
        for (const b of blobs) await w.saveBlob('data', b)
      },
      { packSize },
    )
    const packs = [...repo.index.packs()]
    const total = blobs.reduce((n, b) => n + b.length + 32, 0)
    assert.ok(packs.length >= Math.floor(total / (packSize + 30_000)) && packs.length > 1, `${packs.length} packs`)
    let small = 0
    for (const p of packs) {
      const bytes = p.blobs.reduce((n, b) => n + b.length, 0)
      const largest = Math.max(...p.blobs.map((b) => b.length))
      if (bytes < packSize) small++
      // the pack was closed by its last blob: without it, it was below the target
      assert.ok(bytes - largest < packSize, `pack of ${bytes} bytes was closed too late`)
    }
    assert.ok(small <= 1, 'only the last pack may be smaller than the target')
    for (const b of blobs) assert.deepEqual(await repo.loadBlob('data', hashId(b)), b)
  })

  it('writes index files only after the packs they list', async () => {
    const be = new RecordingBackend()
    const repo = await createTestRepository({ backend: be, workers: true })
    await repo.withWriter(
      async (w) => {
        for (let i = 0; i < 12; i++) await w.saveBlob(i % 3 ? 'data' : 'tree', seededBytes(200 + i, 9_000))
      },
      { packSize: 20_000 },
    )
    const order = be.saves.filter((h) => h.type === 'data' || h.type === 'index')
    const firstIndex = order.findIndex((h) => h.type === 'index')
    assert.ok(firstIndex > 0, 'an index was written')
    assert.ok(order.slice(firstIndex).every((h) => h.type === 'index'), 'no pack after the index')
    const indexIds = order.filter((h) => h.type === 'index').map((h) => h.name)
    const listed = new Set<Id>()
    for (const id of indexIds) for (const p of decodeIndex(await repo.loadUnpacked('index', id)).packs) listed.add(p.id)
    assert.deepEqual([...listed].sort(), order.filter((h) => h.type === 'data').map((h) => h.name).sort())
  })

  it('deduplicates a blob within one writer and across writers', async () => {
    const repo = await createTestRepository()
    const a = seededBytes(300, 5000)
    const b = seededBytes(301, 5000)
    const first = await repo.withWriter(async (w) => {
      const r1 = await w.saveBlob('data', a)
      const r2 = await w.saveBlob('data', a)
      assert.equal(w.has('data', hashId(a)), true)
      assert.equal(w.has('tree', hashId(a)), false)
      return [r1, r2]
    })
    assert.deepEqual(
      first.map((r) => r.known),
      [false, true],
    )
    const packsBefore = (await list(repo.backend, 'data')).length
    const second = await repo.withWriter(async (w) => [await w.saveBlob('data', a), await w.saveBlob('data', b), await w.saveBlob('tree', a)])
    assert.deepEqual(
      second.map((r) => r.known),
      [true, false, false],
    )
    assert.equal(repo.index.lookupAll('data', hashId(a)).length, 1)
    assert.equal((await list(repo.backend, 'data')).length, packsBefore + 2)
  })

  it('does not stall on compressible data whose packs fill slowly', async () => {
    const repo = await createTestRepository()
    const blobs = Array.from({ length: 120 }, (_, i) => textBytes(1000 + i, 20_000))
    // 2.4 MB of plaintext compresses to a few KB: far below the pack size, far above the queue limit
    await withTimeout(
      repo.withWriter(
        async (w) => {
          for (const b of blobs) await w.saveBlob('data', b)
        },
        { packSize: 64 * 1024, maxQueuedBytes: 128 * 1024, threads: 0 },
      ),
      10_000,
    )
    for (const b of [blobs[0], blobs[119]]) assert.deepEqual(await repo.loadBlob('data', hashId(b)), b)
  })

  it('a failing encoder wakes a saveBlob() that waits for queue space', async () => {
    const repo = await createTestRepository()
    const encoder = {
      encode: () => new Promise<never>((_, reject) => setTimeout(() => reject(new AppError('INTERNAL', 'encoder broke')), 20)),
      close: async () => {},
    }
    await assert.rejects(
      withTimeout(
        repo.withWriter((w) => w.saveBlob('data', seededBytes(450, 10_000)), { packSize: 1000, encoder }),
        5_000,
      ),
      /encoder broke/,
    )
    assert.equal((await list(repo.backend, 'index')).length, 0)
  })

  it('writes nothing when the callback throws', async () => {
    const repo = await createTestRepository()
    await assert.rejects(
      repo.withWriter(async (w) => {
        await w.saveBlob('data', seededBytes(400, 1000))
        throw new Error('boom')
      }),
      /boom/,
    )
    assert.equal((await list(repo.backend, 'index')).length, 0)
    assert.equal((await list(repo.backend, 'data')).length, 0)
  })

  it('a failing pack upload surfaces from the flush, and no index is written', async () => {
    const be = new RecordingBackend()
    const repo = await createTestRepository({ backend: be, workers: true })
    be.failSaves.add('data')
    await assert.rejects(
      repo.withWriter(async (w) => {
        await w.saveBlob('data', seededBytes(500, 1000))
        await w.saveBlob('tree', Buffer.from('{"nodes":[]}\n'))
      }),
      (err) => isAppError(err, 'IO') && /injected failure saving data/.test(err.message),
    )
    assert.equal((await list(be, 'index')).length, 0)
    assert.equal(repo.index.size, 0)
  })

  it('a failing pack upload stops later saveBlob() calls', async () => {
    const be = new RecordingBackend()
    const repo = await createTestRepository({ backend: be })
    be.failSaves.add('data')
    let calls = 0
    await assert.rejects(
      repo.withWriter(
        async (w) => {
          for (let i = 0; i < 50; i++) {
            calls++
            await w.saveBlob('data', seededBytes(600 + i, 3000))
            await new Promise((r) => setImmediate(r))
          }
        },
        { packSize: 4000, uploadConcurrency: 1 },
      ),
      (err) => isAppError(err, 'IO'),
    )
    assert.ok(calls < 50, 'the writer reports the failure before the end')
    assert.equal((await list(be, 'index')).length, 0)
  })

  it('a failing index upload surfaces from the flush', async () => {
    const be = new RecordingBackend()
    const repo = await createTestRepository({ backend: be })
    be.failSaves.add('index')
    await assert.rejects(
      repo.withWriter((w) => w.saveBlob('data', seededBytes(700, 1000))),
      (err) => isAppError(err, 'IO') && /saving index/.test(err.message),
    )
  })
})

describe('Repository reads', () => {
  async function filledRepository(): Promise<{ be: MemoryBackend; blobs: Buffer[] }> {
    const be = new MemoryBackend()
    const repo = await createTestRepository({ backend: be })
    const blobs = [
      ...Array.from({ length: 10 }, (_, i) => seededBytes(800 + i, 3000 + i * 100)),
      ...Array.from({ length: 10 }, (_, i) => textBytes(i, 4000)),
    ]
    await repo.withWriter(
      async (w) => {
        for (const b of blobs) await w.saveBlob('data', b)
        await w.saveBlob('tree', Buffer.from('{"nodes":[]}\n'))
      },
      { packSize: 16_000 },
    )
    return { be, blobs }
  }

  it('loadBlob() works in a freshly opened repository after loadIndex()', async () => {
    const { be, blobs } = await filledRepository()
    const repo = await Repository.open(be, TEST_PASSWORD)
    await assert.rejects(repo.loadBlob('data', hashId(blobs[0])), (err) => isAppError(err, 'NOT_FOUND'))
    const loaded: Id[] = []
    await repo.loadIndex({ onFile: (id) => loaded.push(id) })
    assert.equal(loaded.length, (await list(be, 'index')).length)
    for (const b of blobs) assert.deepEqual(await repo.loadBlob('data', hashId(b)), b)
    assert.equal(repo.blobSize('data', hashId(blobs[3])), blobs[3].length)
    assert.equal(repo.blobSize('tree', hashId(blobs[3])), undefined)
  })

  it('loadIndex() finds the copy of a blob in the index file with the lower ID, whichever file loads first', async () => {
    // Files were added as their loads ended: which copy of a duplicated blob came first (and so
    // which one prune kept) changed from run to run, and a dry run could plan other than the run.
    const be = new MemoryBackend()
    const repo = await createTestRepository({ backend: be })
    const x = seededBytes(7, 3000)
    await repo.withWriter(async (w) => void (await w.saveBlob('data', x)))
    await repo.withWriter(async (w) => void (await w.saveBlob('data', x, hashId(x), { duplicate: true })))
    const files = (await list(be, 'index')).map((f) => f.name).sort()
    assert.equal(files.length, 2)
    const packs = new Set<Id>()
    for (const slow of files) {
      const load: Backend['load'] = async (h, offset, length) => {
        if (h.type === 'index' && h.name === slow) await new Promise((r) => setTimeout(r, 30))
        return be.load(h, offset, length)
      }
      const fresh = await Repository.open(withMembers<Backend>(be, { load }), TEST_PASSWORD)
      await fresh.loadIndex()
      assert.equal(fresh.index.lookupAll('data', hashId(x)).length, 2)
      packs.add(fresh.index.lookup('data', hashId(x))!.packId)
    }
    assert.equal(packs.size, 1, 'the same copy comes first either way')
  })

  it('readPackHeader() of every pack agrees with the index', async () => {
    const { be } = await filledRepository()
    const repo = await Repository.open(be, TEST_PASSWORD)
    await repo.loadIndex()
    const files = await list(be, 'data')
    assert.equal(files.length, repo.index.packCount)
    for (const f of files) {
      const header = await readPackHeader(be, repo.key, f.name)
      const indexed = repo.index.lookupAll(header[0].type, header[0].id).find((l) => l.packId === f.name)
      assert.ok(indexed)
      const fromIndex = [...repo.index.packs()].find((p) => p.id === f.name)!.blobs
      const strip = (l: typeof header) =>
        l.map(({ type, id, offset, length, uncompressedLength }) => ({ type, id, offset, length, uncompressedLength })).sort((a, b) => a.offset - b.offset)
      assert.deepEqual(strip(header), strip(fromIndex))
    }
  })

  it('readPackBlobs() visits the requested blobs in offset order with their plaintext', async () => {
    const { be, blobs } = await filledRepository()
    const repo = await Repository.open(be, TEST_PASSWORD)
    await repo.loadIndex()
    const [pack] = [...repo.index.packs()].filter((p) => p.blobs.length >= 3 && p.blobs[0].type === 'data')
    const wanted = [pack.blobs[2], pack.blobs[0]]
    const seen: Array<[Id, number]> = []
    const byId = new Map(blobs.map((b) => [hashId(b), b]))
    for (const gap of [0, 1 << 20]) {
      seen.length = 0
      await repo.readPackBlobs(pack.id, wanted, (b, plain) => {
        assert.deepEqual(plain, byId.get(b.id))
        seen.push([b.id, b.offset])
      }, gap)
      assert.deepEqual(seen, [...wanted].sort((a, b) => a.offset - b.offset).map((b) => [b.id, b.offset]))
    }
  })

  it('loadBlob() of a blob whose pack has a flipped byte fails with INVALID_DATA', async () => {
    const { be, blobs } = await filledRepository()
    const repo = await Repository.open(be, TEST_PASSWORD)
    await repo.loadIndex()
    const target = repo.index.lookup('data', hashId(blobs[5]))!
    await tamper(be, { type: 'data', name: target.packId }, (b) => {
      b[target.offset + 40] ^= 0x04
    })
    await assert.rejects(
      repo.loadBlob('data', hashId(blobs[5])),
      (err) => isAppError(err, 'INVALID_DATA') && err.message.includes(target.packId),
    )
    // other blobs of that pack are fine
    const sibling = [...repo.index.packs()].find((p) => p.id === target.packId)!.blobs.find((b) => b.id !== target.id)
    if (sibling) assert.equal((await repo.loadBlob('data', sibling.id)).length, plaintextLength(sibling))
  })

  it('loadBlob() falls back to another copy when the first is damaged', async () => {
    const be = new MemoryBackend()
    const repo = await createTestRepository({ backend: be })
    const data = seededBytes(900, 2000)
    await repo.withWriter((w) => w.saveBlob('data', data))
    const first = repo.index.lookup('data', hashId(data))!
    // a second writer that does not know the blob stores another copy
    const fresh = await Repository.open(be, TEST_PASSWORD)
    await fresh.withWriter((w) => w.saveBlob('data', data))
    await fresh.loadIndex({ force: true })
    assert.equal(fresh.index.lookupAll('data', hashId(data)).length, 2)
    await tamper(be, { type: 'data', name: first.packId }, (b) => {
      b[first.offset + 20] ^= 1
    })
    assert.deepEqual(await fresh.loadBlob('data', hashId(data)), data)
  })
})

describe('Repository cache', () => {
  it('drops cached tree packs the index no longer names once the index is loaded (another client pruned them)', async () => {
    // They stayed in the cache until cairn's own prune listed the packs.
    const { mkdtemp, readdir, rm } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = await mkdtemp(join(tmpdir(), 'cairn-repo-cache-'))
    try {
      const plain = await createTestRepository()
      const cached = await Repository.open(plain.backend, TEST_PASSWORD, { cache: { dir } })
      await cached.loadIndex()
      const tree = Buffer.from('{"nodes":[]}\n')
      await cached.withWriter((w) => w.saveBlob('tree', tree, hashId(tree)), { threads: 0 })
      const packId = cached.index.lookup('tree', hashId(tree))!.packId
      await cached.close()
      // Read once through the cache, as a backup reads its parent's trees.
      const reader = await Repository.open(plain.backend, TEST_PASSWORD, { cache: { dir } })
      await reader.loadIndex()
      assert.deepEqual(await reader.loadBlob('tree', hashId(tree)), tree)
      await reader.close()
      const cachedPacks = async () => {
        const out: string[] = []
        for (const d of await readdir(dir, { recursive: true })) if (d.includes('data/') && d.endsWith(packId)) out.push(d)
        return out
      }
      assert.equal((await cachedPacks()).length, 1, 'the tree pack is cached once read')
      // Another client prunes: the pack and the index naming it are gone.
      for (const type of ['index', 'data'] as const) for await (const f of plain.backend.list(type)) await plain.backend.remove({ type, name: f.name })
      const again = await Repository.open(plain.backend, TEST_PASSWORD, { cache: { dir } })
      await again.loadIndex()
      await again.close()
      assert.deepEqual(await cachedPacks(), [])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
