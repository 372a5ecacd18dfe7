/**
 * The daemon put together: scheduler, runner, media watcher, stale watch, run history,
 * notifier, and the HTTP API with metrics. `Daemon.start()` opens the history in the state
 * directory, restores what is pending, makes up missed runs once, and listens; `stop()` refuses
 * new runs, cancels the running ones, waits for them (their finally hooks run) and closes.
 */
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { Server } from 'node:http'
import { AppError, systemClock, type CancelTimer, type Clock } from '../base/index.js'
import { closeApi, createApiHandler, isLoopback, listenApi, type DaemonApi, type ListenAddress } from './api-server.js'
import { runJson, type ActiveJson, type DestinationJson, type StatusJson } from './api-types.js'
import { directorySize, freeSpace } from './disk-space.js'
import { EventBus, type DaemonEvent } from './event-bus.js'
import { DEFAULT_HISTORY_RETENTION, RunHistory, type HistoryRetention, type RunRecord } from './history.js'
import { MediaWatcher } from './media-watcher.js'
import { RunCounters, renderMetrics } from './metrics.js'
import { describeRun } from './notify/event.js'
import { Notifier } from './notify/notifier.js'
import { jobsOf, type DaemonPlan, type Job } from './plan.js'
import type { DestinationOutcome, MaintenanceFn, RunSetFn } from './run-contract.js'
import { Runner, type ActiveRun, type RequestAnswer } from './runner.js'
import { Scheduler } from './scheduler.js'
import { StaleWatch } from './stale-watch.js'
import { ensureStateDirectory, readOrCreateToken, removeDaemonInfo, runningDaemon, STATE_FILES, writeDaemonInfo } from './state-dir.js'

/** Options of {@link Daemon.start}. */
export interface DaemonOptions {
  plan: DaemonPlan
  runSet: RunSetFn
  runMaintenance?: MaintenanceFn
  /** Holds history.sqlite, api-token and daemon.json. */
  stateDir: string
  clock?: Clock
  /** Where the API listens (default 127.0.0.1:7439); false: no API. */
  listen?: ListenAddress | false
  /** This machine's name in messages (default: os.hostname()). */
  host?: string
  version?: string
  /** The daemon's log lines (the CLI prints them to stderr). */
  log?(level: 'info' | 'warn', message: string): void
  /** How often removable destinations are looked at (default 3 s). */
  mediaPollMs?: number
  /** Longest wait between two looks at the clock (default 60 s). */
  maxWaitMs?: number
  historyRetention?: HistoryRetention
  /** How often the stale check runs (default 1 h). */
  staleCheckMs?: number
  /** Default timeout of a notification (10 s). */
  notifyTimeoutMs?: number
  /** Free space at a local path (default: statfs). */
  freeSpace?(path: string): Promise<number | undefined>
  /** Interval of the event stream's keep-alive comments (default 15 s). */
  heartbeatMs?: number
  fetch?: typeof fetch
}

/** The default API address. */
export const DEFAULT_LISTEN: ListenAddress = { host: '127.0.0.1', port: 7439 }

const HISTORY_PRUNE_MS = 6 * 3_600_000

/** See the module comment. */
export class Daemon {
  readonly plan: DaemonPlan
  readonly history: RunHistory
  readonly bus = new EventBus()
  readonly runner: Runner
  readonly scheduler: Scheduler
  readonly media: MediaWatcher
  readonly stale: StaleWatch
  readonly host: string
  readonly startedAt: number
  /** The API's base URL, when it listens. */
  url: string | undefined
  readonly #o: DaemonOptions
  readonly #clock: Clock
  readonly #jobs: Job[]
  readonly #notifier: Notifier
  readonly #counters = new RunCounters()
  readonly #repoSize = new Map<string, number>()
  readonly #free = new Map<string, number>()
  #server: Server | undefined
  #pruneTimer: CancelTimer | undefined
  #stopped: Promise<void> | undefined

  private constructor(o: DaemonOptions) {
    this.#o = o
    this.plan = o.plan
    this.#clock = o.clock ?? systemClock
    this.host = o.host ?? hostname()
    this.startedAt = this.#clock.now()
    const log = o.log ?? (() => {})
    ensureStateDirectory(o.stateDir)
    this.history = RunHistory.open(join(o.stateDir, STATE_FILES.history), this.startedAt)
    this.#jobs = jobsOf(o.plan)
    const perSet = new Map(o.plan.sets.map((s) => [s.name, s.notify]))
    const notifier = (this.#notifier = new Notifier({
      global: o.plan.notifications,
      perSet,
      ...(o.plan.dir === undefined ? {} : { cwd: o.plan.dir }),
      ...(o.notifyTimeoutMs === undefined ? {} : { timeoutMs: o.notifyTimeoutMs }),
      ...(o.fetch === undefined ? {} : { fetch: o.fetch }),
      onError: (target, err) => log('warn', `Notification failed: ${err.message}`),
    }))
    const watched = o.plan.destinations.filter((d) => d.removable && d.path !== undefined).map((d) => ({ name: d.name, path: d.path as string }))
    this.media = new MediaWatcher({
      clock: this.#clock,
      destinations: watched,
      ...(o.mediaPollMs === undefined ? {} : { intervalMs: o.mediaPollMs }),
      onChange: (name, present) => this.runner.mediaChanged(name, present),
    })
    this.runner = new Runner({
      plan: o.plan,
      jobs: this.#jobs,
      clock: this.#clock,
      history: this.history,
      bus: this.bus,
      notifier,
      runSet: o.runSet,
      ...(o.runMaintenance === undefined ? {} : { runMaintenance: o.runMaintenance }),
      presence: this.media,
      host: this.host,
      log,
      freeSpace: o.freeSpace ?? freeSpace,
      onFinished: (run, outcomes) => this.#measure(run, outcomes),
    })
    this.scheduler = new Scheduler({
      clock: this.#clock,
      jobs: this.#jobs.filter((j) => j.schedule !== undefined).map((j) => ({ key: j.key, schedule: j.schedule as NonNullable<Job['schedule']> })),
      lastRun: (key) => {
        const job = this.#jobs.find((j) => j.key === key)
        return job ? this.history.lastRun(job.name)?.startedAt : undefined
      },
      onDue: (key, info) => {
        this.runner.request(key, info.catchUp ? 'catch-up' : 'schedule')
      },
      ...(o.maxWaitMs === undefined ? {} : { maxWaitMs: o.maxWaitMs }),
    })
    this.stale = new StaleWatch({
      clock: this.#clock,
      history: this.history,
      notifier,
      sets: o.plan.sets,
      destinations: o.plan.destinations,
      host: this.host,
      log,
      ...(o.staleCheckMs === undefined ? {} : { intervalMs: o.staleCheckMs }),
    })
  }

  /** Starts a daemon; see the module comment. */
  static async start(options: DaemonOptions): Promise<Daemon> {
    // A second daemon on one state directory would take the first one's running runs for
    // interrupted ones, and notify their failure while they go on.
    const other = runningDaemon(options.stateDir)
    if (other !== undefined) {
      throw new AppError('LOCKED', `A cairn daemon already runs for the state directory "${options.stateDir}" (process ${other.pid}, ${other.url})`, {
        hint: 'Stop it first, or give this one another --state-dir',
      })
    }
    const d = new Daemon(options)
    try {
      await d.#start()
    } catch (err) {
      d.history.close()
      throw err
    }
    return d
  }

  async #start(): Promise<void> {
    const o = this.#o
    const log = o.log ?? (() => {})
    const pruned = this.history.prune(this.startedAt, o.historyRetention ?? DEFAULT_HISTORY_RETENTION)
    if (pruned > 0) log('info', `Removed ${pruned} old runs from the history`)
    if (o.listen !== false) {
      const address = o.listen ?? DEFAULT_LISTEN
      if (!isLoopback(address.host)) log('warn', `The API listens on ${address.host}, reachable from other machines; only the token protects it`)
      const token = readOrCreateToken(o.stateDir)
      const { server, url } = await listenApi(createApiHandler(this.#api(), token, o.heartbeatMs), address)
      this.#server = server
      this.url = url
      writeDaemonInfo(o.stateDir, { url, pid: process.pid, startedAt: new Date(this.startedAt).toISOString(), version: o.version ?? '' })
      log('info', `API listening on ${url}`)
    }
    await this.media.start()
    for (const d of this.plan.destinations) if (d.path) void this.#measureDestination(d.name, d.path)
    this.scheduler.start()
    // A removable destination that is connected now and owed a backup gets it, as if it had just appeared.
    for (const d of this.plan.destinations) if (this.media.present(d.name) === true) this.runner.mediaChanged(d.name, true, true)
    this.stale.start()
    void this.#notifyInterrupted()
    const pruneLoop = () => {
      this.history.prune(this.#clock.now(), o.historyRetention ?? DEFAULT_HISTORY_RETENTION)
      this.#pruneTimer = this.#clock.setTimer(HISTORY_PRUNE_MS, pruneLoop)
    }
    this.#pruneTimer = this.#clock.setTimer(HISTORY_PRUNE_MS, pruneLoop)
    log('info', `Daemon started with ${this.plan.sets.length} sets and ${this.plan.maintenance.length} maintenance tasks`)
  }

  /**
   * The runs a daemon that died (killed, out of memory, a power cut) left unfinished are failures
   * in the history; their failure notifications go out now, as the run's own would have.
   */
  async #notifyInterrupted(): Promise<void> {
    try {
      await this.#notifyEach(this.history.interrupted)
    } catch (err) {
      // the daemon stopped meanwhile (the history is closed)
      this.#o.log?.('warn', `Could not notify of the runs the last daemon left unfinished: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  async #notifyEach(ids: readonly number[]): Promise<void> {
    for (const id of ids) {
      const run = this.history.get(id)
      if (run === undefined) continue
      const job = this.#jobs.find((j) => j.kind === run.kind && j.name === run.job)
      const set = job === undefined ? undefined : job.kind === 'backup' ? job.name : job.task.set
      const deliveries = await this.#notifier.notify(describeRun(run, this.host, this.plan.destinations, set))
      for (const d of deliveries) if (!d.ok) this.history.appendLog(id, `notification to ${d.target} failed: ${d.error}`)
    }
  }

  /** Stops: no new runs, active runs cancelled and awaited, API closed, history closed. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.scheduler.stop()
      this.media.stop()
      this.stale.stop()
      this.#pruneTimer?.()
      await this.runner.stop()
      if (this.#server) await closeApi(this.#server)
      removeDaemonInfo(this.#o.stateDir)
      this.history.close()
    })()
    return this.#stopped
  }

  /** Starts a set now; undefined for an unknown set. */
  trigger(set: string, destinations?: string[]): RequestAnswer | undefined {
    const plan = this.plan.sets.find((s) => s.name === set)
    if (!plan) return undefined
    const unknown = (destinations ?? []).filter((d) => !plan.destinations.includes(d))
    if (unknown.length > 0) {
      throw new AppError('INVALID_ARGUMENT', `Set "${set}" has no destination ${unknown.map((d) => `"${d}"`).join(', ')}`, {
        hint: `Its destinations: ${plan.destinations.join(', ')}`,
      })
    }
    return this.runner.request(`set:${set}`, 'manual', destinations)
  }

  /** The status the API serves. */
  async status(): Promise<StatusJson> {
    const now = this.#clock.now()
    const active = (key: string): ActiveJson | null => {
      const a: ActiveRun | undefined = this.runner.activeOf(key)
      if (!a) return null
      return {
        runId: a.runId ?? null,
        state: a.state,
        trigger: a.trigger,
        startedAt: a.startedAt === undefined ? null : new Date(a.startedAt).toISOString(),
        progress: a.progress ?? null,
      }
    }
    const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString())
    const destinations: DestinationJson[] = this.plan.destinations.map((d) => ({
      name: d.name,
      location: d.location,
      removable: d.removable,
      present: this.media.present(d.name) ?? null,
      freeBytes: this.#free.get(d.name) ?? null,
      repositorySize: this.#repoSize.get(d.name) ?? null,
    }))
    return {
      version: this.#o.version ?? '',
      host: this.host,
      pid: process.pid,
      startedAt: new Date(this.startedAt).toISOString(),
      now: new Date(now).toISOString(),
      sets: this.plan.sets.map((s) => {
        const last = this.history.lastRun(s.name)
        const pending = this.runner.pending.of(s.name)
        return {
          name: s.name,
          schedule: s.schedule?.text ?? null,
          nextRun: iso(this.scheduler.nextRun(`set:${s.name}`)),
          mode: s.mode,
          active: active(`set:${s.name}`),
          lastRun: last ? runJson(last) : null,
          lastSuccess: iso(this.history.lastSuccess(s.name)?.startedAt),
          destinations: s.destinations.map((name) => {
            const d = destinations.find((x) => x.name === name) ?? { name, location: name, removable: false, present: null, freeBytes: null, repositorySize: null }
            return { ...d, pending: pending.has(name) }
          }),
        }
      }),
      tasks: this.plan.maintenance.map((t) => {
        const last = this.history.lastRun(t.id)
        return {
          id: t.id,
          kind: t.kind,
          repository: t.repository,
          schedule: t.schedule.text,
          nextRun: iso(this.scheduler.nextRun(`task:${t.id}`)),
          active: active(`task:${t.id}`),
          lastRun: last ? runJson(last) : null,
        }
      }),
      destinations,
    }
  }

  #api(): DaemonApi {
    return {
      status: () => this.status(),
      runs: (q) => this.history.list(q).map(runJson),
      run: (id) => {
        const r = this.history.get(id)
        return r ? runJson(r) : undefined
      },
      runLog: (id) => this.history.log(id),
      trigger: (kind, name, destinations) => {
        if (kind === 'set') return this.trigger(name, destinations)
        if (!this.plan.maintenance.some((t) => t.id === name)) return undefined
        return this.runner.request(`task:${name}`, 'manual')
      },
      cancel: (id) => {
        if (this.runner.cancel(id)) return 'cancelled'
        return this.history.get(id) ? 'not-active' : 'unknown'
      },
      cancelJob: (kind, name) => {
        if (kind === 'set' ? !this.plan.sets.some((s) => s.name === name) : !this.plan.maintenance.some((t) => t.id === name)) return undefined
        return this.runner.cancel(`${kind}:${name}`) ? 'cancelled' : 'not-active'
      },
      metrics: async () => renderMetrics(await this.status(), this.#counters),
      subscribe: (listener: (e: DaemonEvent) => void) => this.bus.subscribe(listener),
    }
  }

  #measure(run: RunRecord, outcomes: readonly DestinationOutcome[]): void {
    this.#counters.add(run.job, run.kind, run.result)
    for (const o of outcomes) {
      if (o.repositorySize !== undefined) this.#repoSize.set(o.name, o.repositorySize)
      const d = this.plan.destinations.find((x) => x.name === o.name)
      if (d?.path && o.status !== 'missing' && o.repositorySize === undefined) void this.#measureDestination(d.name, d.path)
    }
  }

  async #measureDestination(name: string, path: string): Promise<void> {
    const free = await (this.#o.freeSpace ?? freeSpace)(path)
    if (free !== undefined) this.#free.set(name, free)
    const size = await directorySize(path)
    if (size !== undefined) this.#repoSize.set(name, size)
  }
}
