/**
 * What running backup sets reports: per set and per destination a status, snapshot IDs,
 * amounts and errors; the events a caller sees while it runs; and how statuses add up to an
 * exit code (restic's: 0 ok, 3 partial, 1 failure, 130 interrupted).
 */
import type { HookKind, HookRun } from './hooks.js'

/** `ok`: the destination got a snapshot; `failed`: it should have and did not; `skipped`: see `skip`. */
export type DestinationStatus = 'ok' | 'failed' | 'skipped'

/**
 * Why a destination was skipped: `absent` (a removable drive that is not there), `not-needed`
 * (first-available: an earlier destination took the backup), `not-reached` (a before hook
 * failed or the run was interrupted first), `excluded` (the caller asked for other destinations).
 */
export type SkipReason = 'absent' | 'not-needed' | 'not-reached' | 'excluded'

/** The outcome at one destination. */
export interface DestinationResult {
  destination: string
  /** Where it is, password stripped. */
  location: string
  status: DestinationStatus
  skip?: SkipReason
  /** A sentence for people: why it was skipped or failed. */
  reason?: string
  /** How the snapshot got there: backed up, or copied from the destination named in `copiedFrom`. */
  via?: 'backup' | 'copy'
  copiedFrom?: string
  snapshotId?: string
  /** Files and bytes read from the sources (backup), or bytes stored (copy). */
  files?: number
  bytes?: number
  /** Bytes added to the repository (after deduplication, before compression). */
  dataAdded?: number
  /** Source files that could not be read (the snapshot was still written). */
  fileErrors?: number
  /** The free space was below the repository's `min-free`. */
  lowSpace?: boolean
  /** Snapshots removed by the retention policy, and whether prune ran. */
  forget?: { policy: string; removed: number; pruned: boolean }
  check?: { ok: boolean; errors: number }
  /** Everything that went wrong here, one line each, no secrets. */
  errors: string[]
  durationMs: number
}

/** How a set's run ended. `skipped`: no destination was there and nothing failed. */
export type SetStatus = 'ok' | 'partial' | 'failed' | 'skipped' | 'interrupted'

/** The outcome of one backup set. */
export interface SetRunResult {
  set: string
  status: SetStatus
  startedAt: string
  durationMs: number
  destinations: DestinationResult[]
  hooks: HookRun[]
  /** Everything that went wrong, one line each. */
  errors: string[]
  /** Problems that did not change the status (a continue-on-error hook that failed). */
  warnings: string[]
}

/** The outcome of `cairn run`. */
export interface RunResult {
  sets: SetRunResult[]
  /** 0 all ok or skipped, 3 some partial, 1 any failure, 130 interrupted. */
  exitCode: 0 | 1 | 3 | 130
  durationMs: number
}

/** What happens, as it happens. `set` names the backup set each event belongs to. */
export type RunEvent =
  | { type: 'set-start'; set: string; destinations: string[]; mode: string }
  | { type: 'hook-start'; set: string; hook: HookKind; command: string }
  | { type: 'hook-output'; set: string; hook: HookKind; command: string; stream: 'stdout' | 'stderr'; line: string }
  | { type: 'hook-end'; set: string; run: HookRun }
  | { type: 'destination-start'; set: string; destination: string; action: 'backup' | 'copy' | 'forget' | 'prune' | 'check' | 'init' }
  | { type: 'progress'; set: string; destination: string; files: number; bytes: number; errors: number }
  | { type: 'destination-end'; set: string; result: DestinationResult }
  | { type: 'warning'; set: string; destination?: string; message: string }
  | { type: 'set-end'; set: string; result: SetRunResult }

/** A set's status from its destinations and hooks. */
export function setStatusOf(r: Pick<SetRunResult, 'destinations' | 'hooks'>, interrupted: boolean, beforeFailed: boolean): SetStatus {
  if (interrupted) return 'interrupted'
  if (beforeFailed) return 'failed'
  const made = r.destinations.filter((d) => d.status === 'ok')
  const failed = r.destinations.filter((d) => d.status === 'failed')
  const hookFailed = r.hooks.some((h) => !h.ok && !h.continueOnError)
  if (made.length === 0) return failed.length > 0 || hookFailed ? 'failed' : 'skipped'
  const troubled = failed.length > 0 || made.some((d) => d.errors.length > 0 || (d.fileErrors ?? 0) > 0)
  return troubled || hookFailed ? 'partial' : 'ok'
}

/** The exit code for a run: 130 when interrupted, else 1 for any failure, 3 for any partial set. */
export function exitCodeOf(sets: readonly SetRunResult[]): RunResult['exitCode'] {
  if (sets.some((s) => s.status === 'interrupted')) return 130
  if (sets.some((s) => s.status === 'failed')) return 1
  if (sets.some((s) => s.status === 'partial')) return 3
  return 0
}
