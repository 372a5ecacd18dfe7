/**
 * Runs jobs: never two runs of one job at once, and one job at a time per repository (a prune
 * or check never meets a backup, nor a backup another set's forget and prune), each run
 * recorded in the history, streamed on the event bus, and reported to the notification targets. A removable destination that is absent when a run
 * starts makes the run a recorded, notified skip, and the destination pending (pending.ts).
 */
import { AppError, messageOf, type Clock } from '../base/index.js'
import { EventBus } from './event-bus.js'
import type { RunHistory, RunRecord } from './history.js'
import { describeLowSpace, describeRun, eventForResult } from './notify/event.js'
import { formatBytes } from './notify/format.js'
import type { Notifier } from './notify/notifier.js'
import { PendingDestinations, owesBackup } from './pending.js'
import { type DaemonPlan, type DestinationPlan, type Job } from './plan.js'
import type {
  DestinationOutcome,
  MaintenanceFn,
  RunProgress,
  RunSetFn,
  RunSetResult,
  RunTrigger,
} from './run-contract.js'
import { RepositoryLocks } from './rw-lock.js'

/** Where the runner learns whether removable destinations are present. */
export interface Presence {
  /** Last known state; undefined for a destination that is not watched. */
  present(name: string): boolean | undefined
  /** Looks now. */
  check(name: string): Promise<boolean | undefined>
}

/** Options of {@link Runner}. */
export interface RunnerOptions {
  plan: DaemonPlan
  jobs: readonly Job[]
  clock: Clock
  history: RunHistory
  bus: EventBus
  notifier: Notifier
  runSet: RunSetFn
  runMaintenance?: MaintenanceFn
  presence: Presence
  /** This machine's name, for messages. */
  host: string
  /** The daemon's own log. */
  log(level: 'info' | 'warn', message: string): void
  /** Free bytes at a local path (default: none known). */
  freeSpace?(path: string): Promise<number | undefined>
  /** Called after every run, for metrics. */
  onFinished?(run: RunRecord, outcomes: readonly DestinationOutcome[]): void
  /** Least time between two progress events of one run (default 250 ms). */
  progressIntervalMs?: number
}

/** A run that waits for its repositories or is running. */
export interface ActiveRun {
  job: Job
  state: 'waiting' | 'running'
  trigger: RunTrigger
  runId?: number
  startedAt?: number
  progress?: RunProgress
  controller: AbortController
  done: Promise<void>
}

/** The answer to a run request. */
export type RequestAnswer = { accepted: true } | { accepted: false; reason: string }

const LOW_SPACE_REPEAT_MS = 86_400_000

/** See the module comment. */
export class Runner {
  readonly #o: RunnerOptions
  readonly #locks = new RepositoryLocks()
  readonly #active = new Map<string, ActiveRun>()
  readonly #jobs = new Map<string, Job>()
  readonly #appearedAt = new Map<string, number>()
  readonly pending = new PendingDestinations()
  /** Maintenance tasks skipped because their repository's drive was absent. */
  readonly #pendingTasks = new Set<string>()
  #stopping = false

  constructor(options: RunnerOptions) {
    this.#o = options
    for (const j of options.jobs) this.#jobs.set(j.key, j)
    this.pending.restore(options.plan.sets, options.history)
  }

  /** The job with this key ("set:data", "task:prune nas"), or undefined. */
  job(key: string): Job | undefined {
    return this.#jobs.get(key)
  }

  /** Runs waiting or running now. */
  active(): ActiveRun[] {
    return [...this.#active.values()]
  }

  /** The active run of a job, if any. */
  activeOf(key: string): ActiveRun | undefined {
    return this.#active.get(key)
  }

  /**
   * Starts a run of a job unless one is already waiting or running (no overlap: the request is
   * refused with the reason). `destinations` narrows a backup to some of its destinations.
   */
  request(key: string, trigger: RunTrigger, destinations?: string[]): RequestAnswer {
    const job = this.#jobs.get(key)
    if (!job) return { accepted: false, reason: `no job "${key}"` }
    if (this.#stopping) return { accepted: false, reason: 'the daemon is stopping' }
    const busy = this.#active.get(key)
    if (busy) {
      const reason = `"${job.name}" is already ${busy.state === 'running' ? `running (run ${busy.runId})` : 'waiting for its repositories'}`
      this.#o.log('info', `Not starting ${job.kind} "${job.name}" (${trigger}): ${reason}`)
      return { accepted: false, reason }
    }
    const controller = new AbortController()
    const run: ActiveRun = { job, state: 'waiting', trigger, controller, done: Promise.resolve() }
    this.#active.set(key, run)
    run.done = this.#execute(run, destinations)
      .catch((err) => this.#o.log('warn', `Run of "${job.name}" ended with an internal error: ${messageOf(err)}`))
      .finally(() => {
        this.#active.delete(key)
        this.#afterRun(job, run)
      })
    return { accepted: true }
  }

  /** Cancels a waiting or running run by its id or job key; false when there is none. */
  cancel(target: number | string): boolean {
    const run = typeof target === 'number' ? [...this.#active.values()].find((r) => r.runId === target) : this.#active.get(target)
    if (!run) return false
    run.controller.abort(new AppError('INTERRUPTED', 'Cancelled on request'))
    return true
  }

  /**
   * A removable destination appeared or disappeared (`initial`: found connected when the daemon
   * started): sets that owe it a backup run now.
   */
  mediaChanged(name: string, present: boolean, initial = false): void {
    this.#o.bus.publish({ type: 'destination', name, present })
    if (!present) {
      this.#o.log('info', `Destination "${name}" was disconnected`)
      return
    }
    const now = this.#o.clock.now()
    this.#appearedAt.set(name, now)
    this.#o.log('info', initial ? `Destination "${name}" is connected` : `Destination "${name}" was connected`)
    for (const set of this.#o.plan.sets) {
      if (!owesBackup(set, name, this.pending, this.#o.history, now)) continue
      this.request(`set:${set.name}`, 'media', set.mode === 'all' ? [name] : undefined)
    }
    for (const task of this.#o.plan.maintenance) {
      if (task.repository === name && this.#pendingTasks.has(`task:${task.id}`)) this.request(`task:${task.id}`, 'media')
    }
  }

  /** Waits until no run is active (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#active.size > 0) await Promise.all([...this.#active.values()].map((r) => r.done))
  }

  /** Refuses new runs, cancels the active ones and waits for them to end (their finally hooks run). */
  async stop(): Promise<void> {
    this.#stopping = true
    for (const run of this.#active.values()) run.controller.abort(new AppError('INTERRUPTED', 'The daemon is stopping'))
    await this.idle()
  }

  async #execute(run: ActiveRun, only?: string[]): Promise<void> {
    const { job } = run
    const signal = run.controller.signal
    const dests = job.kind === 'backup' ? (only ?? job.set.destinations) : [job.task.repository]
    const absent: string[] = []
    for (const d of dests) if ((await this.#o.presence.check(d)) === false) absent.push(d)

    if (job.kind !== 'backup') {
      if (absent.length > 0) this.#pendingTasks.add(job.key)
      else this.#pendingTasks.delete(job.key)
    }
    if (dests.length > 0 && absent.length === dests.length) {
      const now = this.#o.clock.now()
      const outcomes = dests.map<DestinationOutcome>((name) => ({ name, status: 'missing', error: `${this.#describe(name)} is not connected` }))
      await this.#record(run, now, { result: 'skipped', destinations: outcomes, files: 0, bytes: 0, snapshotIds: [], errors: outcomes.map((o) => o.error as string) })
      return
    }

    let release: (() => void) | undefined
    try {
      const repos = dests.filter((d) => !absent.includes(d))
      // Exclusive for backups too: a set's run ends with forget and prune at each destination
      // (prune.when: after-forget), which must not meet another set's backup there.
      release = await this.#locks.acquire(repos, true, signal)
    } catch {
      this.#o.log('info', `${job.kind} "${job.name}" was cancelled while waiting for its repositories`)
      return
    }
    try {
      await this.#run(run, job.kind === 'backup' ? dests : [], absent, only)
    } finally {
      release()
    }
  }

  async #run(run: ActiveRun, dests: string[], absent: string[], only: string[] | undefined): Promise<void> {
    const { job } = run
    const o = this.#o
    const signal = run.controller.signal
    const startedAt = o.clock.now()
    const initial = dests.map<DestinationOutcome>((name) => ({ name, status: 'not-run' }))
    const runId = o.history.start({ job: job.name, kind: job.kind, trigger: run.trigger, destinations: initial, startedAt })
    run.runId = runId
    run.startedAt = startedAt
    run.state = 'running'
    const started = o.history.get(runId) as RunRecord
    o.bus.publish({ type: 'run-started', run: started })
    o.log('info', `Started ${job.kind} "${job.name}" (${run.trigger}), run ${runId}`)
    const set = job.kind === 'backup' ? job.set.name : job.task.set
    const startNotice = o.notifier.notify(describeRun(started, o.host, o.plan.destinations, set, true))

    let lastProgress = 0
    const onProgress = (p: RunProgress) => {
      run.progress = p
      const now = o.clock.now()
      if (now - lastProgress < (o.progressIntervalMs ?? 250)) return
      lastProgress = now
      o.bus.publish({ type: 'progress', runId, job: job.name, progress: p })
    }
    const onLog = (line: string) => {
      o.history.appendLog(runId, line)
      o.bus.publish({ type: 'log', runId, job: job.name, line })
    }

    let outcome: RunSetResult
    try {
      if (job.kind === 'backup') {
        outcome = await o.runSet({ set: job.set.name, ...(only ? { destinations: only } : {}), trigger: run.trigger, signal, onProgress, onLog })
      } else {
        if (!o.runMaintenance) throw new AppError('UNSUPPORTED', `No maintenance runner for ${job.kind} "${job.name}"`)
        const r = await o.runMaintenance({
          task: job.task.id,
          kind: job.task.kind,
          repository: job.task.repository,
          ...(job.task.set === undefined ? {} : { set: job.task.set }),
          ...(job.task.options === undefined ? {} : { options: job.task.options }),
          trigger: run.trigger,
          signal,
          onProgress,
          onLog,
        })
        outcome = {
          result: r.result,
          destinations: [{ name: job.task.repository, status: r.result === 'success' ? 'success' : r.result === 'skipped' ? 'missing' : 'failure', ...(r.repositorySize === undefined ? {} : { repositorySize: r.repositorySize }) }],
          files: 0,
          bytes: 0,
          snapshotIds: [],
          errors: r.errors,
        }
      }
    } catch (err) {
      const message = messageOf(err)
      outcome = { result: 'failure', destinations: initial, files: 0, bytes: 0, snapshotIds: [], errors: [message] }
    }
    if (signal.aborted && outcome.result !== 'success') {
      outcome = { ...outcome, result: 'cancelled', errors: [...outcome.errors, messageOf(signal.reason)] }
    }
    // Destinations found absent before the run are missing even if the run function did not say so.
    const seen = new Set(outcome.destinations.map((d) => d.name))
    const destinations = [
      ...outcome.destinations,
      ...absent.filter((n) => !seen.has(n)).map<DestinationOutcome>((name) => ({ name, status: 'missing', error: `${this.#describe(name)} is not connected` })),
    ]
    await this.#record(run, startedAt, { ...outcome, destinations }, runId, startNotice)
  }

  /** Records the end of a run (creating its row for a run skipped before it started), then tells. */
  async #record(run: ActiveRun, startedAt: number, outcome: RunSetResult, existingId?: number, startNotice?: Promise<unknown>): Promise<void> {
    const o = this.#o
    const { job } = run
    const runId = existingId ?? o.history.start({ job: job.name, kind: job.kind, trigger: run.trigger, destinations: outcome.destinations, startedAt })
    run.runId = runId
    const endedAt = o.clock.now()
    o.history.finish(runId, {
      endedAt,
      result: outcome.result,
      destinations: outcome.destinations,
      files: outcome.files,
      bytes: outcome.bytes,
      snapshotIds: outcome.snapshotIds,
      errors: outcome.errors,
    })
    for (const e of outcome.errors) o.history.appendLog(runId, `error: ${e}`)
    const record = o.history.get(runId) as RunRecord
    if (job.kind === 'backup') this.pending.record(job.set, outcome.destinations)
    o.bus.publish({ type: 'run-finished', run: record })
    const summary = `Finished ${job.kind} "${job.name}" (run ${runId}): ${outcome.result}${outcome.errors.length ? `: ${outcome.errors.join('; ')}` : ''}`
    o.log(outcome.result === 'success' || outcome.result === 'skipped' ? 'info' : 'warn', summary)
    o.onFinished?.(record, outcome.destinations)

    const set = job.kind === 'backup' ? job.set.name : job.task.set
    await startNotice
    // A cancelled run is news to no one but the targets told it started (healthchecks.io would
    // wait for its end and report a timeout): they get its end, as a failure.
    const to = eventForResult(outcome.result) !== undefined ? undefined : outcome.result === 'cancelled' ? o.notifier.targetsFor('start', set) : []
    if (to === undefined || to.length > 0) {
      const deliveries = await o.notifier.notify(describeRun(record, o.host, o.plan.destinations, set), to)
      for (const d of deliveries) if (!d.ok) o.history.appendLog(runId, `notification to ${d.target} failed: ${d.error}`)
    }
    await this.#checkSpace(outcome.destinations, set)
  }

  /** Warns (at most daily per destination) when a destination of the run is short of space. */
  async #checkSpace(outcomes: readonly DestinationOutcome[], set: string | undefined): Promise<void> {
    const o = this.#o
    if (!o.freeSpace) return
    for (const out of outcomes) {
      const dest = o.plan.destinations.find((d) => d.name === out.name)
      if (!dest?.path || dest.lowSpaceBytes === undefined || out.status === 'missing') continue
      const free = await o.freeSpace(dest.path)
      // When it was last sent is kept in the history, so a restarted daemon does not send it again.
      const key = `low-space-sent:${dest.name}`
      if (free === undefined || free >= dest.lowSpaceBytes) {
        if (o.history.getMeta(key) !== undefined) o.history.setMeta(key, '')
        continue
      }
      const now = o.clock.now()
      const last = Number(o.history.getMeta(key) || NaN)
      if (Number.isFinite(last) && now - last < LOW_SPACE_REPEAT_MS) continue
      o.history.setMeta(key, String(now))
      o.log('warn', `Destination "${dest.name}" has ${formatBytes(free)} free, less than ${formatBytes(dest.lowSpaceBytes)}`)
      await o.notifier.notify(describeLowSpace(dest, free, o.host, set))
    }
  }

  /** After a run: a pending destination that appeared while it ran gets its backup now. */
  #afterRun(job: Job, run: ActiveRun): void {
    if (job.kind !== 'backup' || this.#stopping || run.startedAt === undefined) return
    for (const name of this.pending.of(job.set.name)) {
      const appeared = this.#appearedAt.get(name)
      if (appeared !== undefined && appeared >= run.startedAt && this.#o.presence.present(name) === true) {
        this.request(job.key, 'media', job.set.mode === 'all' ? [name] : undefined)
        return
      }
    }
  }

  #describe(name: string): string {
    const d: DestinationPlan | undefined = this.#o.plan.destinations.find((x) => x.name === name)
    return d ? `${d.name} (${d.location})` : name
  }
}

