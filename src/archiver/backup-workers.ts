import { availableParallelism } from 'node:os'
import { WorkerPool, type Id } from '../base/index.js'
import { masterKeyToJSON, type MasterKey } from '../crypto/index.js'
import type { BlobEncoder, EncodedBlob } from '../repository/index.js'

export type WorkerRequest =
  | { kind: 'blob'; type: string; data: Uint8Array; level: number }
  | { kind: 'chunk'; data: Uint8Array; level: number }
  | { kind: 'file'; path: string | Uint8Array; size: number; maxSize: number; level: number }

/** What a worker made of a small file. */
export type SmallFileResult =
  | { kind: 'empty' }
  /** The file grew past the small-file limit while being read: read it the normal way. */
  | { kind: 'grew' }
  | { kind: 'blob'; id: Id; size: number; blob: EncodedBlob }

/**
 * The worker threads of a backup: they compress and encrypt chunks (as the writer's encoder)
 * and read whole small files (open, read, hash, compress, encrypt), leaving the main thread
 * to walk the tree, chunk large files and assemble packs.
 */
export class BackupWorkers implements BlobEncoder {
  #pool: WorkerPool

  constructor(key: MasterKey, threads = Number(process.env.CAIRN_THREADS) || Math.max(1, Math.min(4, availableParallelism()))) {
    this.#pool = new WorkerPool(new URL('./backup-worker.js', import.meta.url), threads, { key: masterKeyToJSON(key) })
  }

  async encode(type: 'data' | 'tree', data: Uint8Array, level: number): Promise<EncodedBlob> {
    const copy = new Uint8Array(data)
    const r = await this.#pool.call<{ sealed: Uint8Array; uncompressedLength: number }>({ kind: 'blob', type, data: copy, level }, data.length, [copy.buffer])
    return { sealed: toBuffer(r.sealed), uncompressedLength: r.uncompressedLength }
  }

  /** Hashes, compresses and seals one chunk on a worker (the data is copied before this returns). */
  async encodeChunk(data: Uint8Array, level: number): Promise<{ id: Id; blob: EncodedBlob }> {
    const copy = new Uint8Array(data)
    const r = await this.#pool.call<{ id: Id; sealed: Uint8Array; uncompressedLength: number }>({ kind: 'chunk', data: copy, level }, data.length, [copy.buffer])
    return { id: r.id, blob: { sealed: toBuffer(r.sealed), uncompressedLength: r.uncompressedLength } }
  }

  /** Reads, hashes and encodes a file of at most `maxSize` bytes (one chunk) on a worker. */
  async readSmallFile(path: string | Buffer, size: number, maxSize: number, level: number): Promise<SmallFileResult> {
    const r = await this.#pool.call<{ grew?: boolean; size: number; id?: Id; sealed?: Uint8Array; uncompressedLength?: number }>(
      { kind: 'file', path, size, maxSize, level },
      size + 4096,
    )
    if (r.grew) return { kind: 'grew' }
    if (r.size === 0 || r.id === undefined) return { kind: 'empty' }
    return { kind: 'blob', id: r.id, size: r.size, blob: { sealed: toBuffer(r.sealed!), uncompressedLength: r.uncompressedLength! } }
  }

  close(): Promise<void> {
    return this.#pool.close()
  }
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}
