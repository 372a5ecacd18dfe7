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
  const notALock = async (id: Id): Promise<boolean> => {
    try {
      decodeLock(await repo.loadUnpacked('locks', id))
      return false
    } catch (err) {
      return err instanceof SyntaxError || isAppError(err, 'INVALID_DATA')
    }
  }
  const damaged: Id[] = []
  for (const id of await repo.listIds('locks')) {
    if (all) {
      await remove(id)
      continue
    }
    try {
      if (isStale(decodeLock(await repo.loadUnpacked('locks', id)))) await remove(id)
    } catch (err) {
      if (err instanceof SyntaxError || isAppError(err, 'INVALID_DATA')) damaged.push(id)
    }
  }
  if (damaged.length > 0) {
    await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? HALF_WRITTEN_MS))
    for (const id of damaged) if (await notALock(id)) await remove(id)
  }
  return removed
}
