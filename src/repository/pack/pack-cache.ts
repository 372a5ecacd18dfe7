import type { Id } from '../../base/index.js'

/**
 * Whole packs kept in memory while they fit in `limit` bytes, least recently used dropped
 * first. The tree walk reads thousands of small trees out of a few tree packs; one read per
 * pack instead of one per tree is what restic gets from its cache, and on a remote backend it
 * is the difference between a few requests and thousands.
 */
export class PackCache {
  readonly limit: number
  #entries = new Map<Id, Promise<Buffer>>()
  #sizes = new Map<Id, number>()
  #size = 0

  constructor(limit: number) {
    this.limit = limit
  }

  /** A pack of `size` bytes is worth caching when several such packs fit. */
  fits(size: number): boolean {
    return size <= this.limit / 4
  }

  /** The pack's bytes: from memory, or from `load` (called once however many ask at once). */
  get(pack: Id, load: () => Promise<Buffer>): Promise<Buffer> {
    const cached = this.#entries.get(pack)
    if (cached !== undefined) {
      this.#entries.delete(pack)
      this.#entries.set(pack, cached)
      return cached
    }
    const loading = load()
    this.#entries.set(pack, loading)
    loading.then(
      (bytes) => {
        if (this.#entries.get(pack) !== loading) return
        this.#sizes.set(pack, bytes.length)
        this.#size += bytes.length
        this.#evict(pack)
      },
      () => {
        if (this.#entries.get(pack) === loading) this.#entries.delete(pack)
      },
    )
    return loading
  }

  /** Drops every pack (a load under way still settles for its callers). */
  clear(): void {
    this.#entries.clear()
    this.#sizes.clear()
    this.#size = 0
  }

  #evict(keep: Id): void {
    for (const id of this.#entries.keys()) {
      if (this.#size <= this.limit) return
      const size = this.#sizes.get(id)
      // Packs still loading have no size yet and cost nothing so far.
      if (id === keep || size === undefined) continue
      this.#entries.delete(id)
      this.#sizes.delete(id)
      this.#size -= size
    }
  }
}
