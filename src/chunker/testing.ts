/**
 * Test helpers for the chunker: the test-vector input stream, seeded pseudo-random data, an
 * archiver-like block feeder, and a plain restatement of restic's per-byte algorithm to compare with.
 * Only tests import this file.
 */
import { hash } from 'node:crypto'
import { createChunker, MAX_SIZE, MIN_SIZE, type Chunker } from './chunker.js'
import { tablesFor, WINDOW_SIZE } from './tables.js'

export const TEST_POLYNOMIAL = 0x3da3358b4dc173n

export interface ChunkInfo {
  offset: number
  length: number
  /** restic's `Cut`: the fingerprint at the split, or the current one for a chunk ended by EOF. */
  cut: bigint
}

/** SHA-256("restic-chunker-vector-0") ‖ SHA-256("restic-chunker-vector-1") ‖ …, cut to `size` bytes. */
export function counterStream(size: number): Uint8Array {
  const out = new Uint8Array(size)
  for (let i = 0, off = 0; off < size; i++, off += 32) {
    const d = hash('sha256', `restic-chunker-vector-${i}`, 'buffer')
    out.set(d.subarray(0, Math.min(32, size - off)), off)
  }
  return out
}

/** Deterministic bytes from a seed (xorshift32); not cryptographic, just reproducible. */
export function seededBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed | 0 || 1
  let off = 0
  for (; off + 4 <= size; off += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[off] = x
    out[off + 1] = x >>> 8
    out[off + 2] = x >>> 16
    out[off + 3] = x >>> 24
  }
  for (; off < size; off++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[off] = x
  }
  return out
}

/**
 * Chunks `data` the way the archiver will: each block is copied into one reused scratch buffer, at
 * `pad` bytes from its start with junk around it, so that reading outside [start, end) or relying on
 * a previous block's memory changes the result.
 */
export function chunkInBlocks(
  pol: bigint,
  data: Uint8Array,
  blockSize: number,
  { pad = 0, create = createChunker }: { pad?: number; create?: (pol: bigint) => Chunker } = {},
): ChunkInfo[] {
  const c = create(pol)
  const scratch = seededBytes(pad + blockSize + 97, blockSize + pad)
  const chunks: ChunkInfo[] = []
  let chunkStart = 0
  for (let off = 0; off < data.length; off += blockSize) {
    const len = Math.min(blockSize, data.length - off)
    scratch.set(data.subarray(off, off + len), pad)
    let pos = pad
    for (;;) {
      const split = c.nextSplitPoint(scratch, pos, pad + len)
      if (split < 0) break
      const end = off + (split - pad)
      chunks.push({ offset: chunkStart, length: end - chunkStart, cut: c.cutFingerprint() })
      chunkStart = end
      pos = split
    }
    // Scribble over the block so that a chunker keeping a reference to it would see garbage.
    scratch.fill(0xa5, pad, pad + len)
  }
  if (chunkStart < data.length) {
    chunks.push({ offset: chunkStart, length: data.length - chunkStart, cut: c.currentFingerprint() })
  }
  return chunks
}

/**
 * restic/chunker's algorithm written out byte by byte: window reset to zeros plus a 1, MinSize − 64
 * unhashed bytes, every later byte slid through the window. Slow but obviously faithful.
 */
export function referenceChunks(pol: bigint, data: Uint8Array): ChunkInfo[] {
  const { outHi, outLo, modHi, modLo } = tablesFor(pol)
  const window = new Uint8Array(WINDOW_SIZE)
  let wpos = 0
  let hi = 0
  let lo = 0
  let pre = 0
  let count = 0
  const slide = (b: number) => {
    const o = window[wpos]
    window[wpos] = b
    wpos = (wpos + 1) % WINDOW_SIZE
    hi ^= outHi[o]
    lo ^= outLo[o]
    const idx = hi >>> 13
    hi = ((hi << 8) | (lo >>> 24)) ^ modHi[idx]
    lo = ((lo << 8) | b) ^ modLo[idx]
  }
  const reset = () => {
    window.fill(0)
    wpos = 0
    hi = 0
    lo = 0
    count = 0
    slide(1)
    pre = MIN_SIZE - WINDOW_SIZE
  }
  const digest = () => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)

  reset()
  const chunks: ChunkInfo[] = []
  let start = 0
  for (let i = 0; i < data.length; i++) {
    count++
    if (pre > 0) {
      pre--
      continue
    }
    slide(data[i])
    if (((lo & 0xfffff) === 0 || count >= MAX_SIZE) && count >= MIN_SIZE) {
      chunks.push({ offset: start, length: count, cut: digest() })
      start = i + 1
      reset()
    }
  }
  if (start < data.length) chunks.push({ offset: start, length: data.length - start, cut: digest() })
  return chunks
}
