import { createLimit, type Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import { decodeTree, type Node } from '../snapshots/index.js'

/**
 * Loads and decodes trees for walks that visit them in order, with a bounded number loaded
 * ahead: `prefetch` starts the loads of trees the walk will need soon (a directory's
 * subdirectories), so their reads overlap the work on the current one. Nodes come sorted by
 * name bytes, the order restic walks in.
 *
 * @example
 * const trees = new TreeLoader(repo)
 * const nodes = await trees.load(snapshot.tree)
 * trees.prefetch(nodes.flatMap((n) => (n.subtree ? [n.subtree] : [])))
 */
export class TreeLoader {
  #repo: Pick<Repository, 'loadBlobWith'>
  #limit: <T>(fn: () => Promise<T>) => Promise<T>
  #ahead = new Map<Id, Promise<Node[]>>()
  #max: number

  constructor(repo: Pick<Repository, 'loadBlobWith'>, options: { concurrency?: number; maxAhead?: number } = {}) {
    this.#repo = repo
    this.#limit = createLimit(options.concurrency ?? 8)
    this.#max = options.maxAhead ?? 256
  }

  load(id: Id): Promise<Node[]> {
    const p = this.#ahead.get(id)
    if (p !== undefined) {
      this.#ahead.delete(id)
      return p
    }
    return this.#fetch(id)
  }

  /** Starts loading trees that will be asked for soon, as far as the read-ahead bound allows. */
  prefetch(ids: Iterable<Id>): void {
    for (const id of ids) {
      if (this.#ahead.size >= this.#max) return
      if (this.#ahead.has(id)) continue
      const p = this.#fetch(id)
      // Marks the promise handled: a walk that stops early never asks for it.
      p.catch(() => {})
      this.#ahead.set(id, p)
    }
  }

  /** Drops a prefetched tree the walk decided to skip, freeing its place. */
  forget(id: Id): void {
    this.#ahead.delete(id)
  }

  #fetch(id: Id): Promise<Node[]> {
    return this.#limit(async () => (await this.#repo.loadBlobWith('tree', id, decodeTree)).sort((a, b) => Buffer.compare(a.name, b.name)))
  }
}

/** The subtree IDs of a directory's entries, for TreeLoader.prefetch. */
export function subtreesOf(nodes: readonly Node[]): Id[] {
  const out: Id[] = []
  for (const n of nodes) if (n.type === 'dir' && n.subtree !== undefined) out.push(n.subtree)
  return out
}
