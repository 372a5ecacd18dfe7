/**
 * Time as a dependency. Code that waits or asks for the time takes a Clock, so tests can move
 * time forward (or jump over hours, as a machine does when it wakes from sleep) without waiting.
 */

/** A cancel function returned by {@link Clock.setTimer}; calling it twice is harmless. */
export type CancelTimer = () => void

/** The time source and timer facility of long-running code (the daemon's scheduler). */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
  /**
   * Calls `fn` once, no earlier than `ms` milliseconds from now (negative counts as 0). A timer
   * may fire late (after a machine slept); callers compare `now()` with what they expected.
   */
  setTimer(ms: number, fn: () => void): CancelTimer
}

/** Resolves after `ms` on `clock`, or rejects with the signal's reason when it is aborted first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = () => {
      cancel()
      reject(signal?.reason)
    }
    const cancel = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    })
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** The real clock: `Date.now()` and `setTimeout`. Long delays are split so they never overflow. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    // setTimeout fires at once for delays above 2^31-1 ms; wait in steps instead.
    const MAX = 2 ** 31 - 1
    const due = Date.now() + Math.max(0, ms)
    let handle: NodeJS.Timeout
    const arm = () => {
      const left = due - Date.now()
      handle = setTimeout(left > MAX ? arm : fn, Math.min(Math.max(0, left), MAX))
    }
    arm()
    return () => clearTimeout(handle)
  },
}

interface FakeTimer {
  at: number
  seq: number
  fn: () => void
}

/**
 * A clock for tests. Time stands still until the test moves it: {@link FakeClock.advance} fires
 * each timer at its own due time, in order; {@link FakeClock.jump} moves time at once and then
 * fires every overdue timer late, as timers behave after a machine wakes from sleep. Both let
 * promise callbacks started by a timer settle before returning.
 *
 * @example
 * const clock = new FakeClock(new Date('2025-03-29T12:00:00Z'))
 * clock.setTimer(60_000, () => fired++)
 * await clock.advance(60_000) // fired === 1
 */
export class FakeClock implements Clock {
  #now: number
  #seq = 0
  #timers: FakeTimer[] = []

  constructor(start: Date | number = 0) {
    this.#now = typeof start === 'number' ? start : start.getTime()
  }

  now(): number {
    return this.#now
  }

  setTimer(ms: number, fn: () => void): CancelTimer {
    const timer: FakeTimer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn }
    this.#timers.push(timer)
    return () => {
      const i = this.#timers.indexOf(timer)
      if (i >= 0) this.#timers.splice(i, 1)
    }
  }

  /** How many timers wait to fire. */
  get pendingTimers(): number {
    return this.#timers.length
  }

  /** When the next timer is due (ms since the epoch), or undefined when none waits. */
  nextTimerAt(): number | undefined {
    return this.#earliest()?.at
  }

  /** Moves time forward by `ms`, firing each timer that falls due at its own time, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + Math.max(0, ms)
    await settle()
    for (;;) {
      const t = this.#earliest()
      if (t === undefined || t.at > target) break
      this.#timers.splice(this.#timers.indexOf(t), 1)
      this.#now = Math.max(this.#now, t.at)
      t.fn()
      await settle()
    }
    this.#now = target
    await settle()
  }

  /** Moves time forward by `ms` at once (a machine waking from sleep), then fires overdue timers late. */
  async jump(ms: number): Promise<void> {
    this.#now += Math.max(0, ms)
    await this.advance(0)
  }

  /** Sets the time without firing anything (the wall clock was changed). */
  set(time: Date | number): void {
    this.#now = typeof time === 'number' ? time : time.getTime()
  }

  #earliest(): FakeTimer | undefined {
    let best: FakeTimer | undefined
    for (const t of this.#timers) if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t
    return best
  }
}

/** Lets promise chains and I/O callbacks started by a timer run before time moves on. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r))
}
