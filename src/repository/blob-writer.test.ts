import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hashId } from '../base/index.js'
import { MemoryBackend, type Backend } from '../backends/index.js'
import { encodeBlob } from './blob-encoder.js'
import { createTestRepository, seededBytes } from './testing.js'

/** A memory backend whose saves take a while, recording the buffer each pack was passed in. */
function slowBackend(): { backend: Backend; packBuffers: ArrayBufferLike[] } {
  const mem = new MemoryBackend()
  const packBuffers: ArrayBufferLike[] = []
  const save: Backend['save'] = async (h, data) => {
    if (h.type === 'data') {
      packBuffers.push(data.buffer)
      assert.equal(hashId(data), h.name, 'the pack is whole while it is saved')
      await new Promise((r) => setTimeout(r, 5))
    }
    return mem.save(h, data)
  }
  const backend = new Proxy(mem, {
    get(target, prop) {
      if (prop === 'save') return save
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
  return { backend, packBuffers }
}

describe('BlobWriter', () => {
  for (const uploads of [undefined, 3]) {
    it(`assembles packs in a few reused buffers (uploads at once: ${uploads ?? 'default'})`, async () => {
      const { backend, packBuffers } = slowBackend()
      const repo = await createTestRepository({ backend })
      const blobs = Array.from({ length: 60 }, (_, i) => seededBytes(100 + i, 20_000 + i))
      await repo.withWriter(
        async (w) => {
          for (const b of blobs) await w.saveBlob('data', b)
        },
        { packSize: 64 * 1024, uploadConcurrency: uploads },
      )
      assert.ok(packBuffers.length >= 15, `${packBuffers.length} packs`)
      // A local backend uploads one pack at a time: one buffer fills while the other uploads.
      assert.ok(new Set(packBuffers).size <= (uploads ?? 1) + 1, `${new Set(packBuffers).size} buffers`)
      for (const b of blobs) assert.deepEqual(await repo.loadBlob('data', hashId(b)), b)
    })
  }

  it('gives back an encoded blob once it is packed, or at once when the blob is known', async () => {
    const repo = await createTestRepository()
    const data = seededBytes(1, 5000)
    const id = hashId(data)
    const released: string[] = []
    const encoded = (tag: string) => ({ ...encodeBlob(repo.key, 'data', data, 3), release: () => released.push(tag) })
    await repo.withWriter(async (w) => {
      assert.deepEqual(await w.saveEncodedBlob('data', id, data.length, encoded('first')), { id, known: false })
      assert.deepEqual(await w.saveEncodedBlob('data', id, data.length, encoded('again')), { id, known: true })
    })
    assert.deepEqual(released, ['first', 'again'])
    assert.deepEqual(await repo.loadBlob('data', id), data)
  })
})
