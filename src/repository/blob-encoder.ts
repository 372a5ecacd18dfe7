/**
 * Compression and encryption of blobs, the CPU-heavy half of writing. The inline encoder runs on
 * the calling thread; the worker encoder spreads the work over worker threads so that reading,
 * chunking and hashing on the main thread overlap with it.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { AppError } from '../base/index.js'
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

interface Job {
  resolve: (b: EncodedBlob) => void
  reject: (e: unknown) => void
}

/**
 * A pool of worker threads encoding blobs. Data is copied once into a buffer that is
 * transferred (not cloned) to the worker; the sealed result comes back the same way.
 */
export function createWorkerEncoder(key: MasterKey, threads = Math.max(1, Math.min(4, availableParallelism()))): BlobEncoder {
  const workers: Array<{ w: Worker; jobs: Map<number, Job>; load: number }> = []
  let seq = 0
  let failed: unknown
  for (let i = 0; i < threads; i++) {
    const w = new Worker(new URL('./blob-encoder-worker.js', import.meta.url), { workerData: { key: masterKeyToJSON(key) } })
    const slot = { w, jobs: new Map<number, Job>(), load: 0 }
    w.on('message', (m: { id: number; sealed?: Uint8Array; uncompressedLength?: number; error?: string; size: number }) => {
      const job = slot.jobs.get(m.id)
      if (!job) return
      slot.jobs.delete(m.id)
      slot.load -= m.size
      if (m.error !== undefined) job.reject(new AppError('INTERNAL', `Encoding a blob failed: ${m.error}`))
      else job.resolve({ sealed: Buffer.from(m.sealed!.buffer, m.sealed!.byteOffset, m.sealed!.byteLength), uncompressedLength: m.uncompressedLength! })
    })
    w.on('error', (err) => {
      failed = err
      for (const j of slot.jobs.values()) j.reject(err)
      slot.jobs.clear()
    })
    workers.push(slot)
  }
  return {
    encode(type, data, level) {
      if (failed !== undefined) return Promise.reject(failed)
      // Least-loaded worker by bytes queued.
      let slot = workers[0]
      for (const s of workers) if (s.load < slot.load) slot = s
      const copy = new Uint8Array(data.length)
      copy.set(data)
      const id = seq++
      slot.load += data.length
      return new Promise<EncodedBlob>((resolve, reject) => {
        slot.jobs.set(id, { resolve, reject })
        slot.w.postMessage({ id, type, data: copy, level }, [copy.buffer])
      })
    },
    async close() {
      await Promise.all(workers.map((s) => s.w.terminate()))
    },
  }
}
