import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { hashId, type Id } from '../../base/index.js'
import type { BlobType, PackedBlob } from '../blob.js'
import { seededBytes } from '../testing.js'
import { decodeIndexTable, encodeIndex } from './index-file.js'
import { MasterIndex } from './master-index.js'

/** `n` distinct IDs from seeded random bytes. */
function ids(seed: number, n: number): Id[] {
  const bytes = seededBytes(seed, n * 32)
  const out: Id[] = new Array(n)
  for (let i = 0; i < n; i++) out[i] = bytes.toString('hex', i * 32, i * 32 + 32)
  return out
}

const packId = (n: number) => hashId(Buffer.from(`pack ${n}`))

function blob(type: BlobType, id: Id, i: number): PackedBlob {
  return { type, id, offset: i * 1000, length: 1000, uncompressedLength: i % 3 === 0 ? 0 : 2000 + i }
}

/** A function that forces a full garbage collection, for memory measurements. */
function gcFunction(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

describe('MasterIndex', () => {
  it('finds each of 100k random blobs added in 100 packs, and not unknown ones', () => {
    const idx = new MasterIndex()
    const all = ids(1, 100_000)
    for (let p = 0; p < 100; p++) {
      idx.addPack(packId(p), all.slice(p * 1000, (p + 1) * 1000).map((id, i) => blob('data', id, i)))
    }
    assert.equal(idx.size, 100_000)
    assert.equal(idx.packCount, 100)
    const packs = Array.from({ length: 100 }, (_, p) => packId(p))
    for (let k = 0; k < all.length; k++) {
      const loc = idx.lookup('data', all[k])
      if (loc?.packId !== packs[Math.floor(k / 1000)] || loc.offset !== (k % 1000) * 1000 || !idx.has('data', all[k])) {
        assert.fail(`blob ${k} (${all[k]}): wrong location ${JSON.stringify(loc)}`)
      }
    }
    assert.deepEqual(idx.lookup('data', all[4321]), { packId: packId(4), ...blob('data', all[4321], 321) })
    for (const id of ids(2, 10_000)) {
      assert.equal(idx.has('data', id), false)
      assert.equal(idx.lookup('data', id), undefined)
      assert.deepEqual(idx.lookupAll('data', id), [])
    }
  })

  it('finds nothing for an ID that is short, long or not hex, even right after a lookup of the real one', () => {
    // The key buffer was written with what hex the text had and kept the rest of the last key:
    // "zz", or the first 8 characters of a stored ID, found that ID's entry.
    const idx = new MasterIndex()
    const [id] = ids(4, 1)
    idx.addPack(packId(1), [blob('data', id, 1)])
    for (const bad of [id.slice(0, 8), 'zz', '', id + 'ff', id.slice(0, 62) + 'zz']) {
      assert.equal(idx.has('data', id), true)
      assert.equal(idx.has('data', bad), false, bad)
      assert.equal(idx.lookup('data', bad), undefined, bad)
    }
  })

  it('keeps the same ID as data and as tree apart', () => {
    const idx = new MasterIndex()
    const [id, other] = ids(3, 2)
    idx.addPack(packId(1), [blob('data', id, 1)])
    assert.equal(idx.has('data', id), true)
    assert.equal(idx.has('tree', id), false)
    idx.addPack(packId(2), [blob('tree', id, 2), blob('tree', other, 3)])
    assert.equal(idx.lookup('data', id)?.packId, packId(1))
    assert.equal(idx.lookup('tree', id)?.packId, packId(2))
    assert.equal(idx.lookup('tree', id)?.offset, 2000)
    assert.equal(idx.lookupAll('data', id).length, 1)
    assert.equal(idx.has('data', other), false)
  })

  it('lookupAll() returns every pack holding a blob', () => {
    const idx = new MasterIndex()
    const [id] = ids(4, 1)
    idx.addPack(packId(1), [blob('data', id, 5)])
    idx.addPack(packId(2), [blob('data', id, 7)])
    const all = idx.lookupAll('data', id)
    assert.deepEqual(all.map((l) => [l.packId, l.offset]).sort(), [
      [packId(1), 5000],
      [packId(2), 7000],
    ].sort())
    assert.equal(idx.size, 2)
  })

  it('adding the same pack again keeps one entry per blob', () => {
    const idx = new MasterIndex()
    const list = ids(5, 50).map((id, i) => blob(i % 2 ? 'tree' : 'data', id, i))
    idx.addPack(packId(1), list)
    idx.addPack(packId(1), list)
    idx.addPack(packId(1), list.slice(10, 20))
    assert.equal(idx.size, 50)
    assert.equal(idx.packCount, 1)
    for (const b of list) assert.equal(idx.lookupAll(b.type, b.id).length, 1)
    // a pack seen again with an extra blob gains only that blob
    const [extra] = ids(6, 1)
    idx.addPack(packId(1), [...list, blob('data', extra, 99)])
    assert.equal(idx.size, 51)
    assert.equal(idx.lookup('data', extra)?.packId, packId(1))
  })

  it('addTable() of an index file gives what addPack() of its packs gives, also for packs known before', () => {
    const list = ids(8, 300).map((id, i) => blob(i % 4 ? 'data' : 'tree', id, i))
    const file = { supersedes: [], packs: [{ id: packId(1), blobs: list.slice(0, 100) }, { id: packId(2), blobs: list.slice(100, 250) }, { id: packId(1), blobs: list.slice(50, 120) }] }
    const byPack = new MasterIndex()
    const byTable = new MasterIndex()
    // pack 2 is known already, with some of its blobs
    byPack.addPack(packId(2), list.slice(200, 260))
    byTable.addPack(packId(2), list.slice(200, 260))
    for (const p of file.packs) byPack.addPack(p.id, p.blobs)
    byTable.addTable(decodeIndexTable(encodeIndex(file)))
    assert.equal(byTable.size, byPack.size)
    assert.deepEqual([...byTable.blobs()], [...byPack.blobs()])
    for (const b of list) assert.deepEqual(byTable.lookupAll(b.type, b.id), byPack.lookupAll(b.type, b.id))
    assert.equal(byTable.has('data', ids(9, 1)[0]), false)
  })

  it('packs() yields each pack with its blobs and blobs() every entry, filtered by type', () => {
    const idx = new MasterIndex()
    const a = ids(7, 30)
    const p1 = a.slice(0, 10).map((id, i) => blob('data', id, i))
    const p2 = a.slice(10, 30).map((id, i) => blob('tree', id, i))
    idx.addPack(packId(1), p1)
    idx.addPack(packId(2), p2)
    const packs = [...idx.packs()].map((p) => ({ id: p.id, blobs: p.blobs.map(({ type, id, offset, length, uncompressedLength }) => ({ type, id, offset, length, uncompressedLength })) }))
    assert.deepEqual(packs, [
      { id: packId(1), blobs: p1 },
      { id: packId(2), blobs: p2 },
    ])
    assert.equal([...idx.blobs()].length, 30)
    assert.deepEqual(
      [...idx.blobs('data')].map((b) => b.id),
      a.slice(0, 10),
    )
    assert.deepEqual(
      [...idx.blobs('tree')].map((b) => [b.id, b.packId]),
      a.slice(10).map((id) => [id, packId(2)]),
    )
  })

  it('stays correct across many resizes of the arrays and the table', () => {
    const idx = new MasterIndex()
    const all = ids(8, 10_000)
    // one blob at a time, so every growth step is crossed
    for (let k = 0; k < all.length; k++) {
      idx.addPack(packId(k % 7), [blob(k % 5 === 0 ? 'tree' : 'data', all[k], k)])
      if ((k & (k - 1)) === 0) {
        for (let j = 0; j <= k; j++) assert.equal(idx.lookup(j % 5 === 0 ? 'tree' : 'data', all[j])?.offset, j * 1000)
      }
    }
    assert.equal(idx.size, all.length)
    for (let j = 0; j < all.length; j++) {
      const loc = idx.lookup(j % 5 === 0 ? 'tree' : 'data', all[j])
      assert.equal(loc?.packId, packId(j % 7))
      assert.equal(loc?.uncompressedLength, blob('data', all[j], j).uncompressedLength)
    }
  })

  it('measures bytes per entry for 2 million blobs', async (t) => {
    const collect = gcFunction()
    // Several collections with turns of the event loop between: freed array buffers are swept
    // (and leave the arrayBuffers count) a little after the collection that found them.
    const gc = async () => {
      for (let i = 0; i < 3; i++) {
        collect()
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    }
    const N = 2_000_000
    const PER_PACK = 10_000
    const bytes = seededBytes(9, N * 32)
    await gc()
    const before = process.memoryUsage()
    const idx = new MasterIndex()
    for (let p = 0; p < N / PER_PACK; p++) {
      const list: PackedBlob[] = new Array(PER_PACK)
      for (let i = 0; i < PER_PACK; i++) {
        const k = p * PER_PACK + i
        list[i] = { type: 'data', id: bytes.toString('hex', k * 32, k * 32 + 32), offset: i * 100, length: 100, uncompressedLength: 0 }
      }
      idx.addPack(packId(p), list)
    }
    idx.compact() // as the repository does once the index files are loaded
    await gc()
    const after = process.memoryUsage()
    const used = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers)
    const perEntry = used / N
    t.diagnostic(`MasterIndex: ${N} entries use ${(used / 2 ** 20).toFixed(1)} MiB, ${perEntry.toFixed(1)} bytes per entry`)
    assert.equal(idx.size, N)
    // spot checks so the structure is really complete
    for (const k of [0, 1, N / 2, N - 1]) {
      assert.equal(idx.lookup('data', bytes.toString('hex', k * 32, k * 32 + 32))?.packId, packId(Math.floor(k / PER_PACK)))
    }
    // 49 bytes of entry and at most 4/0.75 of table (a Map of objects takes several hundred).
    assert.ok(perEntry < 60, `expected < 60 bytes per entry, got ${perEntry.toFixed(1)}`)
    // Still complete, and still growing, after compaction.
    idx.addPack(packId(999_999), [{ type: 'tree', id: 'ab'.repeat(32), offset: 0, length: 10, uncompressedLength: 0 }])
    assert.equal(idx.lookup('tree', 'ab'.repeat(32))?.packId, packId(999_999))
    assert.equal(idx.lookup('data', bytes.toString('hex', 0, 32))?.packId, packId(0))
  })
})
