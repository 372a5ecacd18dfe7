/**
 * Which removable destinations a set still owes a backup to. A destination becomes pending when
 * a run finds it absent (and, for a first-available set, nothing else took the backup); it stops
 * being pending when a run to it succeeds. When it appears, a pending destination gets its
 * backup at once, and so does an overdue one (see owesBackup).
 */
import type { RunHistory } from './history.js'
import type { SetPlan } from './plan.js'
import type { DestinationOutcome } from './run-contract.js'

const OK = new Set(['success', 'partial'])

/** Pending removable destinations per set. */
export class PendingDestinations {
  readonly #pending = new Map<string, Set<string>>()

  /** The destinations `set` owes a backup to. */
  of(set: string): ReadonlySet<string> {
    return this.#pending.get(set) ?? new Set()
  }

  /** Updates the set's pending destinations from a finished run's outcomes. */
  record(set: SetPlan, outcomes: readonly DestinationOutcome[]): void {
    const pending = new Set(this.#pending.get(set.name))
    const anyOk = outcomes.some((o) => OK.has(o.status))
    for (const o of outcomes) {
      if (OK.has(o.status)) pending.delete(o.name)
      else if (o.status === 'missing' && (set.mode === 'all' || !anyOk)) pending.add(o.name)
    }
    if (set.mode === 'first-available' && anyOk) pending.clear()
    if (pending.size > 0) this.#pending.set(set.name, pending)
    else this.#pending.delete(set.name)
  }

  /** Restores pending destinations from each set's latest run (at daemon start). */
  restore(sets: readonly SetPlan[], history: RunHistory): void {
    for (const set of sets) {
      const last = history.lastRun(set.name)
      if (last && last.result !== 'running') this.record(set, last.destinations)
    }
  }
}

/**
 * True when `set` should back up to `destination` now that it appeared: it is pending, or the
 * set is scheduled and overdue there: in mode `all`, its last successful backup to this
 * destination is older than one run interval (or there is none); in mode `first-available`,
 * its last successful backup anywhere is (a first-available set owes nothing to a lower
 * priority drive while a higher one takes its backups).
 */
export function owesBackup(set: SetPlan, destination: string, pending: PendingDestinations, history: RunHistory, now: number): boolean {
  if (!set.destinations.includes(destination)) return false
  if (pending.of(set.name).has(destination)) return true
  if (set.schedule === undefined) return false
  const last = set.mode === 'all' ? lastSuccessTo(set.name, destination, history) : history.lastSuccess(set.name)?.startedAt
  if (last === undefined) return true
  return set.schedule.nextRun(new Date(last)).getTime() <= now
}

/** When the latest successful backup of `set` to `destination` started, from recent history. */
export function lastSuccessTo(set: string, destination: string, history: RunHistory): number | undefined {
  for (const run of history.list({ job: set, kind: 'backup', limit: 500 })) {
    if (run.destinations.some((d) => d.name === destination && OK.has(d.status))) return run.startedAt
  }
  return undefined
}
