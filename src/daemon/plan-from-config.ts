/**
 * The daemon's plan from a loaded config file: each set with its schedule, destinations, mode
 * and `notify:` targets; each repository a set uses, with its location, whether it is
 * removable, its local path and its `min-free` (the low-space threshold); a prune task per set
 * and destination when `prune.when` is a schedule, and a check task when `check.schedule` is
 * set; the global `notifications:`. Secret file paths in targets are resolved against the
 * config file's directory.
 */
import { AppError } from '../base/index.js'
import {
  parseSchedule,
  resolveBackupSet,
  resolveConfigPath,
  resolveRepository,
  scheduleFromSpec,
  setNames,
  type LoadedConfig,
  type NotificationTarget,
} from '../config/index.js'
import { describeBackupSet, localPath } from '../app/sets.js'
import type { DaemonPlan, DestinationPlan, MaintenancePlan, SetPlan } from './plan.js'

/** See the module comment. Throws AppError CONFIG for a bad `prune.when` schedule. */
export function planFromConfig(loaded: LoadedConfig, env: NodeJS.ProcessEnv = process.env): DaemonPlan {
  const config = loaded.config
  const destinations = new Map<string, DestinationPlan>()
  const sets: SetPlan[] = []
  const maintenance: MaintenancePlan[] = []
  const paths = (t: NotificationTarget): NotificationTarget => {
    const out = { ...t } as Record<string, unknown>
    for (const key of ['token-file', 'password-file']) {
      if (typeof out[key] === 'string') out[key] = resolveConfigPath(out[key] as string, loaded.dir, env)
    }
    return out as NotificationTarget
  }

  for (const name of setNames(config)) {
    const { set } = resolveBackupSet(config, name, loaded.dir, env)
    const described = describeBackupSet(loaded, name, env)
    for (const d of described.destinations) {
      if (destinations.has(d.name)) continue
      const repo = resolveRepository(config, d.name, loaded.dir, env)
      const path = localPath(repo.url)
      destinations.set(d.name, {
        name: d.name,
        location: d.location,
        removable: repo.removable,
        ...(path === undefined ? {} : { path }),
        ...(repo.minFree === undefined ? {} : { lowSpaceBytes: repo.minFree }),
      })
    }
    sets.push({
      name,
      ...(set.schedule === undefined ? {} : { schedule: scheduleFromSpec(set.schedule) }),
      destinations: set.destinations,
      mode: set.mode,
      notify: set.notify.map(paths),
    })
    const when = set.prune.when.trim()
    if (when !== 'after-forget' && when !== 'never') {
      let schedule
      try {
        schedule = parseSchedule(when)
      } catch (err) {
        const e = err as AppError
        throw new AppError('CONFIG', `Set "${name}": prune.when: ${e.message}`, { ...(e.hint ? { hint: `Use "after-forget", "never" or a schedule. ${e.hint}` } : {}) })
      }
      for (const d of set.destinations) maintenance.push({ id: `prune ${name}/${d}`, kind: 'prune', repository: d, set: name, schedule })
    }
    if (set.check.schedule !== undefined) {
      const schedule = scheduleFromSpec(set.check.schedule)
      for (const d of set.destinations) maintenance.push({ id: `check ${name}/${d}`, kind: 'check', repository: d, set: name, schedule })
    }
  }
  return { sets, destinations: [...destinations.values()], maintenance, notifications: (config.notifications ?? []).map(paths), dir: loaded.dir }
}
