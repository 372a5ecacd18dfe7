import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AppError } from '../base/index.js'
import { ZstdFrameWriter, zstdCompress, zstdDecompress, zstdDecompressInto } from './compression.js'
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

  it('ZstdFrameWriter writes one frame from many pieces, put behind its head bytes', () => {
    const w = new ZstdFrameWriter(3, Uint8Array.of(7, 8))
    const pieces = [text, random, Buffer.alloc(0), text.subarray(5, 9), seededBytes(4, 300_000)]
    for (const p of pieces) w.write(p)
    const out = w.end()
    assert.deepEqual([...out.subarray(0, 2)], [7, 8])
    const frame = out.subarray(2)
    assert.ok(frame.length > 2 * random.length, 'the random bytes stay about their size, across several output pieces')
    // No content size in the frame: it is read by streaming, with or without an expected length.
    const whole = Buffer.concat(pieces)
    assert.deepEqual(zstdDecompress(frame), whole)
    assert.deepEqual(zstdDecompress(frame, whole.length), whole)
    assert.deepEqual(zstdDecompress(new ZstdFrameWriter(3).end()), Buffer.alloc(0))
  })

  it('a document without a content size: grown as it decodes, frames after the first decoded too, a cut frame refused', () => {
    // Highly compressible: the plaintext is many times the first guess at its size.
    const zeros = Buffer.alloc(5 * 1024 * 1024)
    const frame = (data: Uint8Array) => {
      const w = new ZstdFrameWriter(3)
      w.write(data)
      return w.end()
    }
    assert.deepEqual(zstdDecompress(frame(zeros)), zeros)
    // zstd's format allows frames one after another; they were once dropped without a word.
    assert.deepEqual(zstdDecompress(Buffer.concat([frame(text), frame(random)])), Buffer.concat([text, random]))
    const whole = frame(random)
    assert.throws(() => zstdDecompress(whole.subarray(0, whole.length - 3)), (e: unknown) => e instanceof AppError && e.code === 'INVALID_DATA' && /truncated/.test(e.message))
  })

  it('ZstdFrameWriter.end() can leave room before and after the frame', () => {
    const w = new ZstdFrameWriter(3, Uint8Array.of(2))
    w.write(text)
    const out = w.end(16, 5)
    assert.equal(out[16], 2, 'the head right after the room in front')
    assert.deepEqual(zstdDecompress(out.subarray(17, out.length - 5)), text, 'the frame ends 5 bytes before the end')
  })
})
