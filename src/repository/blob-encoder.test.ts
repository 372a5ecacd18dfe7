import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { newMasterKey, open } from '../crypto/index.js'
import { createWorkerEncoder, encodeBlob, encodeBlobInto, maxEncodedLength } from './blob-encoder.js'
import { zstdDecompress } from './compression.js'
import { seededBytes } from './testing.js'

const key = newMasterKey()

const CASES: Array<[string, 'data' | 'tree', Buffer]> = [
  ['compressible data', 'data', Buffer.from('hello hello hello hello hello hello hello\n'.repeat(5000))],
  ['incompressible data', 'data', seededBytes(3, 300_000)],
  ['an empty blob', 'data', Buffer.alloc(0)],
  ['a tiny tree', 'tree', Buffer.from('{"nodes":[]}\n')],
  ['an incompressible tree', 'tree', seededBytes(4, 5000)],
]

describe('encodeBlobInto()', () => {
  for (const level of [0, 3]) {
    for (const [what, type, data] of CASES) {
      it(`stores ${what} as encodeBlob() does (level ${level})`, () => {
        const want = encodeBlob(key, type, data, level)
        const out = Buffer.alloc(7 + maxEncodedLength(data.length, level) + 5, 0xaa)
        const got = encodeBlobInto(key, type, data, level, out, 7)
        assert.equal(got.uncompressedLength, want.uncompressedLength)
        assert.equal(got.length, want.sealed.length)
        // Nonces differ; the plaintext sealed (compressed or not) is the same, byte for byte.
        const sealedPlain = open(key, out.subarray(7, 7 + got.length))
        assert.deepEqual(sealedPlain, open(key, want.sealed))
        assert.deepEqual(got.uncompressedLength ? zstdDecompress(sealedPlain, got.uncompressedLength) : sealedPlain, data)
        assert.ok(out.subarray(7 + maxEncodedLength(data.length, level)).every((b) => b === 0xaa), 'nothing written past the room')
      })
    }
  }

  it('refuses a buffer with less room than maxEncodedLength()', () => {
    const data = seededBytes(5, 1000)
    assert.throws(() => encodeBlobInto(key, 'data', data, 3, Buffer.alloc(maxEncodedLength(1000, 3) - 1), 0), RangeError)
  })
})

describe('createWorkerEncoder()', () => {
  it('encodes on a worker into its reply ring, reusing it once blobs are released', async () => {
    const enc = createWorkerEncoder(key, { threads: 1, replyRing: 1 << 20 })
    try {
      const data = seededBytes(6, 200_000)
      const offsets: number[] = []
      for (let i = 0; i < 12; i++) {
        const blob = await enc.encode('data', data, 3)
        assert.ok(blob.sealed.buffer instanceof SharedArrayBuffer)
        assert.deepEqual(open(key, blob.sealed), data)
        offsets.push(blob.sealed.byteOffset)
        blob.release!()
      }
      // 12 × 200 kB pass through a 1 MiB ring: released blobs leave it free for the next.
      assert.deepEqual(new Set(offsets), new Set([0]))
    } finally {
      await enc.close()
    }
  })
})
