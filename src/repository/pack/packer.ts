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
 * compresses and encrypts, possibly on other threads); the packer only lays them out and writes
 * the encrypted header and trailer.
 */
export class Packer {
  readonly type: BlobType
  #parts: Buffer[] = []
  #blobs: PackedBlob[] = []
  #size = 0

  constructor(type: BlobType) {
    this.type = type
  }

  get size(): number {
    return this.#size
  }

  get count(): number {
    return this.#blobs.length
  }

  /** Appends a sealed blob (IV‖ciphertext‖MAC). `uncompressedLength` is 0 when not compressed. */
  add(id: Id, sealed: Buffer, uncompressedLength: number): void {
    this.#blobs.push({ type: this.type, id, offset: this.#size, length: sealed.length, uncompressedLength })
    this.#parts.push(sealed)
    this.#size += sealed.length
  }

  /** Seals the header and returns the complete pack. The packer must not be used afterwards. */
  finish(key: MasterKey): FinishedPack {
    const header = seal(key, encodeHeader(this.#blobs))
    const trailer = Buffer.allocUnsafe(4)
    trailer.writeUInt32LE(header.length, 0)
    const bytes = Buffer.concat([...this.#parts, header, trailer], this.#size + header.length + 4)
    this.#parts = []
    return { id: hashId(bytes), bytes, blobs: this.#blobs }
  }
}
