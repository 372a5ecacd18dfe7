/**
 * Compression and encryption of blobs, the CPU-heavy half of writing. The inline encoder runs on
 * the calling thread; the worker encoder spreads the work over worker threads so that reading,
 * chunking and hashing on the main thread overlap with it.
 */
import { availableParallelism } from 'node:os'
import { WorkerPool } from '../base/index.js'
import { masterKeyToJSON, seal, type MasterKey } from '../crypto/index.js'
import type { BlobType } from './blob.js'
import { zstdCompress } from './compression.js'

export interface EncodedBlob {
  sealed: Buffer
  /** 0 when the blob is stored uncompressed. */
  uncompressedLength: number
}

/** zstd level, or 0 for no compression. */
export type CompressionLevel = number

export interface BlobEncoder {
  encode(type: BlobType, data: Uint8Array, level: CompressionLevel): Promise<EncodedBlob>
  close(): Promise<void>
}

/**
 * Encodes one blob: trees are always compressed (restic's prune repacks packs holding
 * uncompressed trees), data only when compression saves space.
 */
export function encodeBlob(key: MasterKey, type: BlobType, data: Uint8Array, level: CompressionLevel): EncodedBlob {
  if (level > 0 && data.length > 0) {
    const z = zstdCompress(data, level)
    if (type === 'tree' || z.length < data.length) return { sealed: seal(key, z), uncompressedLength: data.length }
  }
  return { sealed: seal(key, data), uncompressedLength: 0 }
}

export function createInlineEncoder(key: MasterKey): BlobEncoder {
  return {
    encode: async (type, data, level) => encodeBlob(key, type, data, level),
    close: async () => {},
  }
}

/**
 * A pool of worker threads encoding blobs. Data is copied once into a buffer that is
 * transferred (not cloned) to the worker; the sealed result comes back the same way.
 */
export function createWorkerEncoder(key: MasterKey, threads = Math.max(1, Math.min(4, availableParallelism()))): BlobEncoder {
  const pool = new WorkerPool(new URL('./blob-encoder-worker.js', import.meta.url), threads, { key: masterKeyToJSON(key) })
  return {
    async encode(type, data, level) {
      const copy = new Uint8Array(data)
      const r = await pool.call<{ sealed: Uint8Array; uncompressedLength: number }>({ type, data: copy, level }, data.length, [copy.buffer])
      return { sealed: Buffer.from(r.sealed.buffer, r.sealed.byteOffset, r.sealed.byteLength), uncompressedLength: r.uncompressedLength }
    },
    close: () => pool.close(),
  }
}
