import { hashId, type Id } from '../base/index.js'
import { seal, type MasterKey } from '../crypto/index.js'
import type { BlobType } from './blob.js'
import { zstdCompress } from './compression.js'
import type { MasterIndex } from './index/master-index.js'
import { encodeIndex, type IndexPack } from './index/index-file.js'
import { Packer, type FinishedPack } from './pack/packer.js'
import type { Backend } from '../backends/index.js'

export type CompressionMode = 'auto' | 'off' | 'max'

export interface WriterOptions {
  /** Target pack size in bytes; a pack is finished once it reaches it. Default 16 MiB. */
  packSize?: number
  compression?: CompressionMode
  /** Packs uploaded at once; `saveBlob` waits when this many are in flight. */
  uploadConcurrency?: number
}

/** What a BlobWriter needs from the repository: narrow on purpose. */
export interface WriterTarget {
  readonly backend: Backend
  readonly key: MasterKey
  readonly index: MasterIndex
  readonly version: 1 | 2
  saveUnpacked(type: 'index', json: Uint8Array): Promise<Id>
}

export interface SaveResult {
  id: Id
  /** The repository had the blob already (nothing was stored). */
  known: boolean
  /** Bytes added to packs (sealed, possibly compressed). */
  stored: number
}

/** An index file is started anew after this many blobs (restic v2 does the same). */
const INDEX_BLOB_LIMIT = 150_000

/**
 * Saves blobs into packs, uploads finished packs, and writes index files for them. Order on
 * disk is always packs → index, so a crash leaves at worst unreferenced packs, never an index
 * entry without its pack. Used only inside Repository.withWriter, which calls flush().
 */
export class BlobWriter {
  #target: WriterTarget
  #packSize: number
  #compression: CompressionMode
  #concurrency: number
  #packers: Record<BlobType, Packer | undefined> = { data: undefined, tree: undefined }
  #pending = new Set<string>()
  #inFlight = new Set<Promise<void>>()
  #failure: unknown
  #indexPacks: IndexPack[] = []
  #indexBlobs = 0
  #indexWrites: Promise<void> = Promise.resolve()
  /** Totals for the summary: blobs and bytes added by this writer. */
  readonly stats = { dataBlobs: 0, treeBlobs: 0, dataAdded: 0, dataAddedPacked: 0, packs: 0 }

  constructor(target: WriterTarget, options: WriterOptions = {}) {
    this.#target = target
    this.#packSize = options.packSize ?? 16 * 1024 * 1024
    this.#compression = target.version === 1 ? 'off' : (options.compression ?? 'auto')
    this.#concurrency = options.uploadConcurrency ?? Math.max(1, target.backend.properties.connections)
  }

  /** True when the repository or this writer already holds the blob. */
  has(type: BlobType, id: Id): boolean {
    return this.#pending.has(type + id) || this.#target.index.has(type, id)
  }

  /**
   * Stores a blob unless it is known. `id` may be passed when the caller already hashed the data.
   * Resolves once the blob is in a pack buffer (not necessarily uploaded: flush() does that).
   */
  async saveBlob(type: BlobType, data: Uint8Array, id: Id = hashId(data)): Promise<SaveResult> {
    this.#throwIfFailed()
    if (this.has(type, id)) return { id, known: true, stored: 0 }
    this.#pending.add(type + id)
    const { sealed, uncompressedLength } = this.#encode(type, data)
    let packer = this.#packers[type]
    if (packer === undefined) packer = this.#packers[type] = new Packer(type)
    packer.add(id, sealed, uncompressedLength)
    if (type === 'data') {
      this.stats.dataBlobs++
      this.stats.dataAdded += data.length
    } else this.stats.treeBlobs++
    this.stats.dataAddedPacked += sealed.length
    if (packer.size >= this.#packSize) await this.#finishPack(type)
    return { id, known: false, stored: sealed.length }
  }

  /** Finishes open packs, waits for every upload, and writes the index for them. */
  async flush(): Promise<void> {
    await this.#finishPack('data')
    await this.#finishPack('tree')
    await this.#drain()
    this.#throwIfFailed()
    if (this.#indexPacks.length > 0) this.#writeIndex()
    await this.#indexWrites
    this.#throwIfFailed()
  }

  /** Waits for uploads already started, without writing anything new (used after an error). */
  async abort(): Promise<void> {
    this.#packers = { data: undefined, tree: undefined }
    await this.#drain().catch(() => {})
    await this.#indexWrites.catch(() => {})
  }

  #encode(type: BlobType, data: Uint8Array): { sealed: Buffer; uncompressedLength: number } {
    const key = this.#target.key
    if (this.#compression !== 'off' && data.length > 0) {
      const z = zstdCompress(data, this.#compression === 'max' ? 19 : 3)
      // Trees are always stored compressed (restic's prune repacks packs holding uncompressed
      // trees); data only when compression actually saves space.
      if (type === 'tree' || z.length < data.length) return { sealed: seal(key, z), uncompressedLength: data.length }
    }
    return { sealed: seal(key, data), uncompressedLength: 0 }
  }

  async #finishPack(type: BlobType): Promise<void> {
    const packer = this.#packers[type]
    if (packer === undefined || packer.count === 0) return
    this.#packers[type] = undefined
    const pack = packer.finish(this.#target.key)
    while (this.#inFlight.size >= this.#concurrency) await Promise.race(this.#inFlight)
    const p: Promise<void> = this.#upload(pack).finally(() => this.#inFlight.delete(p))
    this.#inFlight.add(p)
  }

  async #upload(pack: FinishedPack): Promise<void> {
    try {
      await this.#target.backend.save({ type: 'data', name: pack.id }, pack.bytes)
    } catch (err) {
      this.#failure ??= err
      return
    }
    this.stats.packs++
    this.#target.index.addPack(pack.id, pack.blobs)
    for (const b of pack.blobs) this.#pending.delete(b.type + b.id)
    this.#indexPacks.push({ id: pack.id, blobs: pack.blobs })
    this.#indexBlobs += pack.blobs.length
    if (this.#indexBlobs >= INDEX_BLOB_LIMIT) this.#writeIndex()
  }

  #writeIndex(): void {
    const packs = this.#indexPacks
    this.#indexPacks = []
    this.#indexBlobs = 0
    this.#indexWrites = this.#indexWrites.then(async () => {
      try {
        await this.#target.saveUnpacked('index', encodeIndex({ supersedes: [], packs }))
      } catch (err) {
        this.#failure ??= err
      }
    })
  }

  async #drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight)
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure
  }
}

