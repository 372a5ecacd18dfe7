// Worker thread body for check --read-data: hashes a whole pack and verifies the blobs of it it
// is given (MAC, decompression, ID), so the packs of a check are verified on all cores. A pack in
// shared memory is split over several requests, so that every worker has a part of it.
import { hashId, serveWorker } from '../base/index.js'
import { masterKeyFromJSON, type MasterKey } from '../crypto/index.js'
// The decoder's own module, not the repository's index: a worker loads only what it uses.
import { Scratch, verifySealedBlob } from '../repository/blob-decoder.js'

export interface VerifyRequest {
  /** The whole pack. */
  bytes: Uint8Array
  /** Blobs of it to verify. */
  blobs: Array<{ id: string; offset: number; length: number; uncompressedLength: number }>
  /** Hash the whole pack too. */
  hash: boolean
  /**
   * The caller needs `bytes` no more (it hashed them already): blobs are decrypted where they
   * lie, with no buffer for their decrypted bytes. (Decompressing large blobs piece by piece as
   * well took another 5 MiB off the peak of a check of big files, for 3-4% more CPU.)
   */
  inPlace?: boolean
}

export interface VerifyResult {
  /** SHA-256 of the whole pack, when asked for. */
  hash?: string
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
      const sealed = bytes.subarray(b.offset, b.offset + b.length)
      verifySealedBlob(key!, { type: 'data', ...b }, sealed, '', scratch, m.inPlace ? 'in-place' : 'copy')
    } catch {
      damaged.push(i)
    }
  })
  const result: VerifyResult = m.hash ? { hash: hashId(bytes), damaged } : { damaged }
  return { result, garbage }
})
