import { availableParallelism } from 'node:os'
import type { Id, Reply } from '../base/index.js'
import type { ChunkerState } from '../chunker/index.js'
import type { MasterKey } from '../crypto/index.js'
import { createWorkerEncoder, type BlobEncoder, type EncodedBlob, type WorkerEncoder } from '../repository/index.js'

export type WorkerRequest =
  | { op: 'hash'; data: Uint8Array }
  | { op: 'scan'; data: Uint8Array; state: ChunkerState | null; polynomial: bigint }
  | { op: 'chunk'; data: Uint8Array; level: number }
  | { op: 'file'; path: string | Uint8Array; size: number; maxSize: number; level: number; unless?: Id }

/**
 * What a worker made of a small file. `readEnd` is the file's state (contentMarkText of an fstat
 * of the descriptor it was read through) when the read ended: the bytes read are that file's content.
 */
export type SmallFileResult =
  | { kind: 'empty'; readEnd: string }
  /** The file held more than its stat said (it grew, or its stat does not tell): read it to its end. */
  | { kind: 'grew' }
  /** Its content hashed to the ID it was asked about (readSmallFile's `unless`): not encoded. */
  | { kind: 'same'; id: Id; size: number; readEnd: string }
  | { kind: 'blob'; id: Id; size: number; blob: EncodedBlob; readEnd: string }

/**
 * The worker threads of a backup: they compress and encrypt chunks (as the writer's encoder)
 * and read whole small files (open, read, hash, compress, encrypt), leaving the main thread
 * to walk the tree, chunk large files and assemble packs. Sealed blobs come back in reply
 * buffers that the blob writer gives back (EncodedBlob.release) once they are in a pack.
 */
export class BackupWorkers implements BlobEncoder {
  #enc: WorkerEncoder

  constructor(key: MasterKey, threads = Number(process.env.CAIRN_THREADS) || Math.max(1, Math.min(4, availableParallelism()))) {
    this.#enc = createWorkerEncoder(key, { threads, extension: new URL('./backup-worker.js', import.meta.url) })
  }

  encode(type: 'data' | 'tree', data: Uint8Array, level: number): Promise<EncodedBlob> {
    return this.#enc.encode(type, data, level)
  }

  /**
   * Hashes, compresses and seals one chunk on a worker. A chunk in shared memory
   * (SharedArrayBuffer) is read there in place, and must stay unchanged until this settles;
   * any other is copied before this returns.
   */
  async encodeChunk(data: Uint8Array, level: number): Promise<{ id: Id; blob: EncodedBlob }> {
    const r = await this.#sendChunk<{ id: Id; uncompressedLength: number }>({ op: 'chunk', level }, data)
    return { id: r.result.id, blob: { sealed: r.output!, uncompressedLength: r.result.uncompressedLength, release: r.release } }
  }

  /**
   * Chunks a block of a file on a worker, continuing from `state` (null: the file's start).
   * Returns the cut points (offsets in `data` just after each chunk that ends in it) and the
   * state to continue from. `data` must be in shared memory and stay unchanged until this settles.
   */
  scanChunks(data: Uint8Array, state: ChunkerState | null, polynomial: bigint): Promise<{ cuts: number[]; state: ChunkerState }> {
    if (!(data.buffer instanceof SharedArrayBuffer)) throw new TypeError('scanChunks() needs data in shared memory')
    return this.#sendChunk<{ cuts: number[]; state: ChunkerState }>({ op: 'scan', state, polynomial }, data).then(resultOnly)
  }

  /** Hashes one chunk on a worker; like encodeChunk(), in place when the chunk is in shared memory. */
  hashChunk(data: Uint8Array): Promise<Id> {
    return this.#sendChunk<Id>({ op: 'hash' }, data).then(resultOnly)
  }

  /**
   * Reads, hashes and encodes a file of at most `maxSize` bytes (one chunk) on a worker; does
   * not encode it when its content hashes to `unless` (the ID of an earlier version the
   * repository has: a file only touched since is read and hashed, not compressed again).
   */
  readSmallFile(path: string | Buffer, size: number, maxSize: number, level: number, unless?: Id): Promise<SmallFileResult> {
    const request: WorkerRequest = { op: 'file', path, size, maxSize, level, unless }
    return this.#enc.call<SmallFileAnswer>(request, size + 4096).then(toSmallFileResult)
  }

  close(): Promise<void> {
    return this.#enc.close()
  }

  /** Sends a request about `data`: read in place when in shared memory, else copied and transferred. */
  #sendChunk<R>(request: object, data: Uint8Array): Promise<Reply<R>> {
    const shared = data.buffer instanceof SharedArrayBuffer
    const sent = shared ? data : new Uint8Array(data)
    return this.#enc.call<R>({ ...request, data: sent }, data.length, shared ? [] : [sent.buffer as ArrayBuffer])
  }
}

/** The result of a reply that carries no bytes. */
function resultOnly<R>(r: Reply<R>): R {
  r.release()
  return r.result
}

/** A worker's answer to a 'file' request; `same` when the content hashed to the request's `unless`. */
export type SmallFileAnswer =
  | { grew: true; size: number }
  | { grew?: false; same?: boolean; size: number; id?: Id; uncompressedLength?: number; readEnd: string }

function toSmallFileResult(r: Reply<SmallFileAnswer>): SmallFileResult {
  if (r.result.grew) return { kind: 'grew' }
  const readEnd = r.result.readEnd
  if (r.result.same === true && r.result.id !== undefined) {
    r.release()
    return { kind: 'same', id: r.result.id, size: r.result.size, readEnd }
  }
  if (r.result.size === 0 || r.result.id === undefined || r.output === undefined) {
    r.release()
    return { kind: 'empty', readEnd }
  }
  return { kind: 'blob', id: r.result.id, size: r.result.size, blob: { sealed: r.output, uncompressedLength: r.result.uncompressedLength!, release: r.release }, readEnd }
}
