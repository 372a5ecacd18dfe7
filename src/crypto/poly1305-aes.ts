import { createCipheriv, type Cipher } from 'node:crypto'
import { createRequire } from 'node:module'
import type SodiumNative from 'sodium-native'

// sodium-native has the streaming Poly1305 API, but its published types omit it.
interface StreamingOneTimeAuth {
  crypto_onetimeauth_init(state: Buffer, key: Buffer): void
  crypto_onetimeauth_update(state: Buffer, input: Buffer): void
  crypto_onetimeauth_final(state: Buffer, out: Buffer): void
}
// required, not imported: Node's import of a CommonJS package first scans its source for
// export names, which costs sodium-native 65 ms of every command's start.
const sodium = createRequire(import.meta.url)('sodium-native') as typeof SodiumNative & StreamingOneTimeAuth

/**
 * Poly1305-AES (Bernstein 2005) as restic uses it: the one-time Poly1305 key is `r' || s`, where
 * r' is the clamped `mac.r` and s = AES-128(mac.k, nonce). The message is the ciphertext only.
 * Poly1305 itself runs in libsodium, about fifteen times faster than a JS implementation.
 */

export const MAC_SIZE = 16
export const NONCE_SIZE = 16

const CLAMP = Buffer.from('ffffff0ffcffff0ffcffff0ffcffff0f', 'hex')

/** `r` with the Poly1305 clamp applied (idempotent; restic stores r clamped but we never rely on it). */
export function clampR(r: Uint8Array): Buffer {
  if (r.length !== 16) throw new RangeError(`Poly1305 r must be 16 bytes, got ${r.length}`)
  const out = Buffer.allocUnsafe(16)
  for (let i = 0; i < 16; i++) out[i] = r[i] & CLAMP[i]
  return out
}

/**
 * The MAC half of a restic key, ready for many messages. The methods share scratch state and are
 * synchronous, so one instance serves one thread; a streaming tag (start/update/finish) must finish
 * before the next call.
 */
export class Poly1305Aes {
  readonly #ecb: Cipher
  /** r' || s. Only s changes per nonce. */
  readonly #oneTimeKey = Buffer.alloc(32)
  readonly #state = Buffer.alloc(sodium.crypto_onetimeauth_STATEBYTES)

  constructor(macK: Uint8Array, macR: Uint8Array) {
    if (macK.length !== 16) throw new RangeError(`Poly1305-AES k must be 16 bytes, got ${macK.length}`)
    clampR(macR).copy(this.#oneTimeKey, 0)
    // One long-lived ECB cipher: creating a cipher object costs more than encrypting one block.
    // update() never holds data back here because padding is off and inputs are whole blocks.
    this.#ecb = createCipheriv('aes-128-ecb', macK, null)
    this.#ecb.setAutoPadding(false)
  }

  /** s = AES-128(k, nonce) for each 16-byte nonce in `nonces`, in one cipher call. */
  nonceMasks(nonces: Uint8Array): Buffer {
    if (nonces.length % 16 !== 0) throw new RangeError(`Nonces must be whole 16-byte blocks, got ${nonces.length} bytes`)
    return this.#ecb.update(nonces)
  }

  /** Writes the tag of `msg` into `out` (16 bytes), where s = masks[maskOffset..+16]. */
  tagWithMask(msg: Buffer, masks: Buffer, maskOffset: number, out: Buffer): void {
    masks.copy(this.#oneTimeKey, 16, maskOffset, maskOffset + 16)
    sodium.crypto_onetimeauth(out, msg, this.#oneTimeKey)
  }

  /** Starts a tag over a message given in pieces (see update and finish); s as for tagWithMask. */
  startWithMask(masks: Buffer, maskOffset: number): void {
    masks.copy(this.#oneTimeKey, 16, maskOffset, maskOffset + 16)
    sodium.crypto_onetimeauth_init(this.#state, this.#oneTimeKey)
  }

  update(piece: Buffer): void {
    sodium.crypto_onetimeauth_update(this.#state, piece)
  }

  finish(out: Buffer): void {
    sodium.crypto_onetimeauth_final(this.#state, out)
  }

  /** Writes the tag of `msg` under `nonce` into `out` (16 bytes). */
  tag(msg: Buffer, nonce: Buffer, out: Buffer): void {
    checkNonce(nonce)
    this.tagWithMask(msg, this.#ecb.update(nonce), 0, out)
  }

  /** True when `tag` is the tag of `msg` under `nonce` (constant-time comparison). */
  verify(msg: Buffer, nonce: Buffer, tag: Buffer): boolean {
    checkNonce(nonce)
    this.#ecb.update(nonce).copy(this.#oneTimeKey, 16)
    return sodium.crypto_onetimeauth_verify(tag, msg, this.#oneTimeKey)
  }
}

// A short nonce would leave a partial block inside the shared ECB cipher and shift every later mask.
function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== NONCE_SIZE) throw new RangeError(`Nonce must be ${NONCE_SIZE} bytes, got ${nonce.length}`)
}
