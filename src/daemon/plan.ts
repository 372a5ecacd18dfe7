/**
 * The daemon's view of the configuration: which jobs exist, when they run, which repositories
 * they touch, which destinations come and go, and who is told. Built from the config file by
 * planFromConfig (plan-from-config.ts), or written directly by tests.
 */
import type { NotificationTarget, Schedule } from '../config/index.js'

/** A repository a set backs up to, as far as the daemon cares. */
export interface DestinationPlan {
  /** The repository's name in the config. */
  name: string
  /** Where it is, password stripped: safe for messages and the API. */
  location: string
  /** A drive that comes and goes: watched, and its absence is a skip rather than a failure. */
  removable: boolean
  /**
   * A local directory whose existence means the destination is present (the repository path of
   * a local repository). Only local destinations have one; they alone are watched and measured.
   */
  path?: string
  /** Warn (`low-space` event) when the file system holding `path` has less free space than this. */
  lowSpaceBytes?: number
}

/** A backup set the daemon runs. */
export interface SetPlan {
  name: string
  /** Undefined: the set runs only when triggered (API, or a drive appearing while it is pending). */
  schedule?: Schedule
  /** Repository names in priority order. */
  destinations: string[]
  /** `first-available`: one destination is enough; `all`: every destination should get a backup. */
  mode: 'first-available' | 'all'
  /** Who is told about this set's runs (besides the plan's global targets). */
  notify: NotificationTarget[]
}

/** A scheduled prune or check of one repository. */
export interface MaintenancePlan {
  /** Unique among jobs, e.g. "prune nas" or "check data/usb". */
  id: string
  kind: 'prune' | 'check'
  repository: string
  /** The set whose retention a prune applies. */
  set?: string
  schedule: Schedule
  options?: Record<string, unknown>
}

/** Everything the daemon runs and tells. */
export interface DaemonPlan {
  sets: SetPlan[]
  destinations: DestinationPlan[]
  maintenance: MaintenancePlan[]
  /** Targets told about every set (each may narrow itself with `sets:`). */
  notifications: NotificationTarget[]
  /** The config file's folder: notification commands run there, as hooks do. */
  dir?: string
}

/** A job: a set's backup or a maintenance task. `key` is unique ("set:data", "task:prune nas"). */
export type Job =
  | { kind: 'backup'; key: string; name: string; set: SetPlan; schedule?: Schedule }
  | { kind: 'prune' | 'check'; key: string; name: string; task: MaintenancePlan; schedule: Schedule }

/** Every job of a plan, sets first. */
export function jobsOf(plan: DaemonPlan): Job[] {
  const jobs: Job[] = plan.sets.map((set) => ({ kind: 'backup', key: `set:${set.name}`, name: set.name, set, schedule: set.schedule }))
  for (const task of plan.maintenance) jobs.push({ kind: task.kind, key: `task:${task.id}`, name: task.id, task, schedule: task.schedule })
  return jobs
}
