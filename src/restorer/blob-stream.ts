import type { Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'

type BlobLoader = Pick<Repository, 'loadBlob'>

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
  /** Blobs loaded ahead of the one being written (default 8). */
  readAhead?: number
  cache?: BlobCache
}

/**
 * Data blobs to be written in order, loaded up to `readAhead` blobs ahead of the writer, across
 * file boundaries: while one file is written, the next files' first blobs are already on their
 * way. Memory stays at about `readAhead` blobs, however large the files.
 *
 * @example
 * const q = new BlobQueue(repo)
 * q.push(node.content)
 * for (let i = 0; i < node.content.length; i++) await sink.write(await q.take())
 */
export class BlobQueue {
  #repo: BlobLoader
  #ahead: number
  #cache: BlobCache | undefined
  #ids: Id[] = []
  #loads: Array<Promise<Buffer> | undefined> = []
  #head = 0
  #started = 0
  #inFlight = new Map<Id, Promise<Buffer>>()

  constructor(repo: BlobLoader, options: BlobQueueOptions = {}) {
    this.#repo = repo
    this.#ahead = Math.max(1, options.readAhead ?? 8)
    this.#cache = options.cache
  }

  /** Blobs pushed and not yet taken. */
  get queued(): number {
    return this.#ids.length - this.#head
  }

  push(ids: readonly Id[]): void {
    for (const id of ids) this.#ids.push(id)
    this.#fill()
  }

  /** The next blob in push order. */
  take(): Promise<Buffer> {
    if (this.#head >= this.#ids.length) throw new RangeError('BlobQueue.take() called with no blob queued')
    this.#fill()
    const p = this.#loads[this.#head] as Promise<Buffer>
    this.#loads[this.#head] = undefined
    this.#head++
    if (this.#head >= 4096 && this.#head * 2 >= this.#ids.length) {
      this.#ids.splice(0, this.#head)
      this.#loads.splice(0, this.#head)
      this.#started -= this.#head
      this.#head = 0
    }
    this.#fill()
    return p
  }

  #fill(): void {
    while (this.#started < this.#ids.length && this.#started - this.#head < this.#ahead) {
      this.#loads[this.#started] = this.#load(this.#ids[this.#started])
      this.#started++
    }
  }

  #load(id: Id): Promise<Buffer> {
    const cached = this.#cache?.get(id)
    if (cached !== undefined) return Promise.resolve(cached)
    let p = this.#inFlight.get(id)
    if (p === undefined) {
      p = this.#repo.loadBlob('data', id).then((blob) => {
        this.#cache?.add(id, blob)
        return blob
      })
      const loading = p
      this.#inFlight.set(id, loading)
      // This handler also marks the promise as handled: a load that fails after the writer gave
      // up must not end the process as an unhandled rejection.
      loading.then(
        () => this.#inFlight.delete(id),
        () => this.#inFlight.delete(id),
      )
    }
    return p
  }
}

/**
 * A file's content as a stream of blob plaintexts, in order, loaded ahead (see BlobQueue).
 *
 * @example
 * for await (const chunk of fileContent(repo, node.content ?? [])) await sink.write(chunk)
 */
export async function* fileContent(repo: BlobLoader, content: readonly Id[], options: BlobQueueOptions = {}): AsyncGenerator<Buffer> {
  const q = new BlobQueue(repo, options)
  q.push(content)
  for (let i = 0; i < content.length; i++) yield await q.take()
}
