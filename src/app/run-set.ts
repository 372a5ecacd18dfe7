/**
 * `cairn run`: backup sets run as the config file describes them. For each set: `before`
 * hooks (a failure stops the set unless the hook says continue-on-error); then the
 * destinations as the mode says (first-available: in priority order until one takes the
 * backup, skipping a removable drive that is absent and falling back past one that is missing
 * or fails; all: every available one, or with `copy: true` one backup copied to the rest);
 * at each destination that got a snapshot, forget by its retention policy, prune and check as
 * configured; then `after` hooks (a snapshot was made), `on-error` hooks (something failed)
 * and `finally` hooks (always, also when interrupted). The daemon calls runBackupSet too.
 */
import { AppError, isAppError, messageOf } from '../base/index.js'
import { stripPassword } from '../backends/index.js'
import { closest, resolveBackupSet, resolveRepository, setNames, type EffectiveRepository, type EffectiveSet, type LoadedConfig } from '../config/index.js'
import { runBackup, type BackupRequest } from './backup.js'
import { copySnapshots } from './copy.js'
import { runHooks, type HookContext, type HookKind, type HookRun } from './hooks.js'
import { exitCodeOf, setStatusOf, type DestinationResult, type RunEvent, type RunResult, type SetRunResult } from './run-set-result.js'
import { forWriting, initRepository, withRepository, type RepositoryOptions } from './session.js'
import { maintainDestination, setTag } from './set-maintenance.js'
import { probeDestination, repositoryOptionsFor, type SharedRepositoryOptions } from './set-destination.js'
import { acquireSetLock, setLockDirectory } from './set-lock.js'

/** How to run sets. */
export interface RunSetOptions {
  /** Only these destinations (a drive that just appeared); the others are skipped as `excluded`. */
  destinations?: string[]
  /** Stops the run: the backup ends without a snapshot, then `finally` hooks run. */
  signal?: AbortSignal
  /** Create a destination's repository when it does not exist (a local one needs its parent directory). */
  init?: boolean
  /** true: prune at every destination; false: never; undefined: as each set's `prune.when` says. */
  prune?: boolean
  /** true: check every destination after its backup; false: never; undefined: as `check.after-backup` says. */
  check?: boolean
  /** Cache and notice settings for every repository. */
  shared?: SharedRepositoryOptions
  /** Environment for passwords, backends and hooks (default: process.env). */
  env?: NodeJS.ProcessEnv
  onEvent?: (event: RunEvent) => void
  /** Milliseconds between progress events of a backup; default 500. */
  progressIntervalMs?: number
  /** Time between SIGTERM and SIGKILL when a hook is stopped; default 5 s. */
  hookKillGraceMs?: number
  /** Where the locks that keep a set from running twice at once live (default: see setLockDirectory()). */
  lockDir?: string
}

/** A request to run several sets (all of the file's when `sets` is empty). */
export interface RunSetsRequest extends RunSetOptions {
  config: LoadedConfig
  sets?: string[]
}

/**
 * Runs sets one after the other and sums up. Unknown set names are refused (CONFIG) before
 * anything runs; an interrupted run does not start the next set.
 *
 * @example
 * const result = await runSets({ config: await loadConfig(), signal })
 * process.exitCode = result.exitCode
 */
export async function runSets(req: RunSetsRequest): Promise<RunResult> {
  const started = Date.now()
  const all = setNames(req.config.config)
  const names = req.sets !== undefined && req.sets.length > 0 ? req.sets : all
  if (names.length === 0) {
    throw new AppError('CONFIG', `No backup sets in "${req.config.file}"`, { hint: 'Add one under "sets:" (see "cairn config init")' })
  }
  // Unknown set names throw; so does a destination none of the sets has (a typo would back up nothing).
  const destinations = new Set(names.flatMap((n) => resolveBackupSet(req.config.config, n, req.config.dir, req.env).set.destinations))
  for (const d of req.destinations ?? []) {
    if (destinations.has(d)) continue
    const near = closest(d, destinations)
    const sets = names.length === 1 ? `Set "${names[0]}" has` : `None of the sets ${names.map((n) => `"${n}"`).join(', ')} has`
    throw new AppError('INVALID_ARGUMENT', `${sets} no destination "${d}"`, {
      hint: `${near !== undefined ? `Did you mean "${near}"? ` : ''}Destinations: ${[...destinations].join(', ')}`,
    })
  }
  const sets: SetRunResult[] = []
  for (const n of names) {
    if (req.signal?.aborted) break
    sets.push(await runBackupSet(req.config, n, req))
  }
  return { sets, exitCode: exitCodeOf(sets), durationMs: Date.now() - started }
}

/**
 * Runs one backup set; never throws for what happens during the run (it is in the result). A set
 * that another process (the daemon, another `cairn run`) is running fails at once: see set-lock.ts.
 */
export async function runBackupSet(loaded: LoadedConfig, name: string, o: RunSetOptions = {}): Promise<SetRunResult> {
  const env = o.env ?? process.env
  const dir = o.lockDir ?? setLockDirectory(env)
  const lock = await acquireSetLock(dir, loaded.file, name).catch((err: unknown) => err as Error)
  if (lock instanceof Error) {
    // A state folder that cannot be written (a read-only home) costs the lock, not the backup.
    const warning = `cannot take the lock that keeps set "${name}" from running twice at once, in "${dir}": ${messageOf(lock)}; running without it (set XDG_STATE_HOME to a folder that can be written)`
    o.onEvent?.({ type: 'warning', set: name, message: warning })
    const result = await runHoldingLock(loaded, name, o)
    result.warnings.push(warning)
    return result
  }
  if (!lock.ok) {
    const { set } = resolveBackupSet(loaded.config, name, loaded.dir, env)
    const why = `it is running already (process ${lock.holder.pid}${lock.holder.hostname ? ` on ${lock.holder.hostname}` : ''}${lock.holder.startedAt ? ` since ${lock.holder.startedAt}` : ''}), so this run did nothing`
    const result: SetRunResult = { set: name, status: 'failed', startedAt: new Date().toISOString(), durationMs: 0, destinations: [], hooks: [], errors: [`set "${name}": ${why}`], warnings: [] }
    o.onEvent?.({ type: 'set-start', set: name, destinations: set.destinations, mode: set.mode })
    o.onEvent?.({ type: 'set-end', set: name, result })
    return result
  }
  try {
    return await runHoldingLock(loaded, name, o)
  } finally {
    await lock.release()
  }
}

async function runHoldingLock(loaded: LoadedConfig, name: string, o: RunSetOptions): Promise<SetRunResult> {
  const env = o.env ?? process.env
  const { set } = resolveBackupSet(loaded.config, name, loaded.dir, env)
  const started = Date.now()
  const emit = (e: RunEvent) => o.onEvent?.(e)
  const result: SetRunResult = { set: name, status: 'ok', startedAt: new Date(started).toISOString(), durationMs: 0, destinations: [], hooks: [], errors: [], warnings: [] }
  const signal = o.signal
  const baseEnv: NodeJS.ProcessEnv = {
    ...env,
    CAIRN_SET: name,
    CAIRN_CONFIG: loaded.file,
    CAIRN_SOURCES: set.sources.join('\n'),
    CAIRN_DESTINATIONS: set.destinations.join(' '),
    CAIRN_MODE: set.mode,
    CAIRN_HOST: set.host,
  }
  const hooks = async (kind: HookKind, extra: NodeJS.ProcessEnv, hookSignal: AbortSignal | undefined) => {
    const list = set.hooks[kind === 'on-error' ? 'onError' : kind]
    if (list.length === 0) return undefined
    const ctx: HookContext = {
      env: { ...baseEnv, ...extra, CAIRN_HOOK: kind },
      cwd: loaded.dir,
      ...(hookSignal ? { signal: hookSignal } : {}),
      ...(o.hookKillGraceMs === undefined ? {} : { killGraceMs: o.hookKillGraceMs }),
      onStart: (hook, command) => emit({ type: 'hook-start', set: name, hook, command }),
      onOutput: (hook, command, stream, line) => emit({ type: 'hook-output', set: name, hook, command, stream, line }),
      onEnd: (run) => emit({ type: 'hook-end', set: name, run }),
    }
    const { runs, failed } = await runHooks(kind, list, ctx)
    result.hooks.push(...runs)
    for (const r of runs) if (!r.ok && r.continueOnError && r.error) result.warnings.push(`${r.error} (continue-on-error)`)
    if (failed?.error) result.errors.push(failed.error)
    return failed
  }

  emit({ type: 'set-start', set: name, destinations: set.destinations, mode: set.mode })
  // Every destination is a drive that is not plugged in: nothing to do, and its hooks (a dump, a
  // service stopped) would run for nothing. The daemon does not start such a set either.
  const away = await allAbsent(loaded, set, o, env)
  if (away !== undefined) {
    for (const dr of away) {
      result.destinations.push(dr)
      emit({ type: 'destination-end', set: name, result: dr })
    }
    result.status = 'skipped'
    result.durationMs = Date.now() - started
    emit({ type: 'set-end', set: name, result })
    return result
  }
  let beforeFailed: HookRun | undefined
  try {
    beforeFailed = await hooks('before', {}, signal)
    if (beforeFailed === undefined && !signal?.aborted) await runDestinations(loaded, set, o, result, emit)
  } catch (err) {
    result.errors.push(`unexpected error: ${messageOf(err)}`)
  }
  const reached = new Set(result.destinations.map((d) => d.destination))
  for (const d of set.destinations) {
    if (reached.has(d)) continue
    const dr: DestinationResult = { destination: d, location: locationOf(loaded, d, env), status: 'skipped', skip: 'not-reached', errors: [], durationMs: 0 }
    dr.reason = beforeFailed ? 'not reached: a before hook failed' : signal?.aborted ? 'not reached: interrupted' : 'not reached'
    result.destinations.push(dr)
  }
  const interrupted = signal?.aborted === true
  const unexpected = result.errors.some((e) => e.startsWith('unexpected error'))
  result.status = unexpected ? 'failed' : setStatusOf(result, interrupted, beforeFailed !== undefined)
  const outcomeEnv = (): NodeJS.ProcessEnv => {
    const made = result.destinations.filter((d) => d.status === 'ok')
    const errors = [...result.errors, ...result.destinations.flatMap((d) => (d.status === 'failed' && d.reason ? [`${d.destination}: ${d.reason}`] : d.errors.map((e) => `${d.destination}: ${e}`)))]
    return {
      CAIRN_RESULT: result.status,
      CAIRN_DESTINATION: made.map((d) => d.destination).join(' '),
      CAIRN_SNAPSHOT_ID: made[0]?.snapshotId ?? '',
      CAIRN_SNAPSHOT_IDS: made.map((d) => `${d.destination}=${d.snapshotId}`).join(' '),
      CAIRN_SKIPPED: result.destinations.filter((d) => d.status === 'skipped' && d.skip === 'absent').map((d) => d.destination).join(' '),
      CAIRN_FAILED: result.destinations.filter((d) => d.status === 'failed').map((d) => d.destination).join(' '),
      CAIRN_ERROR: errors.join('; '),
    }
  }
  if (!interrupted) {
    if (result.destinations.some((d) => d.status === 'ok')) {
      await hooks('after', outcomeEnv(), signal)
      // A failed after hook makes the set partial: on-error and finally hooks see that.
      result.status = unexpected ? 'failed' : setStatusOf(result, o.signal?.aborted === true, beforeFailed !== undefined)
    }
    if (result.status === 'failed' || result.status === 'partial') await hooks('on-error', outcomeEnv(), signal)
  }
  await hooks('finally', outcomeEnv(), undefined)
  result.status = unexpected ? 'failed' : setStatusOf(result, signal?.aborted === true, beforeFailed !== undefined)
  result.durationMs = Date.now() - started
  emit({ type: 'set-end', set: name, result })
  return result
}

/** The destinations of a run, each skipped as absent, when every one is a removable drive not there; else undefined. */
async function allAbsent(loaded: LoadedConfig, set: EffectiveSet, o: RunSetOptions, env: NodeJS.ProcessEnv): Promise<DestinationResult[] | undefined> {
  const wanted = set.destinations.filter((d) => o.destinations === undefined || o.destinations.includes(d))
  if (wanted.length === 0) return undefined
  const out: DestinationResult[] = []
  for (const name of set.destinations) {
    if (!wanted.includes(name)) {
      out.push({ destination: name, location: locationOf(loaded, name, env), status: 'skipped', skip: 'excluded', reason: 'not asked for in this run', errors: [], durationMs: 0 })
      continue
    }
    const repo = resolveRepository(loaded.config, name, loaded.dir, env)
    if (!repo.removable) return undefined
    const availability = await probeDestination(repo, o.init).catch(() => undefined)
    if (availability?.kind !== 'absent') return undefined
    out.push({ destination: name, location: stripPassword(repo.url), status: 'skipped', skip: 'absent', reason: availability.reason, errors: [], durationMs: 0 })
  }
  return out
}

/** Where a set's repository gets its password: what to check when it is wrong (never CAIRN_PASSWORD, which sets do not use). */
function passwordHint(repo: EffectiveRepository): string {
  const [key, from] =
    repo.passwordFile !== undefined ? ['file', `the file "${repo.passwordFile}"`] : repo.passwordCommand !== undefined ? ['command', `the command "${repo.passwordCommand}"`] : ['env', `the variable ${repo.passwordEnv}`]
  return `The password of repository "${repo.name}" comes from ${from} (its password-${key} in the config file): check it`
}

function locationOf(loaded: LoadedConfig, name: string, env: NodeJS.ProcessEnv): string {
  try {
    return stripPassword(resolveRepository(loaded.config, name, loaded.dir, env).url)
  } catch {
    return ''
  }
}

/** The first destination that got a backup, for `copy` to the others. */
interface Primary {
  name: string
  snapshotId: string
  opts: RepositoryOptions
}

async function runDestinations(loaded: LoadedConfig, set: EffectiveSet, o: RunSetOptions, result: SetRunResult, emit: (e: RunEvent) => void): Promise<void> {
  const env = o.env ?? process.env
  let primary: Primary | undefined
  for (const name of set.destinations) {
    if (o.signal?.aborted) return
    const repo = resolveRepository(loaded.config, name, loaded.dir, env)
    const skeleton: DestinationResult = { destination: name, location: stripPassword(repo.url), status: 'skipped', errors: [], durationMs: 0 }
    let dr: DestinationResult
    if (o.destinations !== undefined && !o.destinations.includes(name)) {
      dr = { ...skeleton, skip: 'excluded', reason: 'not asked for in this run' }
    } else if (set.mode === 'first-available' && primary !== undefined) {
      dr = { ...skeleton, skip: 'not-needed', reason: `not needed: the backup went to "${primary.name}"` }
    } else {
      dr = await runDestination(set, repo, skeleton, set.mode === 'all' && set.copy ? primary : undefined, o, emit)
      if (dr.status === 'ok' && primary === undefined && dr.via === 'backup' && dr.snapshotId) {
        primary = { name, snapshotId: dr.snapshotId, opts: { ...repositoryOptionsFor(repo, o.shared, env), signal: o.signal } }
      }
    }
    result.destinations.push(dr)
    emit({ type: 'destination-end', set: set.name, result: dr })
  }
}

async function runDestination(
  set: EffectiveSet,
  repo: EffectiveRepository,
  dr: DestinationResult,
  copyFrom: Primary | undefined,
  o: RunSetOptions,
  emit: (e: RunEvent) => void,
): Promise<DestinationResult> {
  const started = Date.now()
  const env = o.env ?? process.env
  const done = (d: Partial<DestinationResult>): DestinationResult => ({ ...dr, ...d, durationMs: Date.now() - started })
  const fail = (reason: string, extra: Partial<DestinationResult> = {}) => done({ status: 'failed', reason, errors: [...dr.errors, reason], ...extra })
  const absent = (reason: string) => done({ status: 'skipped', skip: 'absent', reason })
  let opts: RepositoryOptions
  try {
    opts = { ...repositoryOptionsFor(repo, o.shared, env), signal: o.signal }
    const availability = await probeDestination(repo, o.init)
    if (availability.kind === 'absent') return absent(availability.reason)
    if (availability.kind === 'missing') return fail(`${availability.reason}; ${availability.hint}`)
    if (availability.kind === 'low-space') return fail(availability.reason, { lowSpace: true })
  } catch (err) {
    return fail(messageOf(err))
  }
  const action = copyFrom ? 'copy' : 'backup'
  const attempt = () => (copyFrom ? copyTo(copyFrom, opts, o) : backupTo(set, dr.destination, opts, o, emit))
  let got: Partial<DestinationResult>
  try {
    emit({ type: 'destination-start', set: set.name, destination: dr.destination, action })
    try {
      got = await attempt()
    } catch (err) {
      if (!isAppError(err, 'NO_REPOSITORY') || !o.init || o.signal?.aborted) throw err
      emit({ type: 'destination-start', set: set.name, destination: dr.destination, action: 'init' })
      await (await initRepository(opts)).close()
      got = await attempt()
    }
  } catch (err) {
    if (o.signal?.aborted) return fail('interrupted: no snapshot was written')
    if (repo.removable && isAppError(err, 'NO_REPOSITORY')) return absent(`drive not present (no repository at "${dr.location}")`)
    if (repo.removable && isAppError(err, 'NETWORK')) return absent(`not reachable: ${messageOf(err)}`)
    const hint = isAppError(err, 'WRONG_PASSWORD') ? ` (${passwordHint(repo)})` : err instanceof AppError && err.hint ? ` (${err.hint})` : ''
    return fail(`${action} failed: ${messageOf(err)}${hint}`)
  }
  const ok = done({ status: 'ok', ...got })
  if (o.signal?.aborted) return ok
  const maintenance = await maintainDestination(set, opts, set.retention[dr.destination], {
    ...(o.prune === undefined ? {} : { prune: o.prune }),
    ...(o.check === undefined ? {} : { check: o.check }),
    ...(o.signal ? { signal: o.signal } : {}),
    onAction: (a) => emit({ type: 'destination-start', set: set.name, destination: dr.destination, action: a }),
  })
  return done({
    ...ok,
    ...(maintenance.forget ? { forget: maintenance.forget } : {}),
    ...(maintenance.check ? { check: maintenance.check } : {}),
    errors: [...ok.errors, ...maintenance.errors],
  })
}

async function backupTo(set: EffectiveSet, destination: string, opts: RepositoryOptions, o: RunSetOptions, emit: (e: RunEvent) => void): Promise<Partial<DestinationResult>> {
  let files = 0
  let bytes = 0
  let errors = 0
  const messages: string[] = []
  const timer = setInterval(() => emit({ type: 'progress', set: set.name, destination, files, bytes, errors }), o.progressIntervalMs ?? 500)
  timer.unref()
  const request: BackupRequest = {
    paths: set.sources,
    exclude: set.exclude,
    iexclude: set.iexclude,
    excludeFile: set.excludeFile,
    excludeCaches: set.excludeCaches,
    excludeIfPresent: set.excludeIfPresent,
    ...(set.excludeLargerThan === undefined ? {} : { excludeLargerThan: set.excludeLargerThan }),
    ...(set.ignoreFiles.length > 0 ? { ignoreFiles: set.ignoreFiles } : {}),
    oneFileSystem: set.oneFileSystem,
    tags: [...set.tags, setTag(set.name)],
    host: set.host,
    ...(o.signal ? { signal: o.signal } : {}),
    progress: {
      onItem: (_p, kind) => {
        if (kind === 'file') files++
      },
      onBytes: (n) => {
        bytes += n
      },
      onWarning: (p, m) => emit({ type: 'warning', set: set.name, destination, message: `${p}: ${m}` }),
      onError: (p, err) => {
        if (o.signal?.aborted) return // files cut short by the interruption are not read errors
        errors++
        if (messages.length < 5) messages.push(`cannot read "${p}": ${err.message}`)
        emit({ type: 'warning', set: set.name, destination, message: `error: ${p}: ${err.message}` })
      },
    },
  }
  try {
    const r = await withRepository(forWriting(opts), 'shared', (repo) => runBackup(repo, request))
    const s = r.summary
    if (s.errors > messages.length) messages.push(`and ${s.errors - messages.length} more unreadable files`)
    return {
      via: 'backup',
      ...(r.snapshotId ? { snapshotId: r.snapshotId } : {}),
      files: s.totalFilesProcessed,
      bytes: s.totalBytesProcessed,
      dataAdded: s.dataAdded,
      fileErrors: s.errors,
      errors: s.errors > 0 ? messages : [],
    }
  } finally {
    clearInterval(timer)
  }
}

async function copyTo(from: Primary, opts: RepositoryOptions, o: RunSetOptions): Promise<Partial<DestinationResult>> {
  const r = await withRepository(from.opts, 'shared', (src) =>
    withRepository(forWriting(opts), 'shared', (dst) => copySnapshots(src, dst, { snapshots: [from.snapshotId], ...(o.signal ? { signal: o.signal } : {}) })),
  )
  const id = r.copied[0]?.id ?? r.skipped[0]?.copyId
  return { via: 'copy', copiedFrom: from.name, ...(id ? { snapshotId: id } : {}), bytes: r.bytes, errors: [] }
}
