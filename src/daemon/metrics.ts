/**
 * Prometheus metrics (text exposition format 0.0.4) at GET /metrics: runs by result since the
 * daemon started, the latest run of each job (time, duration, files, bytes, result), the next
 * scheduled run, runs in progress, and for each destination whether it is present, its free
 * space and its repository size.
 */
import type { StatusJson } from './api-types.js'

/** Counts finished runs by job, kind and result. */
export class RunCounters {
  readonly #counts = new Map<string, { job: string; kind: string; result: string; n: number }>()

  add(job: string, kind: string, result: string): void {
    const key = `${kind}\0${job}\0${result}`
    const c = this.#counts.get(key)
    if (c) c.n++
    else this.#counts.set(key, { job, kind, result, n: 1 })
  }

  entries(): { job: string; kind: string; result: string; n: number }[] {
    return [...this.#counts.values()]
  }
}

/** A label value escaped as the format requires. */
function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

const seconds = (iso: string | null) => (iso === null ? undefined : Date.parse(iso) / 1000)

/** The metrics text for a status snapshot and the run counters. */
export function renderMetrics(status: StatusJson, counters: RunCounters): string {
  const out: string[] = []
  const family = (name: string, type: 'counter' | 'gauge', help: string, samples: [Record<string, string>, number | undefined][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    for (const [labels, value] of samples) {
      if (value === undefined || !Number.isFinite(value)) continue
      const l = Object.entries(labels).map(([k, v]) => `${k}="${label(v)}"`).join(',')
      out.push(`${name}${l ? `{${l}}` : ''} ${value}`)
    }
  }
  const jobs = [
    ...status.sets.map((s) => ({ job: s.name, kind: 'backup', lastRun: s.lastRun, nextRun: s.nextRun, active: s.active })),
    ...status.tasks.map((t) => ({ job: t.id, kind: t.kind, lastRun: t.lastRun, nextRun: t.nextRun, active: t.active })),
  ]
  family('cairn_daemon_start_time_seconds', 'gauge', 'When the daemon started.', [[{}, seconds(status.startedAt)]])
  family(
    'cairn_runs_total',
    'counter',
    'Runs finished since the daemon started, by job, kind and result.',
    counters.entries().map((c) => [{ job: c.job, kind: c.kind, result: c.result }, c.n]),
  )
  family('cairn_run_in_progress', 'gauge', '1 while a run of the job waits or runs.', jobs.map((j) => [{ job: j.job, kind: j.kind }, j.active ? 1 : 0]))
  family('cairn_next_run_timestamp_seconds', 'gauge', 'When the job is next scheduled.', jobs.map((j) => [{ job: j.job, kind: j.kind }, seconds(j.nextRun)]))
  family('cairn_last_run_timestamp_seconds', 'gauge', 'When the latest run of the job ended.', jobs.map((j) => [{ job: j.job, kind: j.kind }, seconds(j.lastRun?.endedAt ?? null)]))
  family('cairn_last_run_duration_seconds', 'gauge', 'How long the latest run of the job took.', jobs.map((j) => [{ job: j.job, kind: j.kind }, j.lastRun?.durationSeconds ?? undefined]))
  family(
    'cairn_last_run_success',
    'gauge',
    '1 when the latest run of the job succeeded, 0 when not.',
    jobs.map((j) => [{ job: j.job, kind: j.kind }, j.lastRun && j.lastRun.result !== 'running' ? (j.lastRun.result === 'success' ? 1 : 0) : undefined]),
  )
  family('cairn_last_run_files', 'gauge', 'Files read by the latest backup of the set.', status.sets.map((s) => [{ job: s.name }, s.lastRun?.files]))
  family('cairn_last_run_bytes', 'gauge', 'Bytes read by the latest backup of the set.', status.sets.map((s) => [{ job: s.name }, s.lastRun?.bytes]))
  family('cairn_last_success_timestamp_seconds', 'gauge', 'When the latest successful backup of the set started.', status.sets.map((s) => [{ job: s.name }, seconds(s.lastSuccess)]))
  family(
    'cairn_destination_present',
    'gauge',
    '1 when a removable destination is connected.',
    status.destinations.filter((d) => d.present !== null).map((d) => [{ destination: d.name }, d.present ? 1 : 0]),
  )
  family('cairn_destination_free_bytes', 'gauge', 'Free space on the file system of a local destination.', status.destinations.map((d) => [{ destination: d.name }, d.freeBytes ?? undefined]))
  family('cairn_repository_size_bytes', 'gauge', 'Size of the repository at a destination, measured after its latest run.', status.destinations.map((d) => [{ destination: d.name }, d.repositorySize ?? undefined]))
  return `${out.join('\n')}\n`
}
