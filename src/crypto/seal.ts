import { createCipheriv, createDecipheriv, createSecretKey, randomFillSync, type Decipher, type KeyObject } from 'node:crypto'
import { MAC_SIZE, NONCE_SIZE, Poly1305Aes } from './poly1305-aes.js'
import { isAllZero, masterKeyProblem, type MasterKey } from './master-key.js'
import { invalidData } from './errors.js'

/**
 * Authenticated encryption of one file or blob (format §2.1): `IV || AES-256-CTR(P) || tag`, where
 * the tag is Poly1305-AES over the ciphertext only and IV doubles as the Poly1305-AES nonce.
 */

/** Bytes that sealing adds: the 16-byte IV in front and the 16-byte tag behind. */
export const CRYPTO_OVERHEAD = NONCE_SIZE + MAC_SIZE

// Nonces are drawn in batches: one randomFillSync and one ECB call per batch cost less than a
// single-nonce call each (both are dominated by per-call overhead, which matters for small blobs).
const NONCES_PER_BATCH = 256
// Measured: 128 KiB pieces beat both one blob-sized update and smaller pieces for 1-4 MiB blobs.
const PIECE_SIZE = 128 * 1024

/** What a master key needs for sealing and opening, built once per key object. */
class KeyState {
  readonly ctrKey: KeyObject
  readonly mac: Poly1305Aes
  #nonces: Buffer = Buffer.alloc(0)
  #masks: Buffer = Buffer.alloc(0)
  #next = 0

  constructor(key: MasterKey) {
    const problem = masterKeyProblem(key)
    if (problem !== undefined) throw new RangeError(`Invalid master key: ${problem}`)
    this.ctrKey = createSecretKey(key.encrypt)
    this.mac = new Poly1305Aes(key.macK, key.macR)
  }

  /** Masks (s values) of the current nonce batch; read after takeNonce(). */
  get masks(): Buffer {
    return this.#masks
  }

  /** Writes a fresh random nonce to out[offset..offset+16] and returns the offset of its mask. */
  takeNonce(out: Buffer, offset: number): number {
    for (;;) {
      if (this.#next >= this.#nonces.length) {
        this.#nonces = randomFillSync(Buffer.allocUnsafe(NONCES_PER_BATCH * NONCE_SIZE))
        this.#masks = this.mac.nonceMasks(this.#nonces)
        this.#next = 0
      }
      const at = this.#next
      this.#next += NONCE_SIZE
      this.#nonces.copy(out, offset, at, at + NONCE_SIZE)
      // restic refuses an all-zero IV; skipping one costs nothing and cannot realistically happen.
      if (!isZeroBlock(this.#nonces, at)) return at
    }
  }
}

function isZeroBlock(b: Buffer, at: number): boolean {
  let acc = 0
  for (let i = at; i < at + NONCE_SIZE; i++) acc |= b[i]
  return acc === 0
}

const states = new WeakMap<MasterKey, KeyState>()

function stateOf(key: MasterKey): KeyState {
  let s = states.get(key)
  if (s === undefined) {
    s = new KeyState(key)
    states.set(key, s)
  }
  return s
}

/**
 * Encrypts and authenticates `plaintext` under `key`.
 *
 * @example
 * const sealed = seal(key, Buffer.from('{"version":2}')) // 13 + 32 bytes
 */
export function seal(key: MasterKey, plaintext: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(plaintext.length + CRYPTO_OVERHEAD)
  sealInto(key, plaintext, out, 0)
  return out
}

/**
 * Like seal(), but writes the `plaintext.length + 32` sealed bytes into `out` at `offset` (for
 * building a pack without another copy). Returns the number of bytes written. `plaintext` may
 * alias `out` exactly at `offset + 16` (sealing in place) or not overlap it at all.
 */
export function sealInto(key: MasterKey, plaintext: Uint8Array, out: Buffer, offset: number): number {
  const total = plaintext.length + CRYPTO_OVERHEAD
  if (!Number.isInteger(offset) || offset < 0 || offset + total > out.length) {
    throw new RangeError(`Cannot seal ${plaintext.length} bytes into a ${out.length}-byte buffer at offset ${offset}`)
  }
  const state = stateOf(key)
  const maskOffset = state.takeNonce(out, offset)
  const ctStart = offset + NONCE_SIZE
  const ctEnd = ctStart + plaintext.length
  const tag = out.subarray(ctEnd, ctEnd + MAC_SIZE)
  const cipher = createCipheriv('aes-256-ctr', state.ctrKey, out.subarray(offset, ctStart))
  // Node has no in-place cipher API, so each ciphertext byte is copied once. CTR never holds data
  // back, so update() returns every byte; final() only frees the OpenSSL context (about 600
  // bytes) now instead of whenever the garbage collector gets to the cipher object, which in a
  // worker may be thousands of blobs later.
  if (plaintext.length <= PIECE_SIZE) {
    const ciphertext = cipher.update(plaintext)
    state.mac.tagWithMask(ciphertext, state.masks, maskOffset, tag)
    ciphertext.copy(out, ctStart)
  } else {
    // Pieces stay in cache while they are MACed and copied, and no blob-sized temporary is made.
    state.mac.startWithMask(state.masks, maskOffset)
    for (let i = 0; i < plaintext.length; i += PIECE_SIZE) {
      const piece = cipher.update(plaintext.subarray(i, i + PIECE_SIZE))
      state.mac.update(piece)
      piece.copy(out, ctStart + i)
    }
    state.mac.finish(tag)
  }
  cipher.final()
  return total
}

/**
 * A plaintext laid out to be sealed where it lies: NONCE_SIZE free bytes, the plaintext, then
 * MAC_SIZE free bytes. A document assembled anyway (an index file) is assembled into one, so
 * that sealing it (sealInPlace) needs no second document-sized buffer.
 */
export class Sealable {
  readonly buffer: Buffer

  constructor(buffer: Buffer) {
    if (buffer.length < CRYPTO_OVERHEAD) throw new RangeError(`A sealable buffer needs at least ${CRYPTO_OVERHEAD} bytes, got ${buffer.length}`)
    this.buffer = buffer
  }

  /** A sealable copy of `plaintext`. */
  static of(plaintext: Uint8Array): Sealable {
    const s = Sealable.withRoomFor(plaintext.length)
    s.plaintext.set(plaintext)
    return s
  }

  /** A sealable buffer for `length` plaintext bytes, not yet written. */
  static withRoomFor(length: number): Sealable {
    return new Sealable(Buffer.allocUnsafe(length + CRYPTO_OVERHEAD))
  }

  get plaintext(): Buffer {
    return this.buffer.subarray(NONCE_SIZE, this.buffer.length - MAC_SIZE)
  }
}

/** Seals a Sealable in its own buffer and returns that buffer; its plaintext is gone afterwards. */
export function sealInPlace(key: MasterKey, s: Sealable): Buffer {
  sealInto(key, s.plaintext, s.buffer, 0)
  return s.buffer
}

/**
 * Checks the tag of `sealed` and returns the plaintext. Throws INVALID_DATA when the input is
 * shorter than 32 bytes, the IV is all zero, or the tag does not match (damage, tampering, or
 * the wrong key).
 */
export function open(key: MasterKey, sealed: Uint8Array): Buffer {
  const plaintext = tryOpen(key, sealed)
  if (plaintext === undefined) throw invalidData('Cannot decrypt data: ciphertext verification failed (MAC mismatch)')
  return plaintext
}

/**
 * open() into `out` (at least `sealed.length - 32` bytes): returns the plaintext as a view of
 * it. Node's decipher has no in-place API, so the ciphertext is decrypted a piece at a time and
 * copied: the pieces are small and short-lived, where one blob-sized output per blob left worker
 * threads' heaps tens of MiB larger than the data in flight (a check or restore decrypts
 * gigabytes of them).
 *
 * `out` may be the ciphertext itself (`sealed.subarray(16)`, decrypting in place): each piece is
 * read before it is written over. It must not overlap `sealed` in any other way.
 */
export function openInto(key: MasterKey, sealed: Uint8Array, out: Buffer): Buffer {
  const buf = Buffer.isBuffer(sealed) ? sealed : Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength)
  const decipher = verified(key, buf)
  if (decipher === undefined) throw invalidData('Cannot decrypt data: ciphertext verification failed (MAC mismatch)')
  const length = buf.length - CRYPTO_OVERHEAD
  if (out.length < length) throw new RangeError(`Cannot open ${length} bytes of plaintext into a ${out.length}-byte buffer`)
  for (let i = 0; i < length; i += OPEN_PIECE_SIZE) {
    decipher.update(buf.subarray(NONCE_SIZE + i, NONCE_SIZE + Math.min(length, i + OPEN_PIECE_SIZE))).copy(out, i)
  }
  decipher.final()
  return out.subarray(0, length)
}

/** Decrypts a sealed blob's ciphertext front to back, in ranges of the reader's choosing (see openInOrder). */
export interface CiphertextReader {
  /** Bytes of ciphertext. */
  readonly length: number
  /** Bytes decrypted so far: the next call starts there. */
  readonly position: number
  /** Decrypts the next `n` bytes (fewer at the end) into a new buffer. */
  next(n: number): Buffer
  /** Frees the decryption state now; call once done, whether or not everything was read. */
  end(): void
}

/**
 * Checks the tag of `sealed` and returns a reader that decrypts its ciphertext in order, a
 * piece at a time, without a buffer for all of it: for a caller that only looks at each piece
 * once (check hashes an uncompressed blob as it is decrypted). `sealed` must not change while
 * it is read. Throws INVALID_DATA on a MAC mismatch, as open() does.
 */
export function openInOrder(key: MasterKey, sealed: Uint8Array): CiphertextReader {
  const buf = Buffer.isBuffer(sealed) ? sealed : Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength)
  const decipher = verified(key, buf)
  if (decipher === undefined) throw invalidData('Cannot decrypt data: ciphertext verification failed (MAC mismatch)')
  const ciphertext = buf.subarray(NONCE_SIZE, buf.length - MAC_SIZE)
  let position = 0
  let ended = false
  return {
    length: ciphertext.length,
    get position() {
      return position
    },
    next(n) {
      const end = Math.min(ciphertext.length, position + n)
      const out = decipher.update(ciphertext.subarray(position, end))
      position = end
      return out
    },
    end() {
      if (ended) return
      ended = true
      decipher.final()
    },
  }
}

/** Below glibc's mmap threshold, so that each piece is a quick heap allocation, not a mapping. */
const OPEN_PIECE_SIZE = 64 * 1024

/** open() that returns undefined on a MAC mismatch, so a caller can tell a wrong key from other damage. */
export function tryOpen(key: MasterKey, sealed: Uint8Array): Buffer | undefined {
  const buf = Buffer.isBuffer(sealed) ? sealed : Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength)
  const decipher = verified(key, buf)
  if (decipher === undefined) return undefined
  const plaintext = decipher.update(buf.subarray(NONCE_SIZE, buf.length - MAC_SIZE))
  decipher.final() // frees the OpenSSL context now (see sealInto)
  return plaintext
}

/** Checks the sealed bytes' form and MAC; the decipher for their ciphertext, or undefined on a MAC mismatch. */
function verified(key: MasterKey, buf: Buffer): Decipher | undefined {
  if (buf.length < CRYPTO_OVERHEAD) {
    throw invalidData(`Cannot decrypt data: ${buf.length} bytes is shorter than the ${CRYPTO_OVERHEAD}-byte minimum`)
  }
  const nonce = buf.subarray(0, NONCE_SIZE)
  if (isAllZero(nonce)) throw invalidData('Cannot decrypt data: the IV is all zero')
  const state = stateOf(key)
  const macStart = buf.length - MAC_SIZE
  if (!state.mac.verify(buf.subarray(NONCE_SIZE, macStart), nonce, buf.subarray(macStart))) return undefined
  return createDecipheriv('aes-256-ctr', state.ctrKey, nonce)
}
