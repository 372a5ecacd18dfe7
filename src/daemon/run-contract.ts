/**
 * What the daemon asks of the code that does the work: a function that runs one backup set and
 * one that runs one maintenance task. The daemon schedules, serialises, records and reports;
 * these functions back up, prune and check. Injected, so the daemon is testable without a
 * repository, and wired to the app layer in production (see run-set-adapter.ts).
 */

/** How a run ended. `skipped`: nothing could run (a removable destination was absent). */
export type RunResult = 'success' | 'partial' | 'failure' | 'skipped' | 'cancelled'

/** Why a run started. `catch-up`: a run time passed while the daemon was off or the machine slept. */
export type RunTrigger = 'schedule' | 'catch-up' | 'manual' | 'media'

/** The outcome at one destination of a backup set. */
export interface DestinationOutcome {
  /** The repository's name in the config. */
  name: string
  /**
   * `missing`: a removable destination was absent; `not-run`: not needed (an earlier destination
   * of a first-available set took the backup) or not reached.
   */
  status: 'success' | 'partial' | 'failure' | 'missing' | 'not-run'
  snapshotId?: string
  files?: number
  bytes?: number
  /** What failed, one line, no secrets. */
  error?: string
  /** Size of the repository after the run, when known. */
  repositorySize?: number
}

/** Progress of a running backup, as often as the runner likes; the daemon throttles it. */
export interface RunProgress {
  /** The destination being written. */
  destination?: string
  /** What is going on: "backup", "forget", "prune", "hook before", … */
  phase?: string
  files: number
  bytes: number
  totalFiles?: number
  totalBytes?: number
}

/** A request to run one backup set. */
export interface RunSetRequest {
  set: string
  /** Only these destinations (a removable drive that just appeared); default: all of the set's. */
  destinations?: string[]
  trigger: RunTrigger
  /** Aborted when the run is cancelled or the daemon stops; `finally` hooks must still run. */
  signal: AbortSignal
  onProgress?(progress: RunProgress): void
  /** One line of the run's log (hook output, warnings, per-destination results). */
  onLog?(line: string): void
}

/** What a backup-set run reports. */
export interface RunSetResult {
  result: RunResult
  destinations: DestinationOutcome[]
  /** Files and bytes read from the sources (summed over destinations). */
  files: number
  bytes: number
  snapshotIds: string[]
  /** What failed, one line each, no secrets. */
  errors: string[]
}

/** Runs a backup set. May throw; a throw is recorded as a failure with its message. */
export type RunSetFn = (request: RunSetRequest) => Promise<RunSetResult>

/** A maintenance task the daemon schedules: prune or check of one repository. */
export interface MaintenanceRequest {
  /** The task's id in the plan (e.g. "prune nas"). */
  task: string
  kind: 'prune' | 'check'
  repository: string
  /** The set whose retention applies (prune), when the task belongs to a set. */
  set?: string
  /** Extra arguments from the config (e.g. check's read-data-subset "5%"). */
  options?: Record<string, unknown>
  trigger: RunTrigger
  signal: AbortSignal
  onProgress?(progress: RunProgress): void
  onLog?(line: string): void
}

/** What a maintenance run reports. */
export interface MaintenanceResult {
  result: RunResult
  errors: string[]
  /** Size of the repository after the task, when known. */
  repositorySize?: number
}

/** Runs a maintenance task. May throw; a throw is recorded as a failure with its message. */
export type MaintenanceFn = (request: MaintenanceRequest) => Promise<MaintenanceResult>
