import { isAppError, type Id } from '../base/index.js'
import { decodeLock, isStale, type Repository } from '../repository/index.js'

/**
 * Removes stale locks (or all locks with `all`), and lock files that are not locks at all (they
 * do not decrypt or decode: nothing can be waiting on them); returns the IDs removed. A lock that
 * cannot be read for another reason (permissions, a network error) is left alone.
 */
export async function unlockRepository(repo: Repository, all: boolean): Promise<Id[]> {
  const removed: Id[] = []
  for (const id of await repo.listIds('locks')) {
    let remove = all
    if (!remove) {
      try {
        remove = isStale(decodeLock(await repo.loadUnpacked('locks', id)))
      } catch (err) {
        remove = err instanceof SyntaxError || isAppError(err, 'INVALID_DATA')
      }
    }
    if (remove) {
      await repo.backend.remove({ type: 'locks', name: id })
      removed.push(id)
    }
  }
  return removed
}
