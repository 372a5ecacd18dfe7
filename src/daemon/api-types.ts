/**
 * The JSON the daemon's API sends, shared by the server (api-server.ts) and the client
 * (client.ts). Times are ISO 8601 strings; absent values are null.
 */
import type { RunRecord } from './history.js'
import type { DestinationOutcome, RunProgress, RunResult, RunTrigger } from './run-contract.js'

/** One run. */
export interface RunJson {
  id: number
  job: string
  kind: RunRecord['kind']
  trigger: RunTrigger
  result: RunResult | 'running'
  startedAt: string
  endedAt: string | null
  durationSeconds: number | null
  files: number
  bytes: number
  snapshotIds: string[]
  errors: string[]
  destinations: DestinationOutcome[]
}

/** A destination in the status. */
export interface DestinationJson {
  name: string
  location: string
  removable: boolean
  /** null: not watched (not removable, or not a local path). */
  present: boolean | null
  freeBytes: number | null
  repositorySize: number | null
}

/** A run in progress. */
export interface ActiveJson {
  runId: number | null
  state: 'waiting' | 'running'
  trigger: RunTrigger
  startedAt: string | null
  progress: RunProgress | null
}

/** A backup set in the status. */
export interface SetStatusJson {
  name: string
  schedule: string | null
  nextRun: string | null
  mode: 'first-available' | 'all'
  active: ActiveJson | null
  lastRun: RunJson | null
  lastSuccess: string | null
  destinations: (DestinationJson & { pending: boolean })[]
}

/** A maintenance task in the status. */
export interface TaskStatusJson {
  id: string
  kind: 'prune' | 'check'
  repository: string
  schedule: string
  nextRun: string | null
  active: ActiveJson | null
  lastRun: RunJson | null
}

/** GET /api/v1/status. */
export interface StatusJson {
  version: string
  host: string
  pid: number
  startedAt: string
  now: string
  sets: SetStatusJson[]
  tasks: TaskStatusJson[]
  destinations: DestinationJson[]
}

/** A run record as JSON. */
export function runJson(r: RunRecord): RunJson {
  return {
    id: r.id,
    job: r.job,
    kind: r.kind,
    trigger: r.trigger,
    result: r.result,
    startedAt: new Date(r.startedAt).toISOString(),
    endedAt: r.endedAt === undefined ? null : new Date(r.endedAt).toISOString(),
    durationSeconds: r.endedAt === undefined ? null : (r.endedAt - r.startedAt) / 1000,
    files: r.files,
    bytes: r.bytes,
    snapshotIds: r.snapshotIds,
    errors: r.errors,
    destinations: r.destinations,
  }
}
