import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Id } from '../base/index.js'
import { BlobCache, BlobQueue, fileContent } from './blob-stream.js'

/** A loader whose loads finish in reverse order of their start, counting what runs at once. */
function slowLoader(fail?: Id) {
  const stats = { loads: [] as Id[], running: 0, maxRunning: 0 }
  const loader = {
    async loadBlob(_type: 'data' | 'tree', id: Id): Promise<Buffer> {
      stats.loads.push(id)
      stats.running++
      stats.maxRunning = Math.max(stats.maxRunning, stats.running)
      await new Promise((r) => setTimeout(r, 20 - (stats.loads.length % 10)))
      stats.running--
      if (id === fail) throw new Error(`cannot load ${id}`)
      return Buffer.from(id)
    },
  }
  return { loader, stats }
}

describe('BlobQueue', () => {
  it('yields blobs in order across files while loading at most readAhead at a time', async () => {
    const { loader, stats } = slowLoader()
    const q = new BlobQueue(loader, { readAhead: 3 })
    q.push(['a', 'b', 'c'])
    q.push(['d', 'e'])
    const got: string[] = []
    for (let i = 0; i < 5; i++) got.push((await q.take()).toString())
    assert.deepEqual(got, ['a', 'b', 'c', 'd', 'e'])
    assert.ok(stats.maxRunning <= 4, `at most the blob awaited plus three ahead, saw ${stats.maxRunning}`)
    assert.deepEqual(stats.loads, ['a', 'b', 'c', 'd', 'e'])
    assert.equal(q.queued, 0)
    assert.throws(() => q.take(), RangeError)
  })

  it('loads a blob repeated within the window once, and serves repeats from the cache', async () => {
    const { loader, stats } = slowLoader()
    const cache = new BlobCache(1 << 20)
    const chunks: string[] = []
    for await (const c of fileContent(loader, ['z', 'z', 'z', 'y', 'z'], { readAhead: 2, cache })) chunks.push(c.toString())
    assert.deepEqual(chunks, ['z', 'z', 'z', 'y', 'z'])
    assert.deepEqual(stats.loads, ['z', 'y'])
  })

  it('reports a failed load when its turn comes, and a load failing unseen does not crash the process', async () => {
    const { loader } = slowLoader('b')
    const q = new BlobQueue(loader, { readAhead: 4 })
    q.push(['a', 'b', 'c', 'd'])
    assert.equal((await q.take()).toString(), 'a')
    await assert.rejects(q.take(), /cannot load b/)
    // 'c' and 'd' were loading; dropping the queue must not leave unhandled rejections
    const q2 = new BlobQueue(slowLoader('x').loader, { readAhead: 4 })
    q2.push(['x', 'x2'])
    await new Promise((r) => setTimeout(r, 50))
  })

  it('reads the blobs of one pack together and falls back to single loads for what a batch misses', async () => {
    const reads: string[][] = []
    const singles: string[] = []
    const loc = (id: string, pack: string, offset: number) => ({ type: 'data' as const, id, packId: pack, offset, length: 42, uncompressedLength: 0 })
    const index = new Map([
      ['a', loc('a', 'p1', 0)],
      ['b', loc('b', 'p1', 42)],
      ['c', loc('c', 'p2', 0)],
      ['d', loc('d', 'p1', 84)],
    ])
    const repo = {
      index: { lookup: (_t: string, id: string) => index.get(id) },
      async readPackBlobs(packId: string, blobs: Array<{ id: string }>, visit: (b: { id: string }, plain: Buffer) => void) {
        reads.push([packId, ...blobs.map((b) => b.id)])
        for (const b of blobs) {
          if (b.id === 'd') throw new Error('damaged copy')
          visit(b, Buffer.from(b.id.toUpperCase()))
        }
      },
      async loadBlob(_t: string, id: string) {
        singles.push(id)
        return Buffer.from(`${id}!`)
      },
    } as unknown as ConstructorParameters<typeof BlobQueue>[0]
    const q = new BlobQueue(repo)
    q.push(['a', 'b', 'c', 'd', 'x'])
    const got: string[] = []
    for (let i = 0; i < 5; i++) got.push((await q.take()).toString())
    assert.deepEqual(got, ['A', 'B', 'C', 'd!', 'x!'])
    assert.deepEqual(reads, [['p1', 'a', 'b', 'd'], ['p2', 'c']])
    assert.deepEqual(singles.sort(), ['d', 'x'])
  })

  it('BlobCache evicts the least recently used blobs beyond its byte limit', () => {
    const cache = new BlobCache(100)
    cache.add('a', Buffer.alloc(20))
    cache.add('b', Buffer.alloc(20))
    cache.get('a')
    for (const id of ['c', 'd', 'e', 'f']) cache.add(id, Buffer.alloc(20))
    assert.ok(cache.get('a'), 'recently used')
    assert.equal(cache.get('b'), undefined, 'evicted')
    cache.add('huge', Buffer.alloc(60))
    assert.equal(cache.get('huge'), undefined, 'too large to keep')
  })
})
