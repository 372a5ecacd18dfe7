import { AppError, createLimit, isAppError, messageOf, type Id } from '../base/index.js'
import type { BlobType, Repository } from '../repository/index.js'
import { decodeTree } from '../snapshots/index.js'

/**
 * A set of blob handles (type + ID). One Set of IDs per type: plain ID strings hash and compare
 * faster than composite keys, which matters at millions of blobs.
 */
export class BlobSet {
  readonly #sets: Record<BlobType, Set<Id>> = { data: new Set(), tree: new Set() }

  get size(): number {
    return this.#sets.data.size + this.#sets.tree.size
  }

  has(type: BlobType, id: Id): boolean {
    return this.#sets[type].has(id)
  }

  add(type: BlobType, id: Id): this {
    this.#sets[type].add(id)
    return this
  }

  delete(type: BlobType, id: Id): boolean {
    return this.#sets[type].delete(id)
  }

  clone(): BlobSet {
    const copy = new BlobSet()
    for (const type of ['data', 'tree'] as const) for (const id of this.#sets[type]) copy.add(type, id)
    return copy
  }

  *[Symbol.iterator](): Generator<{ type: BlobType; id: Id }> {
    for (const type of ['data', 'tree'] as const) for (const id of this.#sets[type]) yield { type, id }
  }
}

export interface UsedBlobsOptions {
  signal?: AbortSignal
  /** Trees loaded at once. */
  concurrency?: number
  onTree?: (loaded: number) => void
}

/**
 * Every blob the given root trees reference: the trees themselves, their subtrees, and the data
 * blobs of their files (restic's FindUsedBlobs). Each tree is loaded once however often it is
 * shared. A tree that cannot be loaded stops the walk with an error naming it.
 */
export async function findUsedBlobs(
  repo: Pick<Repository, 'loadBlobWith'>,
  roots: readonly Id[],
  options: UsedBlobsOptions = {},
): Promise<BlobSet> {
  const used = new BlobSet()
  const limit = createLimit(options.concurrency ?? 8)
  let loaded = 0
  const visit = async (tree: Id): Promise<void> => {
    if (used.has('tree', tree)) return
    used.add('tree', tree)
    const nodes = await limit(async () => {
      options.signal?.throwIfAborted()
      try {
        return await repo.loadBlobWith('tree', tree, decodeTree)
      } catch (err) {
        if (isAppError(err, 'INTERRUPTED') || options.signal?.aborted) throw err
        throw new AppError('INVALID_DATA', `Cannot load tree ${tree}: ${messageOf(err)}`, {
          hint: 'Data seems to be missing; nothing was deleted. Run "cairn check" to see what is affected, and "cairn repair index" if the index is incomplete',
          cause: err,
        })
      }
    })
    options.onTree?.(++loaded)
    const children: Promise<void>[] = []
    for (const node of nodes) {
      if (node.type === 'file') {
        for (const id of node.content ?? []) used.add('data', id)
      } else if (node.type === 'dir' && node.subtree !== undefined) {
        children.push(visit(node.subtree))
      }
    }
    await Promise.all(children)
  }
  await Promise.all(roots.map(visit))
  return used
}
