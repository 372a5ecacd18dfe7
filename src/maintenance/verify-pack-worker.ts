// Worker thread body for check --read-data: hashes a whole pack and verifies every blob in it
// (MAC, decompression, ID), so the packs of a check are verified on all cores.
import { hashId, serveWorker } from '../base/index.js'
import { masterKeyFromJSON, open, type MasterKey } from '../crypto/index.js'
import { zstdDecompressInto } from '../repository/index.js'

export interface VerifyRequest {
  bytes: Uint8Array
  blobs: Array<{ id: string; offset: number; length: number; uncompressedLength: number }>
}

export interface VerifyResult {
  /** SHA-256 of the whole pack. */
  hash: string
  /** Indexes into `blobs` of the blobs that failed. */
  damaged: number[]
}

let key: MasterKey | undefined
/** Decompressed blobs are only hashed: one buffer serves them all, grown as needed. */
let scratch = Buffer.alloc(0)

serveWorker<VerifyRequest>((m, data) => {
  key ??= masterKeyFromJSON((data as { key: string }).key)
  const bytes = Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength)
  const damaged: number[] = []
  let garbage = bytes.length
  m.blobs.forEach((b, i) => {
    try {
      if (b.offset + b.length > bytes.length) throw new RangeError('past the end of the pack')
      let plain = open(key!, bytes.subarray(b.offset, b.offset + b.length))
      garbage += plain.length
      if (b.uncompressedLength !== 0) {
        if (scratch.length < b.uncompressedLength) scratch = Buffer.allocUnsafeSlow(Math.max(b.uncompressedLength, 1 << 20))
        plain = zstdDecompressInto(plain, b.uncompressedLength, scratch)
      }
      if (hashId(plain) !== b.id) throw new Error('ID mismatch')
    } catch {
      damaged.push(i)
    }
  })
  const result: VerifyResult = { hash: hashId(bytes), damaged }
  return { result, garbage }
})
