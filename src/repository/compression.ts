import { createRequire } from 'node:module'
import { AppError } from '../base/index.js'

// zstd-napi's low-level binding lets us compress into and decompress out of buffers we size ourselves.
const require = createRequire(import.meta.url)
const zstd = require('zstd-napi/binding.js') as typeof import('zstd-napi/binding.js')

/** restic's default level matches zstd's level 3 closely in speed and ratio. */
export const DEFAULT_LEVEL = 3

/**
 * Smaller match tables than zstd's level 3 takes (hash tables of 2^15 and 2^14 entries, 192 KiB,
 * instead of 2^17 and 2^16, 768 KiB): they stay in a core's L2 cache between the reading,
 * hashing and sealing of blobs. Measured on the Linux source tree, each file compressed on its
 * own as a backup does, with the read, SHA-256 and encryption of each in between: compression
 * 6% and the whole sequence 5% faster, output 0.1% larger (2 GiB of mixed large files: 0.1%).
 * Smaller still (2^14 and 2^12) saved 2% more time for 0.6% more size. zstd shrinks the tables
 * further for inputs too small to fill them; decompression does not depend on them.
 */
const DEFAULT_LEVEL_TABLES = { hashLog: 15, chainLog: 14 }

let cctx: InstanceType<typeof zstd.CCtx> | undefined
let dctx: InstanceType<typeof zstd.DCtx> | undefined
let cLevel = -1

/** Compresses `data` as one zstd frame (content size recorded, no checksum, as restic writes). */
export function zstdCompress(data: Uint8Array, level = DEFAULT_LEVEL): Buffer {
  const out = Buffer.allocUnsafe(zstd.compressBound(data.length))
  return out.subarray(0, zstdCompressInto(out, data, level))
}

/** zstdCompress() into a caller's buffer, which must have zstdBound(data.length) bytes; returns the length. */
export function zstdCompressInto(out: Uint8Array, data: Uint8Array, level = DEFAULT_LEVEL): number {
  if (cctx === undefined || cLevel !== level) {
    cctx = compressionContext(level)
    cctx.setParameter(zstd.CParameter.contentSizeFlag, 1)
    cLevel = level
  }
  return cctx.compress2(out, data)
}

/**
 * One zstd frame compressed piece by piece, for a document built gradually (an index file pack
 * by pack): only the compressed bytes are held, never the whole plaintext. The frame records no
 * content size (it is not known when the frame starts); readers then stream it, as restic does.
 */
export class ZstdFrameWriter {
  #cctx: InstanceType<typeof zstd.CCtx>
  #pieces: Buffer[] = []
  #out: Buffer
  #pos = 0
  #head: Uint8Array

  /** `head`: bytes to put before the frame in end()'s result (an encoding byte, say). */
  constructor(level = DEFAULT_LEVEL, head: Uint8Array = new Uint8Array(0)) {
    this.#cctx = compressionContext(level)
    this.#out = Buffer.allocUnsafe(zstd.cStreamOutSize())
    this.#head = head
  }

  write(data: Uint8Array): void {
    for (let src = data; src.length > 0; ) {
      const [, produced, consumed] = this.#cctx.compressStream2(this.#out.subarray(this.#pos), src, zstd.EndDirective.continue)
      this.#advance(produced)
      src = src.subarray(consumed)
    }
  }

  /**
   * Ends the frame; returns `head` followed by it, with `before` and `after` bytes left free
   * around them (room to seal the result in place). The writer must not be used afterwards.
   */
  end(before = 0, after = 0): Buffer {
    for (;;) {
      const [left, produced] = this.#cctx.compressStream2(this.#out.subarray(this.#pos), EMPTY, zstd.EndDirective.end)
      this.#advance(produced)
      if (left === 0) break
    }
    const parts = [this.#head, ...this.#pieces, this.#out.subarray(0, this.#pos)]
    this.#pieces = []
    let at = before
    const result = Buffer.allocUnsafeSlow(before + parts.reduce((n, p) => n + p.length, 0) + after)
    for (const p of parts) {
      result.set(p, at)
      at += p.length
    }
    return result
  }

  #advance(produced: number): void {
    this.#pos += produced
    if (this.#pos < this.#out.length) return
    this.#pieces.push(this.#out)
    this.#out = Buffer.allocUnsafe(this.#out.length)
    this.#pos = 0
  }
}

const EMPTY = new Uint8Array(0)

/** A compression context for `level`, writing frames without a checksum (as restic does). */
function compressionContext(level: number): InstanceType<typeof zstd.CCtx> {
  const c = new zstd.CCtx()
  c.setParameter(zstd.CParameter.compressionLevel, level)
  if (level === DEFAULT_LEVEL) {
    c.setParameter(zstd.CParameter.hashLog, DEFAULT_LEVEL_TABLES.hashLog)
    c.setParameter(zstd.CParameter.chainLog, DEFAULT_LEVEL_TABLES.chainLog)
  }
  c.setParameter(zstd.CParameter.checksumFlag, 0)
  return c
}

/** The most bytes zstd may need to compress `length` bytes. */
export function zstdBound(length: number): number {
  return zstd.compressBound(length)
}

/**
 * Decompresses one zstd frame. `expectedLength` (from the pack header or index) sizes the output
 * exactly; a frame that decodes to another length is damaged data.
 */
export function zstdDecompress(data: Uint8Array, expectedLength?: number): Buffer {
  dctx ??= new zstd.DCtx()
  let size = expectedLength
  if (size === undefined) {
    const fcs = safeFrameContentSize(data)
    if (fcs === null) return decompressUnknownSize(data)
    size = fcs
  }
  return decompressExact(dctx, data, Buffer.allocUnsafe(size))
}

/**
 * zstdDecompress() into a caller's buffer, for callers that only look at the plaintext
 * (hashing it) and would otherwise leave a blob-sized buffer behind for each blob. Returns the
 * view of `scratch` holding the `expectedLength` bytes; `scratch` must have room for them.
 */
export function zstdDecompressInto(data: Uint8Array, expectedLength: number, scratch: Buffer): Buffer {
  if (scratch.length < expectedLength) throw new RangeError(`Cannot decompress ${expectedLength} bytes into a ${scratch.length}-byte buffer`)
  dctx ??= new zstd.DCtx()
  return decompressExact(dctx, data, scratch.subarray(0, expectedLength))
}

let streamDctx: InstanceType<typeof zstd.DCtx> | undefined

/**
 * Decompresses one frame of `expectedLength` bytes through `piece`: `onPiece` gets each part as
 * it is decompressed (a view of `piece`, valid until it returns). For plaintext too large to
 * hold at once; zstd then keeps its window (2 MiB for what cairn writes) instead.
 */
export function zstdDecompressPieces(data: Uint8Array, expectedLength: number, piece: Buffer, onPiece: (bytes: Buffer) => void): void {
  streamDctx ??= new zstd.DCtx()
  let total = 0
  const left = streamFrame(streamDctx, data, () => piece, (bytes) => {
    total += bytes.length
    if (total > expectedLength) throw new AppError('INVALID_DATA', `Decompressed data has more than the ${expectedLength} bytes expected`)
    onPiece(bytes)
  })
  if (left > 0) throw new AppError('INVALID_DATA', `Cannot decompress data: ${left} bytes after the frame`)
  if (total !== expectedLength) throw new AppError('INVALID_DATA', `Decompressed data has ${total} bytes, expected ${expectedLength}`)
}

/**
 * Streams the frame at the start of `data` into the buffer `room()` gives before each step (not
 * empty); `onPiece` gets what each step wrote there. Returns how many bytes follow the frame.
 */
function streamFrame(d: InstanceType<typeof zstd.DCtx>, data: Uint8Array, room: () => Buffer, onPiece: (bytes: Buffer) => void): number {
  d.reset(zstd.ResetDirective.sessionOnly)
  let input = data
  for (;;) {
    const piece = room()
    let ret: number, produced: number, consumed: number
    try {
      ;[ret, produced, consumed] = d.decompressStream(piece, input)
    } catch (err) {
      throw new AppError('INVALID_DATA', `Cannot decompress data: ${(err as Error).message}`, { cause: err })
    }
    if (produced > 0) onPiece(piece.subarray(0, produced))
    input = input.subarray(consumed)
    if (ret === 0) return input.length
    if (consumed === 0 && produced === 0) throw new AppError('INVALID_DATA', 'Cannot decompress data: truncated zstd frame')
  }
}

/** Decompresses one frame into `out`, which it must fill exactly. */
function decompressExact(d: InstanceType<typeof zstd.DCtx>, data: Uint8Array, out: Buffer): Buffer {
  let n: number
  try {
    n = d.decompress(out, data)
  } catch (err) {
    throw new AppError('INVALID_DATA', `Cannot decompress data: ${(err as Error).message}`, { cause: err })
  }
  if (n !== out.length) throw new AppError('INVALID_DATA', `Decompressed data has ${n} bytes, expected ${out.length}`)
  return out
}

function safeFrameContentSize(data: Uint8Array): number | null {
  try {
    return zstd.getFrameContentSize(data)
  } catch (err) {
    throw new AppError('INVALID_DATA', `Cannot decompress data: not a zstd frame`, { cause: err })
  }
}

/**
 * Frames written without a content size (index files cairn writes pack by pack) are streamed
 * into one buffer, grown as needed. Not into pieces joined at the end: a megabyte piece at a
 * time, with the joined copy, made the C heap grow by the plaintext twice over, and glibc kept
 * that memory for the rest of the run (15 MiB for the index of the kernel sources).
 */
function decompressUnknownSize(data: Uint8Array): Buffer {
  const d = new zstd.DCtx()
  let out = Buffer.allocUnsafe(Math.max(64 * 1024, 4 * data.length))
  let n = 0
  const room = () => {
    if (n === out.length) {
      const bigger = Buffer.allocUnsafe(2 * out.length)
      out.copy(bigger, 0, 0, n)
      out = bigger
    }
    return out.subarray(n)
  }
  // Frames that follow the first are decoded on, as zstd's own tools do.
  for (let input = data; input.length > 0; ) {
    const left = streamFrame(d, input, room, (bytes) => (n += bytes.length))
    input = input.subarray(input.length - left)
  }
  return out.subarray(0, n)
}
