/**
 * Deterministic test data: the same seed always gives the same bytes, so fixtures are
 * reproducible across runs and machines while still looking random to a compressor.
 */
import { createCipheriv, createHash } from 'node:crypto'

/**
 * `length` bytes of incompressible data derived from `seed` (an AES-256-CTR key stream, which
 * runs at memory speed, unlike a JS PRNG loop).
 */
export function randomBytes(seed: string, length: number): Buffer {
  const key = createHash('sha256').update(seed).digest()
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  const out = cipher.update(Buffer.alloc(length))
  cipher.final()
  return out
}

/** A small seeded PRNG (SplitMix32 flavour) for choices, not for bulk bytes. */
export function createPrng(seed: string): () => number {
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0)
  return () => {
    state = (state + 0x9e3779b9) | 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
}

/**
 * `length` bytes of text-like, well compressible data. Lines of words from a seeded vocabulary
 * make a 64 KiB base text; the output is stitched from slices of it at seeded offsets, which
 * zstd shrinks to roughly a third and which is much faster than generating every word.
 */
export function compressibleBytes(seed: string, length: number): Buffer {
  const next = createPrng(seed)
  const base = wordText(next, Math.min(length, 64 * 1024))
  if (base.length === length) return base
  const out = Buffer.allocUnsafe(length)
  let pos = 0
  while (pos < length) {
    const start = next() % base.length
    const len = Math.min(256 + (next() % 3840), base.length - start, length - pos)
    pos += base.copy(out, pos, start, start + len)
  }
  return out
}

function wordText(next: () => number, length: number): Buffer {
  const letters = 'etaoinshrdlucmfwypvbgkjqxz'
  const vocab: Buffer[] = []
  for (let i = 0; i < 512; i++) {
    const len = 2 + (next() % 9)
    let w = ''
    for (let j = 0; j < len; j++) w += letters[next() % (j === 0 ? 26 : 12)]
    vocab.push(Buffer.from(w))
  }
  const out = Buffer.allocUnsafe(length)
  let pos = 0
  let lineLen = 0
  while (pos < length) {
    const word = vocab[next() % vocab.length]
    pos += word.copy(out, pos, 0, Math.min(word.length, length - pos))
    lineLen += word.length + 1
    if (pos < length) out[pos++] = lineLen > 70 ? 0x0a : 0x20
    if (lineLen > 70) lineLen = 0
  }
  return out
}
