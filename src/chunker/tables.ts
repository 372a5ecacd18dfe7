/**
 * The two 256-entry lookup tables of restic's Rabin fingerprint, split into 32-bit halves.
 *
 * The digest D is below 2^53, too wide for JS bit operators, so it lives in two int32s: `hi` holds
 * bits 32…52 and `lo` bits 0…31. One byte update of D (restic's updateDigest) then reads
 *
 *   idx = hi >>> 13                       // D >> 45: the 8 bits that shifting out will overflow
 *   hi  = ((hi << 8) | (lo >>> 24)) ^ modHi[idx]
 *   lo  = ((lo << 8) | b) ^ modLo[idx]
 *
 * mod[idx] carries both the reduction of idx·x^53 and idx·x^53 itself, so the XOR also clears the
 * overflow bits (which sit at bits 21…28 of `hi`) and D stays below 2^53.
 */
import { AppError } from '../base/index.js'
import { degree, polyMod, POLYNOMIAL_DEGREE } from './polynomial.js'

export const WINDOW_SIZE = 64

export interface Tables {
  /** out[b]: fingerprint of b followed by 63 zero bytes; XOR it in to slide b out of the window. */
  readonly outHi: Int32Array
  readonly outLo: Int32Array
  /** mod[b] = (b·x^53 mod P) | b·x^53. */
  readonly modHi: Int32Array
  readonly modLo: Int32Array
}

// A repository has one polynomial and a process opens few repositories, so the cache never needs evicting.
const cache = new Map<bigint, Tables>()

/** Tables for `pol`, built on first use and shared afterwards (they are never written). */
export function tablesFor(pol: bigint): Tables {
  let t = cache.get(pol)
  if (t === undefined) {
    t = buildTables(pol)
    cache.set(pol, t)
  }
  return t
}

function buildTables(pol: bigint): Tables {
  const d = degree(pol)
  if (d !== POLYNOMIAL_DEGREE) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `Chunker polynomial "${pol.toString(16)}" has degree ${d}, expected ${POLYNOMIAL_DEGREE}`,
      { hint: 'Use a polynomial from parsePolynomial() or randomPolynomial()' },
    )
  }
  const modHi = new Int32Array(256)
  const modLo = new Int32Array(256)
  for (let b = 0; b < 256; b++) {
    const shifted = BigInt(b) << 53n
    const v = polyMod(shifted, pol) | shifted
    modHi[b] = Number(v >> 32n)
    modLo[b] = Number(BigInt.asIntN(32, v))
  }

  // appendByte(h, b) = ((h << 8) | b) mod P equals the table update for any reduced h, so the out
  // table can be built with the mod table instead of BigInt division.
  const outHi = new Int32Array(256)
  const outLo = new Int32Array(256)
  for (let b = 0; b < 256; b++) {
    let hi = 0
    let lo = 0
    for (let i = 0; i < WINDOW_SIZE; i++) {
      const idx = hi >>> 13
      hi = ((hi << 8) | (lo >>> 24)) ^ modHi[idx]
      lo = ((lo << 8) | (i === 0 ? b : 0)) ^ modLo[idx]
    }
    outHi[b] = hi
    outLo[b] = lo
  }
  return { outHi, outLo, modHi, modLo }
}

/** Joins a split digest back into one value (for tests and diagnostics, never per byte). */
export function joinDigest(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)
}
