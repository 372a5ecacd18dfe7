import { AppError, createLimit, isAppError, messageOf, type Id } from '../base/index.js'
import type { BlobType, Repository } from '../repository/index.js'
import { decodeTree } from '../snapshots/index.js'

/** A set of blob handles (type + ID), keyed as "t<id>" or "d<id>". */
export type BlobSet = Set<string>

export function blobKey(type: BlobType, id: Id): string {
  return (type === 'tree' ? 't' : 'd') + id
}

export function blobKeyParts(key: string): { type: BlobType; id: Id } {
  return { type: key[0] === 't' ? 'tree' : 'data', id: key.slice(1) }
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
  repo: Pick<Repository, 'loadBlob'>,
  roots: readonly Id[],
  options: UsedBlobsOptions = {},
): Promise<BlobSet> {
  const used: BlobSet = new Set()
  const limit = createLimit(options.concurrency ?? 8)
  let loaded = 0
  const visit = async (tree: Id): Promise<void> => {
    const key = blobKey('tree', tree)
    if (used.has(key)) return
    used.add(key)
    const nodes = await limit(async () => {
      options.signal?.throwIfAborted()
      let bytes: Buffer
      try {
        bytes = await repo.loadBlob('tree', tree)
      } catch (err) {
        if (isAppError(err, 'INTERRUPTED') || options.signal?.aborted) throw err
        throw new AppError('INVALID_DATA', `Cannot load tree ${tree}: ${messageOf(err)}`, {
          hint: 'Data seems to be missing; nothing was deleted. Run "cairn check" to see what is affected, and "cairn repair index" if the index is incomplete',
          cause: err,
        })
      }
      return decodeTree(bytes)
    })
    options.onTree?.(++loaded)
    const children: Promise<void>[] = []
    for (const node of nodes) {
      if (node.type === 'file') {
        for (const id of node.content ?? []) used.add(blobKey('data', id))
      } else if (node.type === 'dir' && node.subtree !== undefined) {
        children.push(visit(node.subtree))
      }
    }
    await Promise.all(children)
  }
  await Promise.all(roots.map(visit))
  return used
}
