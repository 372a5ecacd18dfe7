/**
 * Polynomials over GF(2) as BigInt bit masks (bit i = coefficient of x^i), as restic stores them.
 * Only table setup, config parsing and polynomial generation use this; the chunking loop never
 * touches BigInt.
 */
import { randomBytes } from 'node:crypto'
import { AppError } from '../base/index.js'

/** restic always uses degree 53: the largest prime below 64 − 8, so a digest shifted by a byte fits 64 bits. */
export const POLYNOMIAL_DEGREE = 53

// restic gives up after this many candidates; about one in 27 passes, so reaching it means a broken source.
const MAX_TRIES = 1_000_000
const LOW_54_BITS = (1n << 54n) - 1n
const HEX = /^[0-9a-fA-F]{1,16}$/

/** Degree of `p`; −1 for the zero polynomial. */
export function degree(p: bigint): number {
  if (p < 0n) throw new RangeError(`Polynomial must not be negative, got ${p}`)
  return p === 0n ? -1 : p.toString(2).length - 1
}

/** Remainder of `x` divided by `m` (m ≠ 0). */
export function polyMod(x: bigint, m: bigint): bigint {
  const dm = degree(m)
  if (dm < 0) throw new RangeError('Polynomial division by zero')
  for (let dx = degree(x); dx >= dm; dx = degree(x)) x ^= m << BigInt(dx - dm)
  return x
}

/** `a · b mod m`, keeping every intermediate below deg m so no operand grows. */
export function polyMulMod(a: bigint, b: bigint, m: bigint): bigint {
  const top = 1n << BigInt(degree(m))
  a = polyMod(a, m)
  let r = 0n
  for (; b !== 0n; b >>= 1n) {
    if (b & 1n) r ^= a
    a <<= 1n
    if (a & top) a ^= m
  }
  return polyMod(r, m)
}

export function polyGcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, polyMod(a, b)]
  return a
}

/**
 * Ben-Or's test, as restic/chunker runs it: f is irreducible iff gcd(f, x^(2^i) − x mod f) = 1 for
 * every i in 1…⌊deg f / 2⌋. Constants (degree < 1) are not irreducible.
 */
export function isIrreducible(pol: bigint): boolean {
  const d = degree(pol)
  if (d < 1) return false
  const x = polyMod(2n, pol)
  let power = x // x^(2^i) mod f, squared once per round
  for (let i = 1; i <= d >> 1; i++) {
    power = polyMulMod(power, power, pol)
    if (polyGcd(pol, power ^ x) !== 1n) return false
  }
  return true
}

/**
 * A random irreducible polynomial of degree 53, drawn the way restic draws one: 8 random bytes read
 * as a little-endian integer, bits above 53 dropped, bits 53 and 0 set, retried until Ben-Or passes.
 */
export function randomPolynomial(): bigint {
  for (let i = 0; i < MAX_TRIES; i++) {
    const pol = (randomBytes(8).readBigUInt64LE(0) & LOW_54_BITS) | (1n << 53n) | 1n
    if (isIrreducible(pol)) return pol
  }
  throw new AppError('INTERNAL', `No irreducible polynomial found in ${MAX_TRIES} random tries`, {
    hint: 'The system random number generator looks broken',
  })
}

/**
 * Reads the `chunker_polynomial` of a repository config: hex without `0x`. The value must be an
 * irreducible polynomial of degree 53, since cairn's chunker and restic's both assume that.
 */
export function parsePolynomial(hex: string): bigint {
  const hint = 'The repository config is damaged or was not written by restic or cairn'
  if (typeof hex !== 'string' || !HEX.test(hex)) {
    throw new AppError('INVALID_DATA', `Chunker polynomial "${String(hex)}" is not a hexadecimal number`, { hint })
  }
  const pol = BigInt('0x' + hex)
  const d = degree(pol)
  if (d !== POLYNOMIAL_DEGREE) {
    throw new AppError('INVALID_DATA', `Chunker polynomial "${hex}" has degree ${d}, expected ${POLYNOMIAL_DEGREE}`, {
      hint,
    })
  }
  if (!isIrreducible(pol)) {
    throw new AppError('INVALID_DATA', `Chunker polynomial "${hex}" is reducible`, { hint })
  }
  return pol
}

/** The config encoding: lowercase hex, no `0x`, no padding. */
export function formatPolynomial(pol: bigint): string {
  if (pol < 0n) throw new RangeError(`Polynomial must not be negative, got ${pol}`)
  return pol.toString(16)
}
