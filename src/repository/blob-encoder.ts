/**
 * Compression and encryption of blobs, the CPU-heavy half of writing. The inline encoder runs on
 * the calling thread; the worker encoder spreads the work over worker threads so that reading,
 * chunking and hashing on the main thread overlap with it.
 */
import { availableParallelism } from 'node:os'
import { WorkerPool, type HandlerAnswer, type OutputRef, type Reply, type ReplyOutput } from '../base/index.js'
import { CRYPTO_OVERHEAD, masterKeyToJSON, seal, sealInto, type MasterKey } from '../crypto/index.js'
import type { BlobType } from './blob.js'
import { zstdBound, zstdCompress, zstdCompressInto } from './compression.js'

export interface EncodedBlob {
  sealed: Buffer
  /** 0 when the blob is stored uncompressed. */
  uncompressedLength: number
  /**
   * When present, `sealed` is borrowed from the encoder: call this once it is no longer needed
   * (copied into a pack, or found to be known) so the encoder can reuse the memory.
   */
  release?: () => void
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
/** Data that compression did not shrink is stored as it is; trees always compressed, as restic stores them. */
function keepCompressed(type: BlobType, compressed: number, plain: number): boolean {
  return type === 'tree' || compressed < plain
}

export function encodeBlob(key: MasterKey, type: BlobType, data: Uint8Array, level: CompressionLevel): EncodedBlob {
  if (level > 0 && data.length > 0) {
    const z = zstdCompress(data, level)
    if (keepCompressed(type, z.length, data.length)) return { sealed: seal(key, z), uncompressedLength: data.length }
  }
  return { sealed: seal(key, data), uncompressedLength: 0 }
}

/** The length encodeBlob() would give `data` (it compresses, but does not encrypt): what --dry-run reports as stored. */
export function encodedLength(type: BlobType, data: Uint8Array, level: CompressionLevel): number {
  if (level > 0 && data.length > 0) {
    const n = zstdCompress(data, level).length
    if (keepCompressed(type, n, data.length)) return n + CRYPTO_OVERHEAD
  }
  return data.length + CRYPTO_OVERHEAD
}

/** The most bytes encodeBlobInto() may need for a blob of `length` bytes. */
export function maxEncodedLength(length: number, level: CompressionLevel): number {
  return (level > 0 && length > 0 ? Math.max(length, zstdBound(length)) : length) + CRYPTO_OVERHEAD
}

/**
 * encodeBlob() without allocating: writes the sealed blob into `out` at `offset`, which must
 * have maxEncodedLength() bytes of room (compressed data goes there first and is sealed in
 * place). Returns the sealed length. Gives the same bytes as encodeBlob(), nonce aside.
 */
export function encodeBlobInto(key: MasterKey, type: BlobType, data: Uint8Array, level: CompressionLevel, out: Buffer, offset: number): { length: number; uncompressedLength: number } {
  const room = maxEncodedLength(data.length, level)
  if (offset < 0 || offset + room > out.length) throw new RangeError(`Cannot encode ${data.length} bytes into a ${out.length}-byte buffer at offset ${offset}`)
  if (level > 0 && data.length > 0) {
    const start = offset + CRYPTO_OVERHEAD / 2
    const n = zstdCompressInto(out.subarray(start, offset + room - CRYPTO_OVERHEAD / 2), data, level)
    if (keepCompressed(type, n, data.length)) {
      // sealInto allows the plaintext exactly at offset + 16: the nonce goes in front of it.
      return { length: sealInto(key, out.subarray(start, start + n), out, offset), uncompressedLength: data.length }
    }
  }
  return { length: sealInto(key, data, out, offset), uncompressedLength: 0 }
}

export function createInlineEncoder(key: MasterKey): BlobEncoder {
  return {
    encode: async (type, data, level) => encodeBlob(key, type, data, level),
    close: async () => {},
  }
}

/** What an encoder worker offers the extension it loads (see WorkerEncoderOptions.extension). */
export interface EncoderWorkerApi {
  /** Compresses (level > 0) and seals `data` into the reply buffer; the answer's `output` is the sealed blob. */
  encode(type: BlobType, data: Uint8Array, level: CompressionLevel, out: ReplyOutput): { output: OutputRef; uncompressedLength: number }
}

/**
 * The default export of an encoder worker extension: given the worker's API, a handler for the
 * requests sent with WorkerEncoder.call().
 */
export type EncoderWorkerExtension = (api: EncoderWorkerApi) => (request: never, out: ReplyOutput) => HandlerAnswer

export interface WorkerEncoderOptions {
  threads?: number
  /** Bytes of reply ring per worker (see WorkerPool); the default holds one maximal blob. */
  replyRing?: number
  /**
   * A module the workers load to answer WorkerEncoder.call() requests, default-exporting an
   * EncoderWorkerExtension. It gets the encoder through the API, so it need not import this
   * layer: workers stay small and start fast.
   */
  extension?: URL
}

/** An encoder on worker threads that also carries an extension's requests. */
export interface WorkerEncoder extends BlobEncoder {
  /** A request for the extension; the reply's output is released by whoever takes it. */
  call<R>(request: object, weight: number, transfer?: ArrayBuffer[]): Promise<Reply<R>>
}

/**
 * Reply ring per encoder worker: sealed blobs wait there until they are copied into a pack.
 * It holds one maximal blob with room to spare; a blob that finds no room comes in a buffer of
 * its own. Only as much of it is touched as is in use at once (see ReplyOutput).
 */
const REPLY_RING = 10 * 1024 * 1024

/**
 * A pool of worker threads encoding blobs. Data is copied once into a buffer that is
 * transferred (not cloned) to the worker; the sealed result comes back in the worker's reply
 * ring, given back (EncodedBlob.release) once the blob is in its pack.
 */
export function createWorkerEncoder(key: MasterKey, options: number | WorkerEncoderOptions = {}): WorkerEncoder {
  const o = typeof options === 'number' ? { threads: options } : options
  const threads = o.threads ?? Math.max(1, Math.min(4, availableParallelism()))
  const pool = new WorkerPool(new URL('./blob-encoder-worker.js', import.meta.url), threads, { key: masterKeyToJSON(key), extension: o.extension?.href }, { replyRing: o.replyRing ?? REPLY_RING })
  return {
    async encode(type, data, level) {
      const copy = new Uint8Array(data)
      const r = await pool.callWithOutput<{ uncompressedLength: number }>({ op: 'encode', type, data: copy, level }, data.length, [copy.buffer])
      return { sealed: r.output!, uncompressedLength: r.result.uncompressedLength, release: r.release }
    },
    call: (request, weight, transfer) => pool.callWithOutput(request, weight, transfer),
    close: () => pool.close(),
  }
}
