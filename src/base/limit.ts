/**
 * A concurrency limit: `limit(fn)` starts fn when fewer than `n` are running, otherwise it
 * queues. The queue is a linked list, so long queues cost O(1) per call.
 *
 * @example
 * const limit = createLimit(4)
 * await Promise.all(items.map((x) => limit(() => work(x))))
 */
export function createLimit(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  const sem = createSemaphore(n)
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    await sem.acquire()
    try {
      return await fn()
    } finally {
      sem.release()
    }
  }
}

export interface Semaphore {
  /** Resolves when a slot is free (and takes it). */
  acquire(): Promise<void>
  release(): void
  readonly active: number
}

/** Counting semaphore with a FIFO queue of waiters. */
export function createSemaphore(n: number): Semaphore {
  if (!(n >= 1)) throw new RangeError(`Concurrency limit must be at least 1, got ${n}`)
  let active = 0
  type Waiter = { resolve: () => void; next?: Waiter }
  let head: Waiter | undefined
  let tail: Waiter | undefined
  return {
    get active() {
      return active
    },
    acquire() {
      if (active < n) {
        active++
        return Promise.resolve()
      }
      return new Promise<void>((resolve) => {
        const w: Waiter = { resolve }
        if (tail) tail.next = w
        else head = w
        tail = w
      })
    },
    release() {
      const w = head
      if (w) {
        head = w.next
        if (!head) tail = undefined
        w.resolve() // the slot passes straight to the waiter
      } else active--
    },
  }
}
