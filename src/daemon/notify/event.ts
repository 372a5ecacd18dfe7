/**
 * What a notification says. Every message answers: what ran (set or task, on which host, why),
 * where (each destination and its outcome), how much (files, bytes, snapshots), how long, and
 * what failed. Builders turn a run record (or a low-space or stale finding) into a NotifyEvent
 * with a title and a plain-text message; each target then shapes it for its service.
 */
import type { NotificationEvent } from '../../config/index.js'
import type { JobKind, RunRecord } from '../history.js'
import type { DestinationPlan } from '../plan.js'
import type { RunResult, RunTrigger } from '../run-contract.js'
import { formatBytes, formatCount, formatDuration, formatTime } from './format.js'

/** One destination in a notification. */
export interface NotifyDestination {
  name: string
  location: string
  status?: string
  snapshotId?: string
  error?: string
  freeBytes?: number
  lowSpaceBytes?: number
}

/** A notification, before a target shapes it. */
export interface NotifyEvent {
  event: NotificationEvent
  /** The set's name or the maintenance task's id. */
  job: string
  kind: JobKind
  /** The set the event belongs to (for per-set targets and `sets:` filters), if any. */
  set?: string
  host: string
  runId?: number
  trigger?: RunTrigger
  result?: RunResult
  startedAt?: number
  endedAt?: number
  durationMs?: number
  destinations: NotifyDestination[]
  files?: number
  bytes?: number
  snapshotIds: string[]
  errors: string[]
  /** For `stale`: when the last successful run started (undefined: never). */
  lastSuccessAt?: number
  title: string
  message: string
}

const RESULT_WORD: Record<RunResult, string> = {
  success: 'succeeded',
  partial: 'partly failed',
  failure: 'FAILED',
  skipped: 'skipped',
  cancelled: 'was cancelled',
}

const TRIGGER_WORD: Record<RunTrigger, string> = {
  schedule: 'on schedule',
  'catch-up': 'to catch up on a missed run time',
  manual: 'on request',
  media: 'because its drive was connected',
}

function what(kind: JobKind, job: string): string {
  if (kind === 'backup') return `Backup "${job}"`
  const name = job.startsWith(`${kind} `) ? job.slice(kind.length + 1) : job
  return `${kind === 'prune' ? 'Prune' : 'Check'} "${name}"`
}

function locationOf(name: string, destinations: readonly DestinationPlan[]): string {
  return destinations.find((d) => d.name === name)?.location ?? name
}

/** The event name for a finished run's result. */
export function eventForResult(result: RunResult): NotificationEvent | undefined {
  if (result === 'success') return 'success'
  if (result === 'partial' || result === 'failure') return 'failure'
  if (result === 'skipped') return 'skipped'
  return undefined // a cancelled run was cancelled by the user, who knows
}

/** A notification for a finished (or, with `start`, a starting) run. */
export function describeRun(run: RunRecord, host: string, destinations: readonly DestinationPlan[], set?: string, start = false): NotifyEvent {
  const result = run.result === 'running' ? undefined : run.result
  const durationMs = run.endedAt === undefined ? undefined : run.endedAt - run.startedAt
  const dests: NotifyDestination[] = run.destinations.map((d) => ({
    name: d.name,
    location: locationOf(d.name, destinations),
    ...(start ? {} : { status: d.status }),
    ...(d.snapshotId === undefined ? {} : { snapshotId: d.snapshotId }),
    ...(d.error === undefined ? {} : { error: d.error }),
  }))
  const subject = what(run.kind, run.job)
  const missing = dests.filter((d) => d.status === 'missing').map((d) => d.name)
  const failed = dests.filter((d) => d.status === 'failure').map((d) => d.name)
  let title: string
  if (start || result === undefined) title = `${subject} started on ${host}`
  else if (result === 'skipped' && missing.length > 0) title = `${subject} skipped on ${host}: ${missing.join(', ')} not connected`
  else if (result === 'partial' && failed.length > 0) title = `${subject} partly failed on ${host}: ${failed.join(', ')} failed`
  else title = `${subject} ${RESULT_WORD[result]} on ${host}`

  const lines: string[] = []
  const why = TRIGGER_WORD[run.trigger]
  if (start || result === undefined) {
    lines.push(`${subject} started ${why} at ${formatTime(run.startedAt)}.`)
  } else {
    const amount = run.kind === 'backup' ? `${formatCount(run.files)} files (${formatBytes(run.bytes)})` : ''
    const verb = result === 'success' || result === 'partial' ? (run.kind === 'backup' ? `backed up ${amount}` : 'ran') : RESULT_WORD[result]
    lines.push(`${subject} ${verb} in ${formatDuration(durationMs ?? 0)}, started ${why} at ${formatTime(run.startedAt)}.`)
  }
  if (dests.length > 0) {
    lines.push('', 'Destinations:')
    for (const d of dests) {
      let line = `  ${d.name} (${d.location})`
      if (d.status) line += `: ${d.status === 'missing' ? 'not connected' : d.status}`
      if (d.snapshotId) line += `, snapshot ${d.snapshotId.slice(0, 8)}`
      // (A drive that is not connected has its error say just that.)
      if (d.error && d.status !== 'missing') line += ` - ${d.error}`
      lines.push(line)
    }
  }
  // A skipped run failed nothing: its destinations above say which drive was not connected.
  if (!start && run.errors.length > 0 && result !== 'skipped') {
    lines.push('', 'What failed:')
    for (const e of run.errors) lines.push(`  ${e}`)
  }
  return {
    event: start ? 'start' : (eventForResult(result ?? 'failure') ?? 'failure'),
    job: run.job,
    kind: run.kind,
    ...(set === undefined ? {} : { set }),
    host,
    runId: run.id,
    trigger: run.trigger,
    ...(result === undefined ? {} : { result }),
    startedAt: run.startedAt,
    ...(run.endedAt === undefined ? {} : { endedAt: run.endedAt }),
    ...(durationMs === undefined ? {} : { durationMs }),
    destinations: dests,
    files: run.files,
    bytes: run.bytes,
    snapshotIds: run.snapshotIds,
    errors: run.errors,
    title,
    message: lines.join('\n'),
  }
}

/** A notification that a destination's file system is short of space. */
export function describeLowSpace(dest: DestinationPlan, freeBytes: number, host: string, set?: string): NotifyEvent {
  const threshold = dest.lowSpaceBytes ?? 0
  const title = `Low disk space on "${dest.name}" (${host}): ${formatBytes(freeBytes)} free`
  const message = [
    `Destination "${dest.name}" (${dest.location}) has ${formatBytes(freeBytes)} free, less than the ${formatBytes(threshold)} configured.`,
    'Free space on the drive, or prune old snapshots ("cairn forget --prune"), before backups start to fail.',
  ].join('\n')
  return {
    event: 'low-space',
    job: set ?? dest.name,
    kind: 'backup',
    ...(set === undefined ? {} : { set }),
    host,
    destinations: [{ name: dest.name, location: dest.location, freeBytes, lowSpaceBytes: threshold }],
    snapshotIds: [],
    errors: [`${dest.name}: ${formatBytes(freeBytes)} free, below ${formatBytes(threshold)}`],
    title,
    message,
  }
}

/** A notification that a set has had no successful run for too long. */
export function describeStale(
  set: string,
  host: string,
  now: number,
  lastSuccessAt: number | undefined,
  since: number,
  lastRun: RunRecord | undefined,
  destinations: readonly DestinationPlan[],
): NotifyEvent {
  const age = now - (lastSuccessAt ?? since)
  const days = Math.floor(age / 86_400_000)
  const ageText = days >= 1 ? `${days} day${days === 1 ? '' : 's'}` : formatDuration(age)
  const title = `No successful backup of "${set}" on ${host} for ${ageText}`
  const lines = [
    lastSuccessAt === undefined
      ? `Set "${set}" has not had a successful backup since the daemon first saw it at ${formatTime(since)}.`
      : `The last successful backup of "${set}" started at ${formatTime(lastSuccessAt)}.`,
  ]
  const errors: string[] = []
  if (lastRun && lastRun.result !== 'running') {
    lines.push(`The latest run (${formatTime(lastRun.startedAt)}) ${RESULT_WORD[lastRun.result]}.`)
    errors.push(...lastRun.errors)
    if (lastRun.errors.length > 0) lines.push('', 'What failed:', ...lastRun.errors.map((e) => `  ${e}`))
  }
  return {
    event: 'stale',
    job: set,
    kind: 'backup',
    set,
    host,
    destinations: (lastRun?.destinations ?? []).map((d) => ({ name: d.name, location: locationOf(d.name, destinations), status: d.status })),
    snapshotIds: [],
    errors,
    ...(lastSuccessAt === undefined ? {} : { lastSuccessAt }),
    title,
    message: lines.join('\n'),
  }
}
