/**
 * A byte-rate pacer shared by every call that passes through it: a token bucket that starts
 * empty, refills at `bytesPerSecond` and may go into debt. take(n) resolves once the bucket has
 * paid for n bytes, so over any stretch of time the bytes taken never run ahead of the rate by
 * more than one call's worth, however many calls run at once. 1 MiB at 512 KiB/s takes 2 s.
 *
 * @example
 * const up = new TokenBucket(512 * 1024)
 * await up.take(data.length) // then send data
 */
export class TokenBucket {
  readonly bytesPerSecond: number
  /** When (performance.now() ms) the bytes taken so far are paid for. */
  #paidUntil = 0

  constructor(bytesPerSecond: number) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) {
      throw new RangeError(`Invalid rate ${bytesPerSecond} bytes/s: expected a number above 0`)
    }
    this.bytesPerSecond = bytesPerSecond
  }

  /** Waits until `bytes` more are within the rate (a bucket never saves up unused time). */
  async take(bytes: number): Promise<void> {
    if (bytes <= 0) return
    const now = performance.now()
    this.#paidUntil = Math.max(this.#paidUntil, now) + (bytes * 1000) / this.bytesPerSecond
    const wait = this.#paidUntil - now
    if (wait >= 1) await new Promise((r) => setTimeout(r, Math.ceil(wait)))
  }
}
