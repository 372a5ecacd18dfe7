import type { Id } from '../base/index.js'
import { isStale, listLocks, type Repository } from '../repository/index.js'

/** Removes stale locks (or all locks with `all`); returns the IDs removed. */
export async function unlockRepository(repo: Repository, all: boolean): Promise<Id[]> {
  const removed: Id[] = []
  for (const { id, info } of await listLocks(repo)) {
    if (all || isStale(info)) {
      await repo.backend.remove({ type: 'locks', name: id })
      removed.push(id)
    }
  }
  if (all) {
    // Locks that could not be read are removed too when everything goes.
    for (const id of await repo.listIds('locks')) {
      if (!removed.includes(id)) {
        await repo.backend.remove({ type: 'locks', name: id })
        removed.push(id)
      }
    }
  }
  return removed
}
