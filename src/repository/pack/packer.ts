import { hashId, type Id } from '../../base/index.js'
import { seal, type MasterKey } from '../../crypto/index.js'
import type { BlobType, PackedBlob } from '../blob.js'
import { encodeHeader } from './pack-format.js'

/** A finished pack: its bytes (named by their SHA-256) and the blobs it holds. */
export interface FinishedPack {
  id: Id
  bytes: Buffer
  blobs: PackedBlob[]
}

/**
 * Collects sealed blobs of one type into a pack. Blobs are added already sealed (the caller
 * compresses and encrypts, possibly on other threads); the packer copies them into one growing
 * buffer, so each small sealed buffer can be freed at once and finishing needs no second copy
 * of the whole pack. It also writes the encrypted header and trailer.
 */
export class Packer {
  readonly type: BlobType
  #buf: Buffer
  #blobs: PackedBlob[] = []
  #size = 0
  /** Bytes the writer counts against its memory budget for this pack. */
  queuedBytes = 0

  constructor(type: BlobType, expectedSize = 1 << 20) {
    this.type = type
    this.#buf = Buffer.allocUnsafe(expectedSize)
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
    this.#reserve(sealed.length)
    this.#buf.set(sealed, this.#size)
    this.#size += sealed.length
  }

  /** Seals the header and returns the complete pack. The packer must not be used afterwards. */
  finish(key: MasterKey): FinishedPack {
    const header = seal(key, encodeHeader(this.#blobs))
    this.#reserve(header.length + 4)
    this.#buf.set(header, this.#size)
    this.#buf.writeUInt32LE(header.length, this.#size + header.length)
    const bytes = this.#buf.subarray(0, this.#size + header.length + 4)
    this.#buf = Buffer.alloc(0)
    return { id: hashId(bytes), bytes, blobs: this.#blobs }
  }

  #reserve(n: number): void {
    const need = this.#size + n
    if (need <= this.#buf.length) return
    let cap = Math.max(this.#buf.length, 1 << 16)
    while (cap < need) cap *= 2
    const grown = Buffer.allocUnsafe(cap)
    this.#buf.copy(grown, 0, 0, this.#size)
    this.#buf = grown
  }
}
