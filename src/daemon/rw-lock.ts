/**
 * Per-repository locks inside the daemon: backups share a repository, a prune or check has it
 * alone. First come, first served: a waiting prune is not starved by a stream of backups, and
 * backups queued behind it wait for it.
 */

/** Releases what {@link RepositoryLocks.acquire} took; calling it twice is harmless. */
export type Release = () => void

interface Waiter {
  exclusive: boolean
  grant: () => void
}

class RwLock {
  shared = 0
  exclusive = false
  queue: Waiter[] = []

  get idle(): boolean {
    return this.shared === 0 && !this.exclusive && this.queue.length === 0
  }

  acquire(exclusive: boolean, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(waiter)
        if (i >= 0) this.queue.splice(i, 1)
        this.pump()
        reject(signal?.reason)
      }
      const waiter: Waiter = {
        exclusive,
        grant: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.queue.push(waiter)
      this.pump()
    })
  }

  release(exclusive: boolean): void {
    if (exclusive) this.exclusive = false
    else this.shared--
    this.pump()
  }

  pump(): void {
    while (this.queue.length > 0) {
      const w = this.queue[0]
      if (this.exclusive) return
      if (w.exclusive && this.shared > 0) return
      this.queue.shift()
      if (w.exclusive) this.exclusive = true
      else this.shared++
      w.grant()
      if (w.exclusive) return
    }
  }
}

/** Read-write locks by repository name. */
export class RepositoryLocks {
  #locks = new Map<string, RwLock>()

  /**
   * Takes every named repository, shared (a backup) or exclusive (prune, check), in name order
   * so two jobs can never wait on each other. Resolves when all are held; aborting `signal`
   * while waiting gives back what was taken and rejects with the signal's reason.
   */
  async acquire(repositories: readonly string[], exclusive: boolean, signal?: AbortSignal): Promise<Release> {
    const names = [...new Set(repositories)].sort()
    const held: string[] = []
    const releaseAll = () => {
      for (const n of held.splice(0)) {
        const lock = this.#locks.get(n)
        if (!lock) continue
        lock.release(exclusive)
        if (lock.idle) this.#locks.delete(n)
      }
    }
    try {
      for (const name of names) {
        signal?.throwIfAborted()
        let lock = this.#locks.get(name)
        if (!lock) {
          lock = new RwLock()
          this.#locks.set(name, lock)
        }
        await lock.acquire(exclusive, signal)
        held.push(name)
      }
      signal?.throwIfAborted()
    } catch (err) {
      releaseAll()
      throw err
    }
    return releaseAll
  }

  /** How the named repository is held right now (for status and tests). */
  state(repository: string): { shared: number; exclusive: boolean; waiting: number } {
    const lock = this.#locks.get(repository)
    return { shared: lock?.shared ?? 0, exclusive: lock?.exclusive ?? false, waiting: lock?.queue.length ?? 0 }
  }
}
