/**
 * Hands items from one producer to one consumer, one at a time: put() resolves once take() has
 * the item, so the producer is never more than one item ahead of the consumer (it may prepare
 * the next while the consumer works on this one). close() ends the stream (take() then gives
 * undefined); fail() makes the waiting and every later put() and take() reject with its error,
 * so neither side waits for one that stopped.
 *
 * @example
 * const h = new Handoff<Batch>()
 * const consumer = (async () => { for (let b = await h.take(); b; b = await h.take()) await work(b) })()
 * for (const b of batches) await h.put(b)
 * h.close()
 * await consumer
 */
export class Handoff<T> {
  #offered: { value: T; resolve: () => void; reject: (err: unknown) => void } | undefined
  #taker: { resolve: (value: T | undefined) => void; reject: (err: unknown) => void } | undefined
  #closed = false
  #failure: { error: unknown } | undefined

  put(value: T): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure.error)
    if (this.#closed) return Promise.reject(new Error('Handoff.put() after close()'))
    if (this.#offered) return Promise.reject(new Error('Handoff.put() while an item is still on offer'))
    const taker = this.#taker
    if (taker) {
      this.#taker = undefined
      taker.resolve(value)
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => (this.#offered = { value, resolve, reject }))
  }

  take(): Promise<T | undefined> {
    if (this.#failure) return Promise.reject(this.#failure.error)
    if (this.#taker) return Promise.reject(new Error('Handoff.take() while another take() waits'))
    const offered = this.#offered
    if (offered) {
      this.#offered = undefined
      offered.resolve()
      return Promise.resolve(offered.value)
    }
    if (this.#closed) return Promise.resolve(undefined)
    return new Promise((resolve, reject) => (this.#taker = { resolve, reject }))
  }

  /** No more items: a waiting take() gets undefined once the last one on offer is taken. */
  close(): void {
    this.#closed = true
    if (!this.#offered && this.#taker) {
      this.#taker.resolve(undefined)
      this.#taker = undefined
    }
  }

  /** Rejects the waiting side and every later call with `error` (the first failure wins). */
  fail(error: unknown): void {
    this.#failure ??= { error }
    this.#offered?.reject(this.#failure.error)
    this.#taker?.reject(this.#failure.error)
    this.#offered = undefined
    this.#taker = undefined
  }
}
