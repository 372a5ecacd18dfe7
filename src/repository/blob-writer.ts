import { hashId, type Id } from '../base/index.js'
import type { Backend } from '../backends/index.js'
import type { MasterKey, Sealable } from '../crypto/index.js'
import type { BlobType } from './blob.js'
import { createInlineEncoder, type BlobEncoder, type EncodedBlob } from './blob-encoder.js'
import { DEFAULT_LEVEL } from './compression.js'
import type { MasterIndex } from './index/master-index.js'
import { IndexFileBuilder } from './index/index-file.js'
import { BufferPool } from './pack/buffer-pool.js'
import { PackStream, STAGE_BUFFER_SIZE } from './pack/pack-stream.js'
import { Packer } from './pack/packer.js'
import type { PackedBlob } from './blob.js'

export type CompressionMode = 'auto' | 'off' | 'max'

export interface WriterOptions {
  /** Target pack size in bytes; a pack is finished once it reaches it. Default 16 MiB. */
  packSize?: number
  compression?: CompressionMode
  /** Packs uploaded at once; default 1 for a local backend, else the backend's connections. */
  uploadConcurrency?: number
  /** Compresses and encrypts blobs; defaults to doing it inline on this thread. */
  encoder?: BlobEncoder
  /**
   * Bytes accepted but not yet uploaded before saveBlob waits (bounds memory): plaintext until a
   * blob is encoded, sealed bytes after. Default 2 packs; never less than 2 (one open pack per
   * blob type must fit, or the writer would wait for a pack that never fills).
   */
  maxQueuedBytes?: number
}

/**
 * The zstd level of --compression max. restic's max is its zstd library's best setting, about
 * zstd's level 11. Measured on 71 MiB of kernel sources, each file compressed on its own: level
 * 11 takes 2.7 s of CPU for 14.8 MiB, level 19 25 s for 14.2 MiB (4% smaller for nine times the
 * CPU: a backup 4.5 times slower than restic's max instead of faster), level 3 0.3 s for 16.5 MiB.
 */
const MAX_LEVEL = 11

/** Tree packs start this small and grow: most backups write far less tree data than a pack. */
const TREE_PACK_START = 256 * 1024
/** Room above the pack size in a data pack buffer: one maximal sealed blob plus a header. */
const PACK_HEADROOM = 9 * 1024 * 1024

/** What a BlobWriter needs from the repository: narrow on purpose. */
export interface WriterTarget {
  readonly backend: Backend
  readonly key: MasterKey
  readonly index: MasterIndex
  readonly version: 1 | 2
  saveFramedUnpacked(type: 'index', framed: Sealable): Promise<Id>
}

export interface SaveResult {
  id: Id
  /** The repository had the blob already (nothing was stored). */
  known: boolean
}

/**
 * The zstd levels blobs are written with (0: not compressed), for a repository of `version`
 * and a --compression mode. Nothing is compressed in a v1 repository. --compression off is about
 * file contents: restic compresses tree blobs of a v2 repository even then (left uncompressed,
 * they were repacked by every prune, which compresses trees).
 */
export function compressionLevels(version: 1 | 2, compression: CompressionMode = 'auto'): { data: number; tree: number } {
  if (version === 1) return { data: 0, tree: 0 }
  const data = compression === 'off' ? 0 : compression === 'max' ? MAX_LEVEL : DEFAULT_LEVEL
  return { data, tree: data === 0 ? DEFAULT_LEVEL : data }
}

/** An index file is started anew after this many blobs (restic v2 does the same). */
const INDEX_BLOB_LIMIT = 150_000

/**
 * Saves blobs into packs, uploads finished packs, and writes index files for them.
 *
 * saveBlob() returns as soon as the blob is accepted (its bytes are copied or consumed before it
 * returns), so callers may reuse their buffers; encoding, packing and uploading go on behind it,
 * bounded by `maxQueuedBytes` and by the data pack buffers (one filling, one per upload under
 * way), which are reused pack after pack. A blob encoded elsewhere (saveEncodedBlob) is copied
 * into its pack at once and given back to its encoder (EncodedBlob.release). Order on storage
 * is always packs → index, so a crash leaves at worst unreferenced packs, never an index entry
 * without its pack. Used inside Repository.withWriter, which calls flush().
 */
export class BlobWriter {
  #target: WriterTarget
  #packSize: number
  #level: number
  /** Trees are compressed in a v2 repository whatever the mode, as restic does (see the constructor). */
  #treeLevel: number
  #concurrency: number
  #encoder: BlobEncoder
  #maxQueued: number
  #queued = 0
  #waiters: Array<() => void> = []
  #packers: { data: Packer | PackStream | undefined; tree: Packer | PackStream | undefined } = { data: undefined, tree: undefined }
  /** Data packs are written while they fill when the backend can (Backend.stage), else assembled in these. */
  #packBuffers: BufferPool
  /** Gathering buffers of staged packs. */
  #stageBuffers = new BufferPool(STAGE_BUFFER_SIZE, 4)
  #pending = new Set<string>()
  #encoding = new Set<Promise<void>>()
  #inFlight = new Set<Promise<void>>()
  #failure: unknown
  /** Stored packs not yet in an index file (started with the first of them). */
  #indexFile: IndexFileBuilder | undefined
  #indexWrites: Promise<void> = Promise.resolve()
  /** Totals for the summary: blobs and bytes added by this writer. */
  /**
   * What was added: `dataAdded` counts the plaintext of data and tree blobs, as restic's
   * summary does (`treeAdded` the trees' part of it); `dataAddedPacked` their stored size.
   */
  readonly stats = { dataBlobs: 0, treeBlobs: 0, dataAdded: 0, treeAdded: 0, dataAddedPacked: 0, packs: 0 }

  constructor(target: WriterTarget, options: WriterOptions = {}) {
    this.#target = target
    this.#packSize = options.packSize ?? 16 * 1024 * 1024
    const levels = compressionLevels(target.version, options.compression)
    this.#level = levels.data
    this.#treeLevel = levels.tree
    // A local upload (write and fsync) takes a fraction of the time a pack takes to fill: one
    // at a time keeps up, and holds one pack buffer less.
    this.#concurrency = options.uploadConcurrency ?? (target.backend.properties.local ? 1 : Math.max(1, target.backend.properties.connections))
    this.#encoder = options.encoder ?? createInlineEncoder(target.key)
    this.#maxQueued = Math.max(options.maxQueuedBytes ?? 2 * this.#packSize, 2 * this.#packSize)
    // One pack filling while the others upload.
    this.#packBuffers = new BufferPool(this.#packSize + PACK_HEADROOM, this.#concurrency + 1)
  }

  /** The zstd level data blobs are compressed with (0: none), for encoders working outside the writer. */
  get compressionLevel(): number {
    return this.#level
  }

  /** True when the repository or this writer already holds the blob. */
  has(type: BlobType, id: Id): boolean {
    // The index first: nearly every blob asked about is there, and the key of the pending set
    // is a new string to hash on each call.
    return this.#target.index.has(type, id) || (this.#pending.size > 0 && this.#pending.has(type + id))
  }

  /**
   * Stores a blob unless it is known. `id` may be passed when the caller already hashed the data.
   * The data is consumed before this returns; it waits only when too much is queued. With
   * `duplicate` the blob is stored even when the repository has it (once per writer): a fresh
   * copy beside one that is known to be damaged, which readers then fall back to.
   */
  async saveBlob(type: BlobType, data: Uint8Array, id: Id = hashId(data), options: { duplicate?: boolean } = {}): Promise<SaveResult> {
    if (!this.#accept(type, id, data.length, data.length, options.duplicate === true)) return { id, known: true }
    const size = data.length
    const work = this.#encoder.encode(type, data, type === 'tree' ? this.#treeLevel : this.#level).then((enc) => {
      // From here on the blob costs its sealed size, until its pack is uploaded.
      this.#release(Math.max(0, size - enc.sealed.length))
      return this.#add(type, id, enc)
    })
    return this.#track(work, id)
  }

  /**
   * Stores a blob that was already compressed and sealed elsewhere (e.g. by a worker that read
   * the file itself), unless it is known. `plainSize` is its plaintext length. `enc` is released
   * once its bytes are in a pack (or at once when the blob is known); it waits only when too much
   * is queued.
   */
  async saveEncodedBlob(type: BlobType, id: Id, plainSize: number, enc: EncodedBlob): Promise<SaveResult> {
    let accepted: boolean
    try {
      accepted = this.#accept(type, id, plainSize, enc.sealed.length)
    } catch (err) {
      enc.release?.()
      throw err
    }
    if (!accepted) {
      enc.release?.()
      return { id, known: true }
    }
    // Usually the blob goes into the open pack right away: nothing to follow then.
    let work: Promise<void> | undefined
    try {
      work = this.#add(type, id, enc)
    } catch (err) {
      this.#failure ??= err
      this.#release(Infinity)
    }
    if (work !== undefined) this.#follow(work)
    if (this.#queued > this.#maxQueued || this.#failure !== undefined) await this.#waitForRoom()
    return { id, known: false }
  }

  /** Registers a new blob (false when it is known): stats and the bytes it will hold. */
  #accept(type: BlobType, id: Id, plainSize: number, queuedBytes: number, duplicate = false): boolean {
    this.#throwIfFailed()
    if (duplicate ? this.#pending.has(type + id) : this.has(type, id)) return false
    this.#pending.add(type + id)
    if (type === 'data') this.stats.dataBlobs++
    else {
      this.stats.treeBlobs++
      this.stats.treeAdded += plainSize
    }
    this.stats.dataAdded += plainSize
    this.#queued += queuedBytes
    return true
  }

  /** Follows a blob's encoding and packing; returns once there is room for more. */
  async #track(work: Promise<void>, id: Id): Promise<SaveResult> {
    this.#follow(work)
    await this.#waitForRoom()
    return { id, known: false }
  }

  /** Keeps `work` among the blobs under way (flush waits for them); its failure fails the writer. */
  #follow(work: Promise<void>): void {
    const p: Promise<void> = work
      .catch((err) => {
        this.#failure ??= err
        this.#release(Infinity)
      })
      .finally(() => {
        this.#encoding.delete(p)
        this.#release(0)
      })
    this.#encoding.add(p)
  }

  async #waitForRoom(): Promise<void> {
    // Wait while too much is queued, but only while something is under way that will release it.
    while (this.#queued > this.#maxQueued && this.#failure === undefined && (this.#encoding.size > 0 || this.#inFlight.size > 0)) {
      await new Promise<void>((r) => this.#waiters.push(r))
    }
    this.#throwIfFailed()
  }

  /** Finishes open packs, waits for every upload, and writes the index for them. */
  async flush(): Promise<void> {
    while (this.#encoding.size > 0) await Promise.all(this.#encoding)
    this.#throwIfFailed()
    await this.#finishPack('data')
    await this.#finishPack('tree')
    await this.#drain()
    this.#throwIfFailed()
    if (this.#indexFile !== undefined) this.#writeIndex()
    await this.#indexWrites
    this.#packBuffers.clear()
    this.#stageBuffers.clear()
    this.#throwIfFailed()
  }

  /**
   * After an error: waits for work already started and drops the open packs. The packs that were
   * stored whole are indexed, as far as the storage still takes an index file, so that a run
   * again (after a full disk was given room, say) finds their blobs instead of storing them again.
   */
  async abort(): Promise<void> {
    this.#failure ??= new Error('aborted')
    this.#release(Infinity)
    while (this.#encoding.size > 0) await Promise.all(this.#encoding)
    const open = [this.#packers.data, this.#packers.tree]
    this.#packers = { data: undefined, tree: undefined }
    for (const p of open) if (p instanceof PackStream) await p.abort().catch(() => {})
    await this.#drain().catch(() => {})
    this.#writeIndex()
    await this.#indexWrites.catch(() => {})
    this.#packBuffers.clear()
    this.#stageBuffers.clear()
  }

  /**
   * Copies a sealed blob into the open pack of its type, and finishes the pack when it is full.
   * Returns a promise only when it has to wait (for a pack buffer, or to start an upload).
   */
  #add(type: BlobType, id: Id, enc: EncodedBlob): Promise<void> | undefined {
    let packer: Packer | PackStream | undefined
    try {
      if (this.#failure !== undefined) return undefined
      // Taken and filled in one synchronous step: after an await, the packer seen before may
      // have been finished by another blob.
      packer = this.#openPacker(type)
      if (packer === undefined) {
        const blob = enc
        enc = { ...blob, release: undefined } // the retry releases it
        return this.#packBuffers.wait().then(() => this.#add(type, id, blob))
      }
      if (packer instanceof PackStream) {
        const release = enc.release
        enc = { ...enc, release: undefined } // the stream releases it once written
        packer.add(id, enc.sealed, enc.uncompressedLength, release)
      } else packer.add(id, enc.sealed, enc.uncompressedLength)
    } finally {
      enc.release?.()
    }
    this.stats.dataAddedPacked += enc.sealed.length
    return packer.size >= this.#packSize ? this.#finishPack(type) : undefined
  }

  /** The open packer of a type, started when there is none; undefined while no pack buffer is free. */
  #openPacker(type: BlobType): Packer | PackStream | undefined {
    const open = this.#packers[type]
    if (open !== undefined) return open
    const backend = this.#target.backend
    if (backend.stage !== undefined) return (this.#packers[type] = new PackStream(type, backend.stage('data'), this.#stageBuffers))
    if (type === 'tree') return (this.#packers.tree = new Packer('tree', TREE_PACK_START))
    // Room for a full pack plus one maximal blob; pages are only touched as the pack fills.
    const buf = this.#packBuffers.tryAcquire()
    return buf === undefined ? undefined : (this.#packers.data = new Packer('data', buf))
  }

  async #finishPack(type: BlobType): Promise<void> {
    const packer = this.#packers[type]
    if (packer === undefined || packer.count === 0) return
    this.#packers[type] = undefined
    const queued = packer.size
    const key = this.#target.key
    let store: () => Promise<{ id: Id; blobs: PackedBlob[] }>
    let done = (): void => {}
    if (packer instanceof PackStream) store = () => packer.finish(key)
    else {
      const pack = packer.finish(key)
      store = () => this.#target.backend.save({ type: 'data', name: pack.id }, pack.bytes).then(() => pack)
      if (type === 'data') done = () => this.#packBuffers.release(pack.buffer)
    }
    while (this.#inFlight.size >= this.#concurrency) await Promise.race(this.#inFlight)
    const p: Promise<void> = this.#store(store)
      .finally(() => {
        this.#inFlight.delete(p)
        done()
        this.#release(queued)
      })
    this.#inFlight.add(p)
  }

  /** Lowers the queued byte count and lets waiting saveBlob calls look again. */
  #release(bytes: number): void {
    this.#queued = Math.max(0, this.#queued - bytes)
    const ws = this.#waiters
    this.#waiters = []
    for (const w of ws) w()
  }

  /** Stores a finished pack (`store` gives its ID and blobs) and adds it to the index. */
  async #store(store: () => Promise<{ id: Id; blobs: PackedBlob[] }>): Promise<void> {
    let pack: { id: Id; blobs: PackedBlob[] }
    try {
      pack = await store()
    } catch (err) {
      this.#failure ??= err
      this.#release(Infinity)
      return
    }
    this.stats.packs++
    this.#target.index.addPack(pack.id, pack.blobs)
    for (const b of pack.blobs) this.#pending.delete(b.type + b.id)
    this.#indexFile ??= new IndexFileBuilder(this.#target.version)
    this.#indexFile.add({ id: pack.id, blobs: pack.blobs })
    if (this.#indexFile.blobCount >= INDEX_BLOB_LIMIT) this.#writeIndex()
  }

  #writeIndex(): void {
    const file = this.#indexFile
    if (file === undefined) return
    this.#indexFile = undefined
    this.#indexWrites = this.#indexWrites.then(async () => {
      try {
        await this.#target.saveFramedUnpacked('index', file.finish())
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

  /**
   * Why storing failed (a pack or an index file could not be written, or the writer was
   * aborted), or undefined while it has not. Every later save fails with this error: it is the
   * repository's, not a problem of the data being saved.
   */
  get failure(): unknown {
    return this.#failure
  }
}
