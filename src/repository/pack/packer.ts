import { createHash, type Hash } from 'node:crypto'
import type { Id } from '../../base/index.js'
import { seal, type MasterKey } from '../../crypto/index.js'
import type { BlobType, PackedBlob } from '../blob.js'
import { encodeHeader } from './pack-format.js'

/** A finished pack: its bytes (named by their SHA-256) and the blobs it holds. */
export interface FinishedPack {
  id: Id
  bytes: Buffer
  blobs: PackedBlob[]
  /** The whole buffer `bytes` lies in, to be reused for another pack once `bytes` is stored. */
  buffer: Buffer
}

/**
 * Collects sealed blobs of one type into a pack. Blobs are added already sealed (the caller
 * compresses and encrypts, possibly on other threads); the packer copies them into one buffer
 * (given by the caller, so it can be reused pack after pack) and hashes them on the way, so
 * finishing needs neither a second copy nor a second pass over the pack. It also writes the
 * encrypted header and trailer. The buffer grows when a pack outgrows it.
 */
export class Packer {
  readonly type: BlobType
  #buf: Buffer
  #blobs: PackedBlob[] = []
  #size = 0
  #hash: Hash = createHash('sha256')

  /** `buffer` (or a new one of `buffer` bytes) is where the pack is assembled; its contents are overwritten. */
  constructor(type: BlobType, buffer: Buffer | number = 1 << 20) {
    this.type = type
    this.#buf = typeof buffer === 'number' ? Buffer.allocUnsafeSlow(buffer) : buffer
  }

  get size(): number {
    return this.#size
  }

  get count(): number {
    return this.#blobs.length
  }

  /** Appends a sealed blob (IV‖ciphertext‖MAC). `uncompressedLength` is 0 when not compressed. */
  add(id: Id, sealed: Uint8Array, uncompressedLength: number): void {
    this.#blobs.push({ type: this.type, id, offset: this.#size, length: sealed.length, uncompressedLength })
    this.#append(sealed)
  }

  /** Seals the header and returns the complete pack. The packer must not be used afterwards. */
  finish(key: MasterKey): FinishedPack {
    const header = seal(key, encodeHeader(this.#blobs))
    const trailer = Buffer.allocUnsafe(4)
    trailer.writeUInt32LE(header.length)
    this.#append(header)
    this.#append(trailer)
    const buffer = this.#buf
    this.#buf = Buffer.alloc(0)
    return { id: this.#hash.digest('hex'), bytes: buffer.subarray(0, this.#size), blobs: this.#blobs, buffer }
  }

  #append(bytes: Uint8Array): void {
    this.#reserve(bytes.length)
    this.#buf.set(bytes, this.#size)
    this.#size += bytes.length
    this.#hash.update(bytes)
  }

  #reserve(n: number): void {
    const need = this.#size + n
    if (need <= this.#buf.length) return
    let cap = Math.max(this.#buf.length, 1 << 16)
    while (cap < need) cap *= 2
    const grown = Buffer.allocUnsafeSlow(cap)
    this.#buf.copy(grown, 0, 0, this.#size)
    this.#buf = grown
  }
}
