import type { Id } from '../base/index.js'
import { plaintextLength, type PackedBlob, type Repository } from '../repository/index.js'

/** What BlobQueue needs: single loads, and (optionally) the index and batched pack reads. */
export type BlobSource = Pick<Repository, 'loadBlob'> & Partial<Pick<Repository, 'index' | 'readPackBlobs'>>

/**
 * Recently used data blobs, bounded by bytes. Files often repeat a blob (runs of zeros, copies
 * of a file in one dump), and a hit saves a read, a decryption and a hash.
 */
export class BlobCache {
  #max: number
  #bytes = 0
  #map = new Map<Id, Buffer>()

  constructor(maxBytes = 32 * 1024 * 1024) {
    this.#max = maxBytes
  }

  get(id: Id): Buffer | undefined {
    const b = this.#map.get(id)
    if (b !== undefined) {
      this.#map.delete(id)
      this.#map.set(id, b)
    }
    return b
  }

  add(id: Id, blob: Buffer): void {
    if (blob.length > this.#max / 4 || this.#map.has(id)) return
    this.#map.set(id, blob)
    this.#bytes += blob.length
    for (const [oldId, old] of this.#map) {
      if (this.#bytes <= this.#max) break
      this.#map.delete(oldId)
      this.#bytes -= old.length
    }
  }
}

export interface BlobQueueOptions {
  /** Most blobs loaded ahead of the one being written (default 256). */
  readAhead?: number
  /** Most plaintext bytes loaded ahead (default 32 MiB); the window is refilled when half empty. */
  readAheadBytes?: number
  cache?: BlobCache
}

interface Deferred {
  promise: Promise<Buffer>
  resolve(b: Buffer): void
  reject(err: unknown): void
}

function deferred(): Deferred {
  let resolve!: (b: Buffer) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<Buffer>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/**
 * Data blobs to be written in order, loaded ahead of the writer across file boundaries: while
 * one file is written, the next files' blobs are already on their way. Loads are batched: when
 * half of the window has been written, the next half is read with one ranged read per run of
 * nearby blobs in a pack (as restore reads packs), instead of one request per blob, which for
 * many small files is what costs. Memory stays near `readAheadBytes`, however large the files.
 *
 * @example
 * const q = new BlobQueue(repo)
 * q.push(node.content)
 * for (let i = 0; i < node.content.length; i++) await sink.write(await q.take())
 */
export class BlobQueue {
  #repo: BlobSource
  #maxCount: number
  #maxBytes: number
  #cache: BlobCache | undefined
  #ids: Id[] = []
  #sizes: number[] = []
  #loads: Array<Promise<Buffer> | undefined> = []
  #head = 0
  #started = 0
  #bytesAhead = 0
  #inFlight = new Map<Id, Promise<Buffer>>()

  constructor(repo: BlobSource, options: BlobQueueOptions = {}) {
    this.#repo = repo
    this.#maxCount = Math.max(1, options.readAhead ?? 256)
    this.#maxBytes = Math.max(1, options.readAheadBytes ?? 32 * 1024 * 1024)
    this.#cache = options.cache
  }

  /** Blobs pushed and not yet taken. */
  get queued(): number {
    return this.#ids.length - this.#head
  }

  push(ids: readonly Id[]): void {
    for (const id of ids) this.#ids.push(id)
    this.#fill(false)
  }

  /** The next blob in push order. */
  take(): Promise<Buffer> {
    if (this.#head >= this.#ids.length) throw new RangeError('BlobQueue.take() called with no blob queued')
    if (this.#head >= this.#started) this.#fill(true)
    const p = this.#loads[this.#head] as Promise<Buffer>
    this.#bytesAhead -= this.#sizes[this.#head]
    this.#loads[this.#head] = undefined
    this.#head++
    if (this.#head >= 4096 && this.#head * 2 >= this.#ids.length) {
      this.#ids.splice(0, this.#head)
      this.#sizes.splice(0, this.#head)
      this.#loads.splice(0, this.#head)
      this.#started -= this.#head
      this.#head = 0
    }
    this.#fill(false)
    return p
  }

  /** Starts the next batch of loads when the window is at most half full (or `force`d). */
  #fill(force: boolean): void {
    const ahead = () => this.#started - this.#head
    if (this.#started >= this.#ids.length) return
    if (!force && (ahead() > this.#maxCount / 2 || this.#bytesAhead > this.#maxBytes / 2)) return
    const batch = new Map<Id, Array<{ blob: PackedBlob; done: Deferred }>>()
    while (this.#started < this.#ids.length) {
      if (this.#started > this.#head && (ahead() >= this.#maxCount || this.#bytesAhead >= this.#maxBytes)) break
      const id = this.#ids[this.#started]
      const loc = this.#repo.index?.lookup('data', id)
      const size = loc ? plaintextLength(loc) : 0
      this.#sizes[this.#started] = size
      this.#bytesAhead += size
      this.#loads[this.#started] = this.#start(id, loc, batch)
      this.#started++
    }
    for (const [packId, blobs] of batch) void this.#readPack(packId, blobs)
  }

  #start(id: Id, loc: (PackedBlob & { packId: Id }) | undefined, batch: Map<Id, Array<{ blob: PackedBlob; done: Deferred }>>): Promise<Buffer> {
    const cached = this.#cache?.get(id)
    if (cached !== undefined) return Promise.resolve(cached)
    const running = this.#inFlight.get(id)
    if (running !== undefined) return running
    let p: Promise<Buffer>
    if (loc !== undefined && this.#repo.readPackBlobs !== undefined) {
      const done = deferred()
      const list = batch.get(loc.packId) ?? []
      list.push({ blob: loc, done })
      batch.set(loc.packId, list)
      p = done.promise
    } else p = this.#repo.loadBlob('data', id)
    const loading = p.then((blob) => {
      this.#cache?.add(id, blob)
      return blob
    })
    this.#inFlight.set(id, loading)
    // This handler also marks the promise as handled: a load that fails after the writer gave
    // up must not end the process as an unhandled rejection.
    loading.then(
      () => this.#inFlight.delete(id),
      () => this.#inFlight.delete(id),
    )
    return loading
  }

  /** One batched read of a pack; blobs it could not deliver are loaded one by one (other copies). */
  async #readPack(packId: Id, list: Array<{ blob: PackedBlob; done: Deferred }>): Promise<void> {
    const byId = new Map(list.map((e) => [e.blob.id, e.done]))
    const delivered = new Set<Id>()
    try {
      await this.#repo.readPackBlobs!(packId, list.map((e) => e.blob), (blob, plain) => {
        delivered.add(blob.id)
        byId.get(blob.id)?.resolve(plain)
      })
    } catch {
      // fall through: whatever was not delivered is tried again on its own
    }
    for (const [id, done] of byId) {
      if (!delivered.has(id)) this.#repo.loadBlob('data', id).then(done.resolve, done.reject)
    }
  }
}

/**
 * A file's content as a stream of blob plaintexts, in order, loaded ahead (see BlobQueue).
 *
 * @example
 * for await (const chunk of fileContent(repo, node.content ?? [])) await sink.write(chunk)
 */
export async function* fileContent(repo: BlobSource, content: readonly Id[], options: BlobQueueOptions = {}): AsyncGenerator<Buffer> {
  const q = new BlobQueue(repo, options)
  q.push(content)
  for (let i = 0; i < content.length; i++) yield await q.take()
}
