/**
 * The "no successful backup for N days" warning. Every hour (or more often for a shorter stale-after; and at start) it compares each
 * set's last successful run with the `stale-after` of each target that wants `stale`; a set that
 * never succeeded counts from when the daemon first saw it. Each target is warned once per its
 * own `stale-after` while the set stays stale, remembered across restarts in the history database.
 */
import type { CancelTimer, Clock } from '../base/index.js'
import type { RunHistory } from './history.js'
import { describeStale } from './notify/event.js'
import type { Notifier } from './notify/notifier.js'
import type { DestinationPlan, SetPlan } from './plan.js'

/** Options of {@link StaleWatch}. */
export interface StaleWatchOptions {
  clock: Clock
  history: RunHistory
  notifier: Notifier
  sets: readonly SetPlan[]
  destinations: readonly DestinationPlan[]
  host: string
  log(level: 'info' | 'warn', message: string): void
  /** How often to look (default 1 h, or a quarter of the shortest stale-after, at least 1 min). */
  intervalMs?: number
}

/** See the module comment. */
export class StaleWatch {
  readonly #o: StaleWatchOptions
  #cancel: CancelTimer | undefined
  #running = false

  constructor(options: StaleWatchOptions) {
    this.#o = options
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    void this.#loop()
  }

  stop(): void {
    this.#running = false
    this.#cancel?.()
  }

  /** Looks at every set once; resolves when the warnings due are sent. */
  async check(): Promise<void> {
    const { clock, history, notifier } = this.#o
    const now = clock.now()
    for (const set of this.#o.sets) {
      const firstKey = `first-seen:${set.name}`
      let firstSeen = Number(history.getMeta(firstKey))
      if (!Number.isFinite(firstSeen) || firstSeen <= 0) {
        firstSeen = now
        history.setMeta(firstKey, String(now))
      }
      const targets = notifier.staleTargets(set.name)
      if (targets.length === 0) continue
      const lastSuccess = history.lastSuccess(set.name)?.startedAt
      const since = lastSuccess ?? firstSeen
      // Each target by its own stale-after: one that waits 7 days is not told after another's 2 hours.
      const due = targets.filter((t) => {
        if (now - since < t.afterMs) return false
        const sent = Number(history.getMeta(`stale-sent:${set.name}:${t.name}`))
        return !(Number.isFinite(sent) && sent >= since && now - sent < t.afterMs)
      })
      if (due.length === 0) continue
      for (const t of due) history.setMeta(`stale-sent:${set.name}:${t.name}`, String(now))
      this.#o.log('warn', `No successful backup of "${set.name}" since ${new Date(since).toISOString()}`)
      await notifier.notify(describeStale(set.name, this.#o.host, now, lastSuccess, firstSeen, history.lastRun(set.name), this.#o.destinations), due)
    }
  }

  async #loop(): Promise<void> {
    if (!this.#running) return
    try {
      await this.check()
    } catch (err) {
      this.#o.log('warn', `Stale check failed: ${(err as Error).message}`)
    }
    if (this.#running) this.#cancel = this.#o.clock.setTimer(this.#interval(), () => void this.#loop())
  }

  /** Every hour, or a quarter of the shortest stale-after when that is shorter (at least a minute). */
  #interval(): number {
    if (this.#o.intervalMs !== undefined) return this.#o.intervalMs
    let ms = 3_600_000
    for (const set of this.#o.sets) {
      const after = this.#o.notifier.staleAfter(set.name)
      if (after !== undefined) ms = Math.min(ms, Math.max(60_000, Math.floor(after / 4)))
    }
    return ms
  }
}
