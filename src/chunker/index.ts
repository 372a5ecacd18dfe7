/**
 * @module chunker
 * restic's content-defined chunker (restic/chunker v0.4), byte-identical so that cairn and restic
 * deduplicate each other's data. No knowledge of repositories.
 *
 * Terms:
 * - **polynomial**: an irreducible polynomial of degree 53 over GF(2), stored as a bigint bit mask
 *   (bit i = coefficient of x^i). Each repository has one, in its config as lowercase hex.
 * - **fingerprint** (digest): the Rabin fingerprint, modulo the polynomial, of the last 64 bytes
 *   (the window).
 * - **chunk**: a run of file bytes stored as one data blob. A chunk ends after the first byte at
 *   which the low 20 bits of the fingerprint are zero, provided the chunk has at least
 *   {@link MIN_SIZE} bytes, or when it reaches {@link MAX_SIZE} bytes, or at the end of the file.
 *   The first MIN_SIZE − 64 bytes of a chunk are never hashed, and every chunk starts from a fresh
 *   state, so boundaries depend only on the bytes since the previous boundary.
 * - **split point**: the offset just after a chunk's last byte.
 *
 * @example
 * const c = createChunker(parsePolynomial(config.chunker_polynomial))
 * c.reset() // at the start of every file
 * let pos = 0
 * for (;;) {
 *   const split = c.nextSplitPoint(block, pos, block.length)
 *   if (split < 0) break // the rest of block continues the current chunk
 *   // the current chunk ends at block[split - 1]
 *   pos = split
 * }
 * // at EOF, the bytes since the last split point (if any) are the last chunk
 */
export { MIN_SIZE, MAX_SIZE, createChunker, chunkBuffer, couldEndChunk } from './chunker.js'
export { createScanBuffer } from './wasm-scanner.js'
export type { Chunker, ChunkerState } from './chunker.js'
export { randomPolynomial, isIrreducible, parsePolynomial, formatPolynomial, POLYNOMIAL_DEGREE } from './polynomial.js'
