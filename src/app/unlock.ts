import { isAppError, type Id } from '../base/index.js'
import { decodeLock, isStale, type Repository } from '../repository/index.js'

/**
 * How long a lock file that is no lock is given to become one before unlock removes it: restic
 * 0.14 writes a local lock file in place, so a lock being written can be read half-written.
 */
const HALF_WRITTEN_MS = 1500

/**
 * Removes stale locks (or all locks with `all`), and lock files that are not locks at all (they
 * do not decrypt or decode, now and again after a pause: nothing can be waiting on them);
 * returns the IDs removed. A lock that cannot be read for another reason (permissions, a
 * network error) is left alone.
 */
export async function unlockRepository(repo: Repository, all: boolean, options: { pauseMs?: number } = {}): Promise<Id[]> {
  const removed: Id[] = []
  const remove = async (id: Id) => {
    await repo.backend.remove({ type: 'locks', name: id })
    removed.push(id)
  }
  /** What a lock file holds: a stale or a live lock, no lock at all, or what could not be read. */
  const state = async (id: Id): Promise<'stale' | 'live' | 'not a lock' | 'unreadable'> => {
    try {
      return isStale(decodeLock(await repo.loadUnpacked('locks', id))) ? 'stale' : 'live'
    } catch (err) {
      return err instanceof SyntaxError || isAppError(err, 'INVALID_DATA') ? 'not a lock' : 'unreadable'
    }
  }
  const damaged: Id[] = []
  for (const id of await repo.listIds('locks')) {
    const s = all ? undefined : await state(id)
    if (all || s === 'stale') await remove(id)
    else if (s === 'not a lock') damaged.push(id)
  }
  if (damaged.length > 0) {
    await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? HALF_WRITTEN_MS))
    for (const id of damaged) if ((await state(id)) === 'not a lock') await remove(id)
  }
  return removed
}
