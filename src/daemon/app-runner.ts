/**
 * The daemon's run functions in production: a backup set runs through the app layer's
 * runBackupSet (the same code as `cairn run`: hooks, destinations by mode, retention), and a
 * scheduled prune or check through maintainDestination. App events become the run's log lines
 * and progress; app results become the daemon's RunSetResult.
 */
import { maintainDestination, probeDestination, repositoryOptionsFor, runBackupSet, type RunEvent, type SetRunResult, type SharedRepositoryOptions } from '../app/sets.js'
import { messageOf } from '../base/index.js'
import { resolveBackupSet, resolveRepository, type LoadedConfig } from '../config/index.js'
import type { DestinationOutcome, MaintenanceFn, RunProgress, RunResult, RunSetFn, RunSetResult } from './run-contract.js'

/** Options of {@link appRunSet} and {@link appRunMaintenance}. */
export interface AppRunnerOptions {
  /** The config file (a function, so a reload can swap it). */
  config: () => LoadedConfig
  /** Cache settings for every repository. */
  shared?: Pick<SharedRepositoryOptions, 'noCache' | 'cacheDir'>
  env?: NodeJS.ProcessEnv
}

const STATUS: Record<SetRunResult['status'], RunResult> = {
  ok: 'success',
  partial: 'partial',
  failed: 'failure',
  skipped: 'skipped',
  interrupted: 'cancelled',
}

/** A set's result in the daemon's terms. */
export function toRunSetResult(r: SetRunResult): RunSetResult {
  const destinations: DestinationOutcome[] = r.destinations.map((d) => {
    const status: DestinationOutcome['status'] =
      d.status === 'ok' ? ((d.fileErrors ?? 0) > 0 ? 'partial' : 'success') : d.status === 'failed' ? 'failure' : d.skip === 'absent' ? 'missing' : 'not-run'
    const error = d.status === 'ok' ? (d.errors.length > 0 ? d.errors.join('; ') : undefined) : (d.reason ?? (d.errors.length > 0 ? d.errors.join('; ') : undefined))
    return {
      name: d.destination,
      status,
      ...(d.snapshotId === undefined ? {} : { snapshotId: d.snapshotId }),
      ...(d.files === undefined ? {} : { files: d.files }),
      ...(d.bytes === undefined ? {} : { bytes: d.bytes }),
      ...(error === undefined ? {} : { error }),
    }
  })
  const backups = r.destinations.filter((d) => d.status === 'ok' && d.via === 'backup')
  const errors = [...r.errors]
  for (const d of r.destinations) {
    if (d.status === 'failed') errors.push(`${d.destination}: ${d.reason ?? d.errors.join('; ')}`)
    else if (d.status === 'ok') for (const e of d.errors) errors.push(`${d.destination}: ${e}`)
  }
  return {
    result: STATUS[r.status],
    destinations,
    files: Math.max(0, ...backups.map((d) => d.files ?? 0)),
    bytes: Math.max(0, ...backups.map((d) => d.bytes ?? 0)),
    snapshotIds: r.destinations.filter((d) => d.status === 'ok' && d.snapshotId).map((d) => d.snapshotId as string),
    errors: [...new Set(errors)],
  }
}

/** A log line (or undefined) and progress (or undefined) for an app event. */
export function describeEvent(e: RunEvent): { line?: string; progress?: RunProgress } {
  switch (e.type) {
    case 'set-start':
      return { line: `set ${e.set} (${e.mode}): ${e.destinations.join(', ')}` }
    case 'hook-start':
      return { line: `${e.hook} hook: ${e.command}` }
    case 'hook-output':
      return { line: `[${e.hook}${e.stream === 'stderr' ? ' stderr' : ''}] ${e.line}` }
    case 'hook-end':
      return e.run.ok ? {} : { line: `${e.run.error ?? `${e.run.hook} hook failed`}${e.run.continueOnError ? ' (continue-on-error)' : ''}` }
    case 'destination-start':
      return { line: `${e.destination}: ${e.action}`, progress: { destination: e.destination, phase: e.action, files: 0, bytes: 0 } }
    case 'progress':
      return { progress: { destination: e.destination, phase: 'backup', files: e.files, bytes: e.bytes } }
    case 'warning':
      return { line: `warning: ${e.destination ? `${e.destination}: ` : ''}${e.message}` }
    case 'destination-end': {
      const d = e.result
      if (d.status === 'skipped') return { line: `${d.destination}: skipped: ${d.reason ?? d.skip ?? ''}` }
      if (d.status === 'failed') return { line: `${d.destination}: FAILED: ${d.reason ?? d.errors.join('; ')}` }
      const what = d.via === 'copy' ? `copied from ${d.copiedFrom}` : `${d.files ?? 0} files, ${d.bytes ?? 0} bytes, ${d.dataAdded ?? 0} bytes added`
      return { line: `${d.destination}: snapshot ${d.snapshotId?.slice(0, 8) ?? '?'} (${what}) in ${(d.durationMs / 1000).toFixed(1)}s` }
    }
    case 'set-end':
      return { line: `set ${e.set}: ${e.result.status} in ${(e.result.durationMs / 1000).toFixed(1)}s` }
  }
}

/** Runs backup sets with the app layer; see the module comment. */
export function appRunSet(o: AppRunnerOptions): RunSetFn {
  return async (req) => {
    const log = (line: string) => req.onLog?.(line)
    const result = await runBackupSet(o.config(), req.set, {
      ...(req.destinations === undefined ? {} : { destinations: req.destinations }),
      signal: req.signal,
      shared: { ...o.shared, onNotice: log, onBackendMessage: log },
      ...(o.env === undefined ? {} : { env: o.env }),
      onEvent: (e) => {
        const { line, progress } = describeEvent(e)
        if (line !== undefined) log(line)
        if (progress !== undefined) req.onProgress?.(progress)
      },
    })
    return toRunSetResult(result)
  }
}

/** Runs scheduled prunes (forget by the set's retention for that destination, then prune) and checks. */
export function appRunMaintenance(o: AppRunnerOptions): MaintenanceFn {
  return async (req) => {
    const env = o.env ?? process.env
    const log = (line: string) => req.onLog?.(line)
    const loaded = o.config()
    if (req.set === undefined) return { result: 'failure', errors: [`Task "${req.task}" names no set`] }
    const { set } = resolveBackupSet(loaded.config, req.set, loaded.dir, env)
    const repo = resolveRepository(loaded.config, req.repository, loaded.dir, env)
    const availability = await probeDestination(repo)
    if (availability.kind === 'absent') return { result: 'skipped', errors: [`${req.repository}: ${availability.reason}`] }
    if (availability.kind === 'missing') return { result: 'failure', errors: [`${req.repository}: ${availability.reason}`] }
    let opts
    try {
      opts = { ...repositoryOptionsFor(repo, { ...o.shared, onNotice: log, onBackendMessage: log }, env), signal: req.signal }
    } catch (err) {
      return { result: 'failure', errors: [`${req.repository}: ${messageOf(err)}`] }
    }
    const out = await maintainDestination(set, opts, req.kind === 'prune' ? set.retention[req.repository] : undefined, {
      prune: req.kind === 'prune',
      check: req.kind === 'check',
      signal: req.signal,
      onAction: (a) => {
        log(`${req.repository}: ${a}`)
        req.onProgress?.({ destination: req.repository, phase: a, files: 0, bytes: 0 })
      },
    })
    if (out.forget) log(`${req.repository}: forget (${out.forget.policy}): ${out.forget.removed} snapshots removed${out.forget.pruned ? ', pruned' : ''}`)
    if (out.check) log(`${req.repository}: check: ${out.check.ok ? 'no errors' : `${out.check.errors} errors`}`)
    const result: RunResult = req.signal.aborted ? 'cancelled' : out.errors.length > 0 ? 'failure' : 'success'
    return { result, errors: out.errors.map((e) => `${req.repository}: ${e}`) }
  }
}
