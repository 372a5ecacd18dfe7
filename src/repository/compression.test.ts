import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AppError } from '../base/index.js'
import { zstdCompress, zstdDecompress, zstdDecompressInto } from './compression.js'
import { seededBytes } from './testing.js'

describe('zstd', () => {
  const text = Buffer.from('a line of text that repeats\n'.repeat(20_000))
  const random = seededBytes(3, 300_000)

  it('decompresses into a reused buffer, giving the same bytes as zstdDecompress', () => {
    const scratch = Buffer.alloc(text.length + 100)
    for (const data of [text, random, text.subarray(0, 1)]) {
      const z = zstdCompress(data, 3)
      const got = zstdDecompressInto(z, data.length, scratch)
      assert.equal(got.buffer, scratch.buffer, 'a view of the scratch buffer')
      assert.deepEqual(got, data)
      assert.deepEqual(zstdDecompress(z, data.length), data)
    }
  })

  it('refuses a frame whose length differs from the one expected, as damaged data', () => {
    const z = zstdCompress(text, 3)
    const scratch = Buffer.alloc(text.length * 2)
    for (const wrong of [text.length - 1, text.length + 1]) {
      assert.throws(() => zstdDecompressInto(z, wrong, scratch), (e: unknown) => e instanceof AppError && e.code === 'INVALID_DATA')
    }
    assert.throws(() => zstdDecompressInto(z, text.length, Buffer.alloc(10)), RangeError)
  })
})
