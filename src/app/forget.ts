import { AppError, messageOf, type Id } from '../base/index.js'
import type { ForgetGroup } from '../maintenance/index.js'
import type { Repository } from '../repository/index.js'
import { unreadableSnapshot } from './snapshot-selection.js'
import {
  describePolicy,
  findSnapshot,
  resolveSnapshotId,
  isEmptyPolicy,
  loadSnapshots,
  matchesFilter,
  parseGroupBy,
  parseRetentionDuration,
  type RetentionPolicy,
  type SnapshotFilter,
} from '../snapshots/index.js'
import { maintenance } from './lazy-layers.js'
import { resolvePruneOptions, runPrune, type PruneRequest, type PruneResult } from './prune.js'

/** The `--keep-*` flags as typed on the command line. */
export interface RetentionFlags {
  keepLast?: string
  keepHourly?: string
  keepDaily?: string
  keepWeekly?: string
  keepMonthly?: string
  keepYearly?: string
  keepWithin?: string
  keepWithinHourly?: string
  keepWithinDaily?: string
  keepWithinWeekly?: string
  keepWithinMonthly?: string
  keepWithinYearly?: string
  /** Each a comma-separated tag list; a snapshot with all tags of one list is kept. */
  keepTag?: string[]
}

function parseCount(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined
  const t = text.trim()
  if (t === 'unlimited') return -1
  if (!/^-?\d+$/.test(t) || Number(t) < -1) {
    throw new AppError('INVALID_ARGUMENT', `Invalid value "${text}" for ${flag}`, {
      hint: 'Give a number of snapshots, or "unlimited" (negative values other than -1 are not allowed)',
    })
  }
  return Number(t)
}

function parseDuration(text: string | undefined, flag: string): RetentionPolicy['within'] {
  if (text === undefined) return undefined
  const d = parseRetentionDuration(text)
  if (d.years < 0 || d.months < 0 || d.days < 0 || d.hours < 0) {
    throw new AppError('INVALID_ARGUMENT', `Invalid duration "${text}" for ${flag}: negative values are not allowed`, { hint: 'Give a duration such as 1y6m' })
  }
  return d
}

/**
 * Turns `--keep-*` flags into a policy. Counts accept "unlimited" (or -1); durations are
 * restic's "1y2m3d4h"; tag lists are split at commas with spaces trimmed.
 *
 * @example
 * retentionPolicyFromFlags({ keepDaily: '7', keepWithin: '1m', keepTag: ['important'] })
 */
export function retentionPolicyFromFlags(f: RetentionFlags): RetentionPolicy {
  const p: RetentionPolicy = {
    last: parseCount(f.keepLast, '--keep-last'),
    hourly: parseCount(f.keepHourly, '--keep-hourly'),
    daily: parseCount(f.keepDaily, '--keep-daily'),
    weekly: parseCount(f.keepWeekly, '--keep-weekly'),
    monthly: parseCount(f.keepMonthly, '--keep-monthly'),
    yearly: parseCount(f.keepYearly, '--keep-yearly'),
    within: parseDuration(f.keepWithin, '--keep-within'),
    withinHourly: parseDuration(f.keepWithinHourly, '--keep-within-hourly'),
    withinDaily: parseDuration(f.keepWithinDaily, '--keep-within-daily'),
    withinWeekly: parseDuration(f.keepWithinWeekly, '--keep-within-weekly'),
    withinMonthly: parseDuration(f.keepWithinMonthly, '--keep-within-monthly'),
    withinYearly: parseDuration(f.keepWithinYearly, '--keep-within-yearly'),
  }
  if (f.keepTag !== undefined && f.keepTag.length > 0) p.tags = f.keepTag.map((list) => list.split(',').map((t) => t.trim()))
  for (const k of Object.keys(p) as Array<keyof RetentionPolicy>) if (p[k] === undefined) delete p[k]
  return p
}

export interface ForgetRequest {
  /** Snapshots to remove by ID, unique ID prefix or "latest"; the policy is then not used. */
  ids?: string[]
  policy: RetentionPolicy
  /** "host,paths" by default; "" puts all snapshots in one group. */
  groupBy?: string
  filter?: SnapshotFilter
  dryRun?: boolean
  /** Only for `within` policies: what counts as the future. Default: now. */
  now?: Date
  /** Prune afterwards (forget --prune), with these options, when snapshots were removed. */
  prune?: PruneRequest
  signal?: AbortSignal
  /** Non-fatal problems, such as an ID argument that matches no snapshot. */
  onWarning?: (message: string) => void
  onRemoved?: (done: number, total: number) => void
  /** Told the outcome once snapshots are removed and before prune starts. */
  onForgotten?: (result: ForgetResult) => void
}

export interface ForgetResult {
  policyEmpty: boolean
  /** The policy in restic's words ("keep 7 daily snapshots"). */
  policyText: string
  /** The groups and the policy's decisions (empty when IDs were given or the policy is empty). */
  groups: ForgetGroup[]
  /** Snapshots removed, or that would be on a dry run. */
  removed: Id[]
  prune?: PruneResult
}

/**
 * Removes snapshots by ID or by policy (the caller holds an exclusive lock). Snapshot files are
 * deleted; packs are left to prune, which runs afterwards when `prune` is set.
 */
export async function runForget(repo: Repository, req: ForgetRequest): Promise<ForgetResult> {
  if (req.prune) await resolvePruneOptions(req.prune, repo.writerDefaults.compression) // reject bad prune flags before deleting anything
  const { planForget, removeSnapshots } = await maintenance()
  const groupBy = parseGroupBy(req.groupBy ?? 'host,paths')
  const filter = req.filter ?? {}
  const policyEmpty = isEmptyPolicy(req.policy)
  const result: ForgetResult = { policyEmpty, policyText: describePolicy(req.policy), groups: [], removed: [] }

  if (req.ids !== undefined && req.ids.length > 0) {
    const found = new Set<Id>()
    let usedFilter = false
    for (const spec of req.ids) {
      usedFilter ||= spec === 'latest'
      try {
        // A snapshot named by ID is removed without being read: one whose file is damaged goes too.
        found.add(spec === 'latest' ? (await findSnapshot(repo, spec, filter)).id : await resolveSnapshotId(repo, spec))
      } catch (err) {
        req.onWarning?.(`Ignoring "${spec}": ${messageOf(err)}`)
      }
    }
    const filtered = (filter.hosts?.length ?? 0) + (filter.tags?.length ?? 0) + (filter.paths?.length ?? 0) > 0
    if (!usedFilter && filtered) req.onWarning?.('Ignoring filters as there are explicit snapshot IDs given')
    result.removed = [...found]
  } else if (!policyEmpty) {
    // An unreadable snapshot is left alone and its slot in the policy goes to another: the policy
    // can only keep more than it would otherwise.
    const unreadable = (id: Id, err: unknown) => req.onWarning?.(unreadableSnapshot(id, err))
    const entries = (await loadSnapshots(repo, unreadable)).filter((e) => matchesFilter(e.snapshot, filter))
    result.groups = planForget(entries, req.policy, groupBy, req.now)
    result.removed = result.groups.flatMap((g) => g.remove.map((e) => e.id))
  }

  if (result.removed.length > 0 && !req.dryRun) {
    await removeSnapshots(repo, result.removed, { signal: req.signal, onRemoved: req.onRemoved })
  }
  req.onForgotten?.(result)
  if (result.removed.length > 0 && req.prune) {
    result.prune = await runPrune(repo, { ...req.prune, dryRun: req.dryRun, ignoreSnapshots: new Set(result.removed), signal: req.signal })
  }
  return result
}
