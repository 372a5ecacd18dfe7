// Worker thread body for check --read-data: hashes a whole pack and verifies every blob in it
// (MAC, decompression, ID), so the packs of a check are verified on all cores.
import { hashId, serveWorker } from '../base/index.js'
import { masterKeyFromJSON, type MasterKey } from '../crypto/index.js'
import { decodeSealedBlob, Scratch } from '../repository/index.js'

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
/** Blobs are only hashed: their plaintext goes into buffers reused for them all. */
const scratch = new Scratch()

serveWorker<VerifyRequest>((m, data) => {
  key ??= masterKeyFromJSON((data as { key: string }).key)
  const bytes = Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength)
  const damaged: number[] = []
  // A pack in shared memory is the caller's to reuse; one sent over dies here.
  let garbage = m.bytes.buffer instanceof SharedArrayBuffer ? 0 : bytes.length
  m.blobs.forEach((b, i) => {
    try {
      if (b.offset + b.length > bytes.length) throw new RangeError('past the end of the pack')
      garbage += b.length // decrypted in short-lived pieces
      decodeSealedBlob(key!, { type: 'data', ...b }, bytes.subarray(b.offset, b.offset + b.length), '', scratch)
    } catch {
      damaged.push(i)
    }
  })
  const result: VerifyResult = { hash: hashId(bytes), damaged }
  return { result, garbage }
})
