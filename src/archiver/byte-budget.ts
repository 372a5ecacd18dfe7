/**
 * Bounds work in flight by count and by bytes: many small files may be under way at once (each
 * costs little), but only a few large ones. A single item larger than the budget still runs,
 * alone. Waiters are served in order.
 */
export class ByteBudget {
  #maxBytes: number
  #maxCount: number
  #bytes = 0
  #count = 0
  #waiters: Array<{ n: number; resolve: () => void }> = []

  constructor(maxBytes: number, maxCount: number) {
    this.#maxBytes = maxBytes
    this.#maxCount = maxCount
  }

  acquire(n: number): Promise<void> {
    if (this.#waiters.length === 0 && this.#fits(n)) {
      this.#take(n)
      return Promise.resolve()
    }
    return new Promise((resolve) => this.#waiters.push({ n, resolve }))
  }

  release(n: number): void {
    this.#bytes -= n
    this.#count--
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
