/**
 * Buffers of one size, reused: a fresh large buffer per use (a pack, a batch of writes) leaves
 * the allocator with big holes to fill. At most `max` exist; tryAcquire() gives undefined while
 * all are in use, and wait() resolves when one comes back.
 */
export class BufferPool {
  #size: number
  #max: number
  #count = 0
  #free: Buffer[] = []
  #waiters: Array<() => void> = []

  constructor(size: number, max: number) {
    this.#size = size
    this.#max = max
  }

  /** A buffer at once, or undefined when all are in use (then wait() and try again). */
  tryAcquire(): Buffer | undefined {
    const b = this.#free.pop()
    if (b !== undefined) return b
    if (this.#count >= this.#max) return undefined
    this.#count++
    // allocUnsafeSlow: the buffer's own memory, touched only as it is filled.
    return Buffer.allocUnsafeSlow(this.#size)
  }

  /** Resolves when a buffer was given back. */
  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /** Gives a buffer back (one that outgrew the pool's size replaces the original). */
  release(b: Buffer): void {
    if (b.length >= this.#size && this.#free.length < this.#max) this.#free.push(b)
    else this.#count--
    const ws = this.#waiters
    this.#waiters = []
    for (const w of ws) w()
  }

  /** Forgets the free buffers (after the last use). */
  clear(): void {
    this.#count -= this.#free.length
    this.#free = []
  }
}
