/**
 * What a backup set does at a destination after its snapshot is there: forget by the
 * destination's retention policy (only the set's own snapshots: those tagged with the set's
 * tag, from the set's host), prune as the set says, and check when asked.
 */
import { messageOf } from '../base/index.js'
import { SET_TAG_PREFIX, type EffectiveSet, type RetentionPolicyConfig } from '../config/index.js'
import { runCheck } from './check.js'
import { retentionPolicyFromFlags, runForget, type RetentionFlags } from './forget.js'
import { runPrune, type PruneRequest } from './prune.js'
import { forWriting, withRepository, type RepositoryOptions } from './session.js'

export { SET_TAG_PREFIX }

/** The tag of set `name`. @example setTag('data') // 'cairn-set:data' */
export function setTag(name: string): string {
  return `${SET_TAG_PREFIX}${name}`
}

/** A config policy as `--keep-*` flags. */
export function retentionFlags(p: RetentionPolicyConfig): RetentionFlags {
  const s = (v: number | string | undefined) => (v === undefined ? undefined : String(v))
  const flags: RetentionFlags = {
    keepLast: s(p['keep-last']),
    keepHourly: s(p['keep-hourly']),
    keepDaily: s(p['keep-daily']),
    keepWeekly: s(p['keep-weekly']),
    keepMonthly: s(p['keep-monthly']),
    keepYearly: s(p['keep-yearly']),
    keepWithin: p['keep-within'],
    keepWithinHourly: p['keep-within-hourly'],
    keepWithinDaily: p['keep-within-daily'],
    keepWithinWeekly: p['keep-within-weekly'],
    keepWithinMonthly: p['keep-within-monthly'],
    keepWithinYearly: p['keep-within-yearly'],
    keepTag: p['keep-tag'],
  }
  for (const k of Object.keys(flags) as Array<keyof RetentionFlags>) if (flags[k] === undefined) delete flags[k]
  return flags
}

/** The prune request of a set's `prune:` settings. */
export function pruneRequestOf(set: EffectiveSet, signal?: AbortSignal): PruneRequest {
  return {
    maxUnused: set.prune.maxUnused,
    ...(set.prune.maxRepackSize === undefined ? {} : { maxRepackSize: set.prune.maxRepackSize }),
    repackUncompressed: set.prune.repackUncompressed,
    repackSmall: set.prune.repackSmall,
    ...(signal ? { signal } : {}),
  }
}

export interface MaintenanceOptions {
  /** true: always prune; false: never; undefined: as the set's `prune.when` says. */
  prune?: boolean
  /** true: always check; false: never; undefined: as the set's `check.after-backup` says. */
  check?: boolean
  signal?: AbortSignal
  onAction?: (action: 'forget' | 'prune' | 'check') => void
}

export interface MaintenanceOutcome {
  forget?: { policy: string; removed: number; pruned: boolean }
  check?: { ok: boolean; errors: number }
  errors: string[]
}

/**
 * Forget, prune and check at one destination; each step's failure is recorded and the next
 * still runs (a failed forget does not stop a check).
 */
export async function maintainDestination(
  set: EffectiveSet,
  opts: RepositoryOptions,
  policy: RetentionPolicyConfig | undefined,
  o: MaintenanceOptions,
): Promise<MaintenanceOutcome> {
  const out: MaintenanceOutcome = { errors: [] }
  const prune = o.prune ?? set.prune.when === 'after-forget'
  let pruned = false
  if (policy !== undefined) {
    o.onAction?.('forget')
    try {
      const r = await withRepository(forWriting(opts), 'exclusive', (repo) =>
        runForget(repo, {
          policy: retentionPolicyFromFlags(retentionFlags(policy)),
          filter: { hosts: [set.host], tags: [setTag(set.name)] },
          ...(prune ? { prune: pruneRequestOf(set, o.signal) } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        }),
      )
      pruned = r.prune !== undefined
      out.forget = { policy: r.policyText, removed: r.removed.length, pruned }
    } catch (err) {
      out.errors.push(`forget failed: ${messageOf(err)}`)
    }
  }
  if (o.prune === true && !pruned && !o.signal?.aborted) {
    o.onAction?.('prune')
    try {
      await withRepository(forWriting(opts), 'exclusive', (repo) => runPrune(repo, pruneRequestOf(set, o.signal)))
      if (out.forget) out.forget.pruned = true
    } catch (err) {
      out.errors.push(`prune failed: ${messageOf(err)}`)
    }
  }
  if ((o.check ?? set.check.afterBackup) && !o.signal?.aborted) {
    o.onAction?.('check')
    try {
      const report = await runCheck(opts, {
        ...(set.check.readData ? { readData: true } : {}),
        ...(set.check.readDataSubset === undefined ? {} : { readDataSubset: set.check.readDataSubset }),
        ...(o.signal ? { signal: o.signal } : {}),
      })
      out.check = { ok: report.errors.length === 0, errors: report.errors.length }
      if (report.errors.length > 0) out.errors.push(`check found ${report.errors.length} problem${report.errors.length === 1 ? '' : 's'}: ${report.errors[0].message}`)
    } catch (err) {
      out.errors.push(`check failed: ${messageOf(err)}`)
    }
  }
  return out
}
