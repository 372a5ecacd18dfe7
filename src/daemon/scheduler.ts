/**
 * The timer loop: keeps each scheduled job's next due time and calls `onDue` when it comes.
 * Time comes from an injected Clock. The loop never sleeps longer than `maxWaitMs` (a minute)
 * before looking at the clock again, because timers count time the machine is awake: after a
 * suspend, a long timer would fire hours late, while a minute's poll notices at once.
 */
import type { CancelTimer, Clock } from '../base/index.js'
import type { Schedule } from '../config/index.js'
import { followingDue, initialDue, type Due } from './due.js'

/** A job as the scheduler sees it. */
export interface ScheduledJob {
  key: string
  schedule: Schedule
}

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  clock: Clock
  jobs: readonly ScheduledJob[]
  /** When the job last started (ms), from the run history; undefined when it never ran. */
  lastRun(key: string): number | undefined
  /** Called once per due run time; must not throw. */
  onDue(key: string, info: { slot: number; catchUp: boolean }): void
  /** Longest wait between two looks at the clock (default 60 s). */
  maxWaitMs?: number
  /** A run that fires this much after its due time counts as a catch-up (default 5 min). */
  lateMs?: number
}

/** Fires jobs at their run times; see the module comment. */
export class Scheduler {
  readonly #o: Required<Omit<SchedulerOptions, 'jobs'>>
  readonly #jobs = new Map<string, { job: ScheduledJob; due: Due }>()
  #cancel: CancelTimer | undefined
  #running = false

  constructor(options: SchedulerOptions) {
    this.#o = { maxWaitMs: 60_000, lateMs: 300_000, ...options }
    for (const job of options.jobs) this.#jobs.set(job.key, { job, due: { slot: 0, due: 0, catchUp: false } })
  }

  /** Computes first run times (a catch-up run is due at once) and starts the loop. */
  start(): void {
    if (this.#running) return
    this.#running = true
    const now = this.#o.clock.now()
    for (const entry of this.#jobs.values()) entry.due = initialDue(entry.job.schedule, entry.job.key, this.#o.lastRun(entry.job.key), now)
    this.#tick()
  }

  /** Stops the loop; no `onDue` after this returns. */
  stop(): void {
    this.#running = false
    this.#cancel?.()
    this.#cancel = undefined
  }

  /** When the job is next due (ms, jitter included), or undefined for an unknown job or before start(). */
  nextRun(key: string): number | undefined {
    const entry = this.#jobs.get(key)
    return this.#running && entry ? entry.due.due : undefined
  }

  #tick(): void {
    if (!this.#running) return
    const now = this.#o.clock.now()
    for (const entry of this.#jobs.values()) {
      if (entry.due.due > now) continue
      const fired = entry.due
      entry.due = followingDue(entry.job.schedule, entry.job.key, fired.slot, now)
      this.#o.onDue(entry.job.key, { slot: fired.slot, catchUp: fired.catchUp || now - fired.due > this.#o.lateMs })
      if (!this.#running) return
    }
    let next = Number.POSITIVE_INFINITY
    for (const entry of this.#jobs.values()) next = Math.min(next, entry.due.due)
    const wait = Math.min(Math.max(0, next - now), this.#o.maxWaitMs)
    this.#cancel = this.#o.clock.setTimer(wait, () => this.#tick())
  }
}
