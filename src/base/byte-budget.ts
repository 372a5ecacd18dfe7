/**
 * Bounds work in flight by count and by bytes: many small files may be under way at once (each
 * costs little), but only a few large ones. A single item larger than the budget still runs,
 * alone. Waiters are served in order; one whose `signal` fires leaves the queue (its acquire
 * rejects with the signal's reason).
 *
 * @example
 * const budget = new ByteBudget(256 << 20, Infinity)
 * await budget.acquire(size)
 * try { ... } finally { budget.release(size) }
 */
export class ByteBudget {
  #maxBytes: number
  #maxCount: number
  #bytes = 0
  #count = 0
  #waiters: Array<{ n: number; resolve: () => void }> = []

  /** Bytes taken now. */
  get bytes(): number {
    return this.#bytes
  }

  constructor(maxBytes: number, maxCount: number) {
    this.#maxBytes = maxBytes
    this.#maxCount = maxCount
  }

  acquire(n: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.#waiters.length === 0 && this.#fits(n)) {
      this.#take(n)
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => {
      const served = () => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      const waiter = { n, resolve: served }
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter)
        if (i >= 0) this.#waiters.splice(i, 1)
        reject(signal!.reason)
        // The next in line may fit now that this one left.
        this.#serve()
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiters.push(waiter)
    })
  }

  release(n: number): void {
    this.#bytes -= n
    this.#count--
    this.#serve()
  }

  #serve(): void {
    while (this.#waiters.length > 0 && this.#fits(this.#waiters[0].n)) {
      const w = this.#waiters.shift()!
      this.#take(w.n)
      w.resolve()
    }
  }

  #fits(n: number): boolean {
    return this.#count === 0 || (this.#count < this.#maxCount && this.#bytes + n <= this.#maxBytes)
  }

  #take(n: number): void {
    this.#bytes += n
    this.#count++
  }
}
