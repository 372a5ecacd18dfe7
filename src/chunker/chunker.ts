/**
 * restic's content-defined chunker, restated so that it needs no work on bytes that cannot matter.
 *
 * restic resets its 64-byte window to zeros plus one byte of value 1, skips the first MinSize − 64
 * bytes of a chunk, and hashes the rest. A cut is only allowed once the chunk holds MinSize bytes,
 * which is exactly when 64 bytes have been hashed and the initial 1 has slid out. From then on the
 * digest is the fingerprint of the last 64 bytes and nothing else. So this implementation:
 *  - jumps over the skipped bytes (only counting them);
 *  - starts each chunk's fingerprint at 0 and hashes its first 64 bytes without sliding anything
 *    out. That gives the same digest at the first possible cut, because the fingerprint of the
 *    window is all that restic's digest holds at that point;
 *  - hands long stretches of the steady state (every byte slides one out and may end the chunk) to
 *    a WebAssembly loop, 2–3 times faster than JS (see wasm-module.ts);
 *  - in the JS steady state, which handles short ranges and is the reference, reads the byte
 *    leaving the window straight from the caller's buffer (it is 64 bytes back) and touches the
 *    window array only within 64 bytes of a call's start. At the end of a call without a cut, it
 *    copies in the last 64 bytes.
 * The boundaries, and the digest at every cut, are identical to restic/chunker's.
 */
import { polyMod, polyMulMod } from './polynomial.js'
import { joinDigest, tablesFor, WINDOW_SIZE } from './tables.js'
import { DATA, HISTORY, scannerOf, SLICE, wasmScanner, type WasmScanner } from './wasm-scanner.js'

export const MIN_SIZE = 512 * 1024
export const MAX_SIZE = 8 * 1024 * 1024

/** Bytes at the start of every chunk that are counted but never hashed. */
const SKIP = MIN_SIZE - WINDOW_SIZE
/** Cut when the low 20 bits of the digest are zero: about 1 MiB between cuts on random data. */
const SPLIT_MASK = (1 << 20) - 1
/** Below this many bytes, copying the window into wasm memory and back costs more than it saves. */
const WASM_MIN_RANGE = 4096

export interface Chunker {
  /**
   * Scans buf[start..end) continuing the current chunk. Returns the offset in buf just after the last
   * byte of the chunk that ends in this range (the chunker resets itself for the next chunk, which
   * starts there), or -1 when every byte of the range belongs to the current chunk.
   */
  nextSplitPoint(buf: Uint8Array, start?: number, end?: number): number
  /** Forget the current chunk: the next byte starts a new chunk (call at the start of every file). */
  reset(): void
  /** The fingerprint at the last split point returned (restic's `Chunk.Cut`); 0 before the first one. */
  cutFingerprint(): bigint
  /**
   * The fingerprint restic would report for the bytes scanned since the last split, i.e. the `Cut`
   * of a last chunk that ends at EOF (1 while the chunk is within its unhashed first bytes).
   */
  currentFingerprint(): bigint
  /** Where the chunker is inside the current chunk, to carry on elsewhere (another thread, say). */
  saveState(): ChunkerState
  /** Continues from a state saveState() gave (of a chunker for the same polynomial). */
  restoreState(state: ChunkerState): void
}

/** A chunker's position inside a chunk: plain data, so it can be posted to a worker and back. */
export interface ChunkerState {
  n: number
  hi: number
  lo: number
  /** The last 64 bytes hashed, byte at chunk position q at q & 63. */
  window: Uint8Array
}

/** A chunker for `pol` (degree 53). Its lookup tables are built once per polynomial and cached. */
export function createChunker(pol: bigint): Chunker {
  return new RabinChunker(pol, wasmScanner())
}

/** The same chunker without WebAssembly: the reference path, for tests and benchmarks. */
export function createJsChunker(pol: bigint): Chunker {
  return new RabinChunker(pol, null)
}

/**
 * Whether a chunk of `length` bytes ending just before `data[end]` could have been cut there by
 * this chunker's content rule: it is at least MinSize and less than MaxSize long, and the
 * fingerprint of its last 64 bytes has the split bits zero. It does not look at the rest of the
 * chunk, so it does not say that no earlier cut existed; it tells a boundary this chunker makes
 * from one another chunker (another polynomial, another tool) made, except by a one in a million
 * chance. A chunk of MaxSize is never vouched for: only scanning all of it shows that it holds
 * no cut, and a piece of another chunker's could be exactly that long.
 */
export function couldEndChunk(pol: bigint, data: Uint8Array, end: number, length: number): boolean {
  if (length < MIN_SIZE || length >= MAX_SIZE || end < WINDOW_SIZE || end > data.length) return false
  const { modHi, modLo } = tablesFor(pol)
  let hi = 0
  let lo = 0
  for (let i = end - WINDOW_SIZE; i < end; i++) {
    const idx = hi >>> 13
    hi = ((hi << 8) | (lo >>> 24)) ^ modHi[idx]
    lo = ((lo << 8) | data[i]) ^ modLo[idx]
  }
  return (lo & SPLIT_MASK) === 0
}

/** Splits a whole buffer; for tests and small data (the archiver feeds blocks to a Chunker instead). */
export function* chunkBuffer(pol: bigint, data: Uint8Array): Generator<{ offset: number; length: number }> {
  const c = createChunker(pol)
  let offset = 0
  while (offset < data.length) {
    const split = c.nextSplitPoint(data, offset, data.length)
    const end = split < 0 ? data.length : split
    yield { offset, length: end - offset }
    offset = end
  }
}

class RabinChunker implements Chunker {
  readonly #pol: bigint
  readonly #outHi: Int32Array
  readonly #outLo: Int32Array
  readonly #modHi: Int32Array
  readonly #modLo: Int32Array
  readonly #wasm: WasmScanner | null
  /** Byte at chunk position q is kept at window[q & 63] (SKIP is a multiple of 64, hashing starts at slot 0). */
  readonly #window = new Uint8Array(WINDOW_SIZE)
  /** Bytes of the current chunk seen so far, skipped ones included. */
  #n = 0
  #hi = 0
  #lo = 0
  #cutHi = 0
  #cutLo = 0

  constructor(pol: bigint, wasm: WasmScanner | null) {
    const t = tablesFor(pol)
    this.#pol = pol
    this.#wasm = wasm
    this.#outHi = t.outHi
    this.#outLo = t.outLo
    this.#modHi = t.modHi
    this.#modLo = t.modLo
  }

  saveState(): ChunkerState {
    return { n: this.#n, hi: this.#hi, lo: this.#lo, window: this.#window.slice() }
  }

  restoreState(state: ChunkerState): void {
    if (state.window.length !== WINDOW_SIZE) throw new RangeError(`A chunker state has a ${WINDOW_SIZE}-byte window, not ${state.window.length}`)
    this.#n = state.n
    this.#hi = state.hi
    this.#lo = state.lo
    this.#window.set(state.window)
  }

  reset(): void {
    this.#n = 0
    this.#hi = 0
    this.#lo = 0
  }

  cutFingerprint(): bigint {
    return joinDigest(this.#cutHi, this.#cutLo)
  }

  currentFingerprint(): bigint {
    const n = this.#n
    if (n <= SKIP) return 1n
    const digest = joinDigest(this.#hi, this.#lo)
    if (n >= MIN_SIZE) return digest
    // restic's window still holds its initial 1, followed by the h bytes hashed so far; by linearity
    // that adds x^(8h) mod P to the fingerprint of the h bytes alone.
    const h = BigInt(n - SKIP)
    return digest ^ powerOfX(8n * h, this.#pol)
  }

  nextSplitPoint(buf: Uint8Array, start = 0, end = buf.length): number {
    if (!(start >= 0 && start <= end && end <= buf.length && Number.isInteger(start) && Number.isInteger(end))) {
      throw new RangeError(`Chunker range [${start}, ${end}) is outside a buffer of ${buf.length} bytes`)
    }
    let i = start
    let n = this.#n
    if (n < SKIP) {
      if (end - i <= SKIP - n) {
        this.#n = n + (end - i)
        return -1
      }
      i += SKIP - n
      n = SKIP
    }

    let hi = this.#hi
    let lo = this.#lo
    if (n < MIN_SIZE) {
      // The first 64 hashed bytes: nothing to slide out, and no cut before the last of them.
      const window = this.#window
      const modHi = this.#modHi
      const modLo = this.#modLo
      const stop = Math.min(end, i + (MIN_SIZE - n))
      for (; i < stop; i++, n++) {
        const b = buf[i]
        window[n & 63] = b
        const idx = hi >>> 13
        hi = ((hi << 8) | (lo >>> 24)) ^ modHi[idx]
        lo = ((lo << 8) | b) ^ modLo[idx]
      }
      if (n < MIN_SIZE) return this.#save(n, hi, lo)
      if ((lo & SPLIT_MASK) === 0) return this.#cut(i, hi, lo)
    }

    // Processing buf[stop - 1] brings the chunk to MaxSize, if the range reaches that far.
    const stop = Math.min(end, i + (MAX_SIZE - n))
    if (stop - i >= WASM_MIN_RANGE) {
      const own = scannerOf(buf)
      if (own !== undefined && this.#historyInPlace(buf, i, n)) return this.#scanInPlace(own, buf, i, stop, n, hi, lo)
      if (this.#wasm !== null) return this.#scanWasm(this.#wasm, buf, i, stop, n, hi, lo)
    }
    return this.#scanJs(buf, start, i, stop, n, hi, lo)
  }

  /** Steady state in JS: n ≥ MinSize, so every byte slides one out and may end the chunk. */
  #scanJs(buf: Uint8Array, start: number, i: number, stop: number, n: number, hi: number, lo: number): number {
    const window = this.#window
    const outHi = this.#outHi
    const outLo = this.#outLo
    const modHi = this.#modHi
    const modLo = this.#modLo
    const i0 = i
    const n0 = n

    // Until 64 bytes into this call, the byte leaving the window was seen in an earlier call.
    const windowStop = Math.min(stop, start + WINDOW_SIZE)
    for (; i < windowStop; i++) {
      const b = buf[i]
      const slot = (n0 + (i - i0)) & 63
      const o = window[slot]
      window[slot] = b
      const h = hi ^ outHi[o]
      const l = lo ^ outLo[o]
      const idx = h >>> 13
      hi = ((h << 8) | (l >>> 24)) ^ modHi[idx]
      lo = ((l << 8) | b) ^ modLo[idx]
      if ((lo & SPLIT_MASK) === 0) return this.#cut(i + 1, hi, lo)
    }

    // 64 bytes back is now always inside buf and inside this chunk's hashed part.
    for (; i < stop; i++) {
      const o = buf[i - WINDOW_SIZE]
      const h = hi ^ outHi[o]
      const l = lo ^ outLo[o]
      const idx = h >>> 13
      hi = ((h << 8) | (l >>> 24)) ^ modHi[idx]
      lo = ((l << 8) | buf[i]) ^ modLo[idx]
      if ((lo & SPLIT_MASK) === 0) return this.#cut(i + 1, hi, lo)
    }

    n = n0 + (i - i0)
    if (n >= MAX_SIZE) return this.#cut(i, hi, lo)
    if (i - start > WINDOW_SIZE) {
      // The second loop did not maintain the window: copy in the last 64 bytes, slot = position & 63.
      for (let k = i - WINDOW_SIZE, q = n - WINDOW_SIZE; k < i; k++, q++) window[q & 63] = buf[k]
    }
    return this.#save(n, hi, lo)
  }

  /** Whether the 64 bytes before buf[i] are the window (as when a chunk's bytes lie together in one buffer). */
  #historyInPlace(buf: Uint8Array, i: number, n: number): boolean {
    if (i < WINDOW_SIZE) return false
    const window = this.#window
    for (let k = i - WINDOW_SIZE, q = n - WINDOW_SIZE; k < i; k++, q++) if (window[q & 63] !== buf[k]) return false
    return true
  }

  /** Steady state in wasm on a scan buffer (createScanBuffer): buf lies in the scanner's memory, nothing is copied. */
  #scanInPlace(w: WasmScanner, buf: Uint8Array, i: number, stop: number, n: number, hi: number, lo: number): number {
    w.usePolynomial(this.#pol)
    w.setDigest(hi, lo)
    // Addresses in the scanner's memory: p is the byte leaving the window, p + 64 the one entering.
    const p0 = buf.byteOffset + i - WINDOW_SIZE
    const r = w.scan(p0, buf.byteOffset + stop - WINDOW_SIZE)
    if (r < 0) return this.#cut(i + (-r - p0), w.digestHi(), w.digestLo())
    n += stop - i
    i = stop
    hi = w.digestHi()
    lo = w.digestLo()
    if (n >= MAX_SIZE) return this.#cut(i, hi, lo)
    const window = this.#window
    for (let k = i - WINDOW_SIZE, q = n - WINDOW_SIZE; k < i; k++, q++) window[q & 63] = buf[k]
    return this.#save(n, hi, lo)
  }

  /** Steady state in wasm: the window goes in as the 64 bytes before the data, slices of buf after it. */
  #scanWasm(w: WasmScanner, buf: Uint8Array, i: number, stop: number, n: number, hi: number, lo: number): number {
    const window = this.#window
    const memory = w.memory
    w.usePolynomial(this.#pol)
    for (let k = HISTORY, q = n - WINDOW_SIZE; k < DATA; k++, q++) memory[k] = window[q & 63]
    w.setDigest(hi, lo)
    while (i < stop) {
      const len = Math.min(stop - i, SLICE)
      memory.set(buf.subarray(i, i + len), DATA)
      const r = w.scan(HISTORY, HISTORY + len)
      if (r < 0) return this.#cut(i + (-r - HISTORY), w.digestHi(), w.digestLo())
      i += len
      n += len
      // The last 64 bytes scanned become the history of the next slice.
      memory.copyWithin(HISTORY, HISTORY + len, DATA + len)
    }
    hi = w.digestHi()
    lo = w.digestLo()
    if (n >= MAX_SIZE) return this.#cut(i, hi, lo)
    for (let k = HISTORY, q = n - WINDOW_SIZE; k < DATA; k++, q++) window[q & 63] = memory[k]
    return this.#save(n, hi, lo)
  }

  #save(n: number, hi: number, lo: number): -1 {
    this.#n = n
    this.#hi = hi
    this.#lo = lo
    return -1
  }

  #cut(at: number, hi: number, lo: number): number {
    this.#cutHi = hi
    this.#cutLo = lo
    this.#n = 0
    this.#hi = 0
    this.#lo = 0
    return at
  }
}

function powerOfX(e: bigint, pol: bigint): bigint {
  // x^e mod P by square-and-multiply; e < 512 here, so this is a handful of steps.
  let result = 1n
  let base = polyMod(2n, pol)
  for (; e > 0n; e >>= 1n) {
    if (e & 1n) result = polyMulMod(result, base, pol)
    base = polyMulMod(base, base, pol)
  }
  return result
}
