import { createHash } from 'node:crypto'
import type { StagedFile } from '../../backends/index.js'
import type { Id } from '../../base/index.js'
import { seal, type MasterKey } from '../../crypto/index.js'
import type { BlobType, PackedBlob } from '../blob.js'
import type { BufferPool } from './buffer-pool.js'
import { encodeHeader } from './pack-format.js'

/** Blobs smaller than this are gathered with their neighbours into one write; larger ones are written as they are. */
const GATHER_BELOW = 128 * 1024
/** The size of the buffers (from the writer's pool) that small blobs are gathered in. */
export const STAGE_BUFFER_SIZE = 1024 * 1024

/**
 * A pack (of data or of tree blobs) written to storage while it fills (Backend.stage), so that
 * no pack is held in memory: each sealed blob is hashed in order and written at its offset, large ones straight
 * from where they lie (their `release` runs once written), small ones gathered into a 1 MiB
 * buffer first, so that thousands of small files cost a few writes per pack. finish() appends
 * the encrypted header and trailer and publishes the pack under the hash of its bytes.
 */
export class PackStream {
  readonly type: BlobType
  #file: StagedFile
  #buffers: BufferPool
  #blobs: PackedBlob[] = []
  #size = 0
  #hash = createHash('sha256')
  /** The gathering buffer and where its bytes go in the pack. */
  #stage: Buffer | undefined
  #stageAt = 0
  #stageLength = 0
  #writes = new Set<Promise<void>>()
  #failure: unknown

  /** `buffers` hold STAGE_BUFFER_SIZE bytes each; when none is free, a small blob is written by itself. */
  constructor(type: BlobType, file: StagedFile, buffers: BufferPool) {
    this.type = type
    this.#file = file
    this.#buffers = buffers
  }

  get size(): number {
    return this.#size
  }

  get count(): number {
    return this.#blobs.length
  }

  /**
   * Appends a sealed blob. `release` runs once its bytes are no longer needed: at once when they
   * were copied, else when their write settles; until then they must stay unchanged. Throws
   * (after releasing) when an earlier write failed.
   */
  add(id: Id, sealed: Uint8Array, uncompressedLength: number, release?: () => void): void {
    if (this.#failure !== undefined) {
      release?.()
      throw this.#failure
    }
    this.#blobs.push({ type: this.type, id, offset: this.#size, length: sealed.length, uncompressedLength })
    this.#hash.update(sealed)
    if (sealed.length < GATHER_BELOW && this.#gather(sealed)) release?.()
    else this.#write(sealed, this.#size, release)
    this.#size += sealed.length
  }

  /**
   * Writes the header and trailer, waits for every write and publishes the pack under its ID.
   * On failure the staged file is dropped and the error thrown.
   */
  async finish(key: MasterKey): Promise<{ id: Id; blobs: PackedBlob[]; size: number }> {
    this.#flush()
    const header = seal(key, encodeHeader(this.#blobs))
    const tail = Buffer.allocUnsafe(header.length + 4)
    header.copy(tail)
    tail.writeUInt32LE(header.length, header.length)
    this.#hash.update(tail)
    this.#write(tail, this.#size)
    this.#size += tail.length
    await this.#settle()
    const id = this.#hash.digest('hex')
    if (this.#failure !== undefined) {
      await this.#file.abort()
      throw this.#failure
    }
    await this.#file.commit(id)
    return { id, blobs: this.#blobs, size: this.#size }
  }

  /** Waits for the writes under way and drops the staged file. */
  async abort(): Promise<void> {
    this.#failure ??= new Error('aborted')
    this.#flush()
    await this.#settle()
    await this.#file.abort()
  }

  /** Copies `sealed` into the gathering buffer; false when no buffer is free. */
  #gather(sealed: Uint8Array): boolean {
    if (this.#stage !== undefined && (this.#stageAt + this.#stageLength !== this.#size || this.#stageLength + sealed.length > this.#stage.length)) this.#flush()
    if (this.#stage === undefined) {
      this.#stage = this.#buffers.tryAcquire()
      if (this.#stage === undefined) return false
      this.#stageAt = this.#size
      this.#stageLength = 0
    }
    this.#stage.set(sealed, this.#stageLength)
    this.#stageLength += sealed.length
    return true
  }

  /** Writes out the gathering buffer, which goes back to the pool once written. */
  #flush(): void {
    const stage = this.#stage
    if (stage === undefined) return
    this.#stage = undefined
    if (this.#stageLength === 0) this.#buffers.release(stage)
    else this.#write(stage.subarray(0, this.#stageLength), this.#stageAt, () => this.#buffers.release(stage))
  }

  #write(bytes: Uint8Array, position: number, after?: () => void): void {
    const p: Promise<void> = this.#file
      .write(bytes, position)
      .catch((err: unknown) => {
        this.#failure ??= err
      })
      .finally(() => {
        this.#writes.delete(p)
        after?.()
      })
    this.#writes.add(p)
  }

  async #settle(): Promise<void> {
    while (this.#writes.size > 0) await Promise.all(this.#writes)
  }
}
