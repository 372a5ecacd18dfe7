/**
 * When a scheduled job is next due: pure functions of a schedule, the job's key, the last run
 * and the current time. A run time that passed while the daemon was off or the machine slept is
 * made up once ("catch-up"), however many run times were missed.
 */
import { createHash } from 'node:crypto'
import type { Schedule } from '../config/index.js'

/** A job's next run: the schedule's time (`slot`) and when it is due after jitter (`due`). */
export interface Due {
  slot: number
  due: number
  /** True when this is the make-up run for run times missed while the daemon was not running. */
  catchUp: boolean
}

/**
 * The jitter for one slot of one job: a delay in [0, jitterMs) derived from both, so a restart
 * computes the same due time and different jobs (and machines with different set names) spread out.
 */
export function jitterOffset(key: string, slot: number, jitterMs: number): number {
  if (jitterMs <= 0) return 0
  const h = createHash('sha256').update(`${key}\0${slot}`).digest()
  return Math.floor((h.readUInt32BE(0) / 2 ** 32) * jitterMs)
}

/** The first run strictly after `after`. */
export function nextDue(schedule: Schedule, key: string, after: number): Due {
  const slot = schedule.nextRun(new Date(after)).getTime()
  return { slot, due: slot + jitterOffset(key, slot, schedule.jitterMs), catchUp: false }
}

/**
 * The first run when the daemon starts: a run time passed since the job last started means one
 * run now (catch-up); otherwise the next run time. A job with no recorded run waits for its
 * first run time.
 *
 * @example
 * // daily 02:30, last run two days ago, now 09:00: one catch-up run now, then 02:30 tomorrow
 * initialDue(daily, 'set:data', twoDaysAgo, now) // { due: now, catchUp: true, ... }
 */
export function initialDue(schedule: Schedule, key: string, lastRun: number | undefined, now: number): Due {
  if (lastRun !== undefined) {
    const missed = nextDue(schedule, key, lastRun)
    if (missed.due <= now) return { slot: missed.slot, due: now, catchUp: true }
    // Its run time has passed but its jittered time has not (a restart at 02:40 for a 02:30
    // run delayed to 03:15): it stays due then. The next run time would lose it.
    if (missed.slot <= now) return missed
  }
  return nextDue(schedule, key, now)
}

/**
 * The run after the one for `slot`, which fired at `now`: run times that passed meanwhile (the
 * machine slept through them) collapse into the one that just fired.
 */
export function followingDue(schedule: Schedule, key: string, slot: number, now: number): Due {
  return nextDue(schedule, key, Math.max(slot, now))
}
