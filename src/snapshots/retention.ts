/**
 * The retention policy of `forget`, exactly as restic 0.14's `ApplyPolicy`: which snapshots of
 * one group to keep, and why. Pure: no I/O, and the current time is a parameter.
 */
import { AppError } from '../base/index.js'
import { parseGoTime } from './go-time.js'
import {
  formatRetentionDuration,
  isZeroDuration,
  snapshotClock,
  subtractDuration,
  ZERO_CLOCK,
  type RetentionDuration,
  type SnapshotClock,
} from './retention-duration.js'
import type { SnapshotEntry } from './snapshot-find.js'
import type { Snapshot } from './snapshot.js'

/**
 * What to keep. Counts keep the newest snapshot of each of the last n hours, days, ISO weeks,
 * months or years that have snapshots (`last`: the last n snapshots); -1 means no limit. The
 * `within*` durations count back from the newest snapshot that is not in the future. `tags`
 * keeps every snapshot carrying all tags of at least one list.
 */
export interface RetentionPolicy {
  last?: number
  hourly?: number
  daily?: number
  weekly?: number
  monthly?: number
  yearly?: number
  within?: RetentionDuration
  withinHourly?: RetentionDuration
  withinDaily?: RetentionDuration
  withinWeekly?: RetentionDuration
  withinMonthly?: RetentionDuration
  withinYearly?: RetentionDuration
  tags?: string[][]
}

/** The bucket counters left after a kept snapshot, as restic reports them. */
export interface RetentionCounters {
  last: number
  hourly: number
  daily: number
  weekly: number
  monthly: number
  yearly: number
}

export interface KeptSnapshot {
  entry: SnapshotEntry
  /** Why it is kept, in restic's words: "last snapshot", "daily snapshot", "within 1y", … */
  reasons: string[]
  counters: RetentionCounters
}

export interface RetentionResult {
  /** Kept snapshots, newest first. */
  keep: KeptSnapshot[]
  /** Removed snapshots, newest first. */
  remove: SnapshotEntry[]
}

type Bucketer = (c: SnapshotClock, nr: number) => number

const hourBucket: Bucketer = (c) => c.year * 1_000_000 + c.month * 10_000 + c.day * 100 + c.hour
const dayBucket: Bucketer = (c) => c.year * 10_000 + c.month * 100 + c.day
const weekBucket: Bucketer = (c) => {
  const { year, week } = isoWeek(c.year, c.month, c.day)
  return year * 100 + week
}
const monthBucket: Bucketer = (c) => c.year * 100 + c.month
const yearBucket: Bucketer = (c) => c.year
const everySnapshot: Bucketer = (_c, nr) => nr

/** ISO 8601 year and week of a date (weeks start on Monday; week 1 holds the first Thursday). */
export function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  const weekday = (date.getUTCDay() + 6) % 7 // Monday = 0
  date.setUTCDate(date.getUTCDate() - weekday + 3) // the Thursday of the same week
  const isoYear = date.getUTCFullYear()
  const jan1 = new Date(0)
  jan1.setUTCFullYear(isoYear, 0, 1)
  const dayOfYear = Math.round((date.getTime() - jan1.getTime()) / 86_400_000)
  return { year: isoYear, week: Math.floor(dayOfYear / 7) + 1 }
}

const COUNT_KEYS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const
const WITHIN_KEYS = ['withinHourly', 'withinDaily', 'withinWeekly', 'withinMonthly', 'withinYearly'] as const

/** True when the policy keeps nothing in particular (then forget removes nothing). */
export function isEmptyPolicy(p: RetentionPolicy): boolean {
  if (p.tags !== undefined && p.tags.length > 0) return false
  if (COUNT_KEYS.some((k) => (p[k] ?? 0) !== 0)) return false
  return isZeroDuration(p.within) && WITHIN_KEYS.every((k) => isZeroDuration(p[k]))
}

/** restic's `TagList` text: "[a, b]". */
export function formatTagList(tags: readonly string[]): string {
  return `[${tags.join(', ')}]`
}

/**
 * The policy in restic's words, e.g. "keep 7 daily, 4 weekly snapshots and all snapshots within
 * 1y of the newest".
 */
export function describePolicy(p: RetentionPolicy): string {
  const words = { last: 'latest', hourly: 'hourly', daily: 'daily', weekly: 'weekly', monthly: 'monthly', yearly: 'yearly' }
  const counts = COUNT_KEYS.filter((k) => (p[k] ?? 0) !== 0).map((k) => `${p[k] === -1 ? 'all' : p[k]} ${words[k]}`)
  const within = WITHIN_KEYS.filter((k) => !isZeroDuration(p[k])).map(
    (k) => `${k.slice(6).toLowerCase()} snapshots within ${formatRetentionDuration(p[k]!)}`,
  )
  let s = counts.length > 0 ? `${counts.join(', ')} snapshots` : ''
  if (within.length > 0) s += (s !== '' ? ', ' : '') + within.join(', ')
  if (p.tags !== undefined && p.tags.length > 0) {
    s += (s !== '' ? ' and ' : '') + `all snapshots with tags [${p.tags.map(formatTagList).join(' ')}]`
  }
  if (!isZeroDuration(p.within)) s += (s !== '' ? ' and ' : '') + `all snapshots within ${formatRetentionDuration(p.within!)} of the newest`
  return 'keep ' + s
}

/** restic's `HasTags`: all tags of the list are present; "" matches a snapshot without tags. */
function hasTags(s: Snapshot, list: readonly string[]): boolean {
  const have = s.tags ?? []
  for (const tag of list) {
    if (tag === '' && have.length === 0) return true
    if (!have.includes(tag)) return false
  }
  return true
}

interface Prepared {
  entry: SnapshotEntry
  clock: SnapshotClock
}

/** The newest snapshot time that is not in the future, or Go's zero time when there is none. */
function latestClock(list: readonly Prepared[], nowNs: bigint): SnapshotClock {
  let latest = ZERO_CLOCK
  for (const p of list) if (p.clock.ns > latest.ns && p.clock.ns < nowNs) latest = p.clock
  return latest
}

/**
 * Splits one group of snapshots into kept and removed ones, exactly as restic 0.14's
 * `ApplyPolicy`: snapshots are walked from newest to oldest; each `--keep-<unit> n` bucket keeps
 * a snapshot whenever its hour/day/ISO week/month/year (read from the wall clock the time was
 * written with) differs from the previous kept one's, until n were kept; `within*` policies do
 * the same without a count for snapshots newer than the newest one minus the duration; tag lists
 * keep every match. An empty policy keeps everything.
 *
 * @param now only decides which snapshots are "in the future" (ignored as the newest)
 *
 * @example
 * const { keep, remove } = applyRetention(entries, { daily: 7, weekly: 4 })
 * keep[0].reasons // ['daily snapshot', 'weekly snapshot']
 */
export function applyRetention(list: readonly SnapshotEntry[], policy: RetentionPolicy, now: Date = new Date()): RetentionResult {
  for (const k of COUNT_KEYS) {
    const n = policy[k]
    if (n !== undefined && (!Number.isInteger(n) || n < -1)) {
      throw new AppError('INVALID_ARGUMENT', `Invalid retention count ${n} for "${k}": expected a whole number, or -1 for unlimited`)
    }
  }
  const prepared: Prepared[] = list.map((entry) => {
    const ns = parseGoTime(entry.snapshot.time)
    return { entry, clock: snapshotClock(entry.snapshot.time, ns) }
  })
  // Newest first; equal times keep their order (Go's sort.Stable).
  prepared.sort((a, b) => (a.clock.ns > b.clock.ns ? -1 : a.clock.ns < b.clock.ns ? 1 : 0))

  const zero: RetentionCounters = { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }
  if (isEmptyPolicy(policy)) {
    return { keep: prepared.map((p) => ({ entry: p.entry, reasons: ['policy is empty'], counters: { ...zero } })), remove: [] }
  }
  const keep: KeptSnapshot[] = []
  const remove: SnapshotEntry[] = []
  if (prepared.length === 0) return { keep, remove }

  const buckets = [
    { key: 'last', count: policy.last ?? 0, bucket: everySnapshot, previous: -1, reason: 'last snapshot' },
    { key: 'hourly', count: policy.hourly ?? 0, bucket: hourBucket, previous: -1, reason: 'hourly snapshot' },
    { key: 'daily', count: policy.daily ?? 0, bucket: dayBucket, previous: -1, reason: 'daily snapshot' },
    { key: 'weekly', count: policy.weekly ?? 0, bucket: weekBucket, previous: -1, reason: 'weekly snapshot' },
    { key: 'monthly', count: policy.monthly ?? 0, bucket: monthBucket, previous: -1, reason: 'monthly snapshot' },
    { key: 'yearly', count: policy.yearly ?? 0, bucket: yearBucket, previous: -1, reason: 'yearly snapshot' },
  ] as const satisfies ReadonlyArray<{ key: keyof RetentionCounters; count: number; bucket: Bucketer; previous: number; reason: string }>
  const counts = buckets.map((b) => b.count)
  const previous = buckets.map((b) => b.previous as number)

  const latest = latestClock(prepared, BigInt(now.getTime()) * 1_000_000n)
  const withinLimit = (d: RetentionDuration | undefined) => (isZeroDuration(d) ? undefined : subtractDuration(latest, d!))
  const within = withinLimit(policy.within)
  const withinBuckets = [
    { d: policy.withinHourly, bucket: hourBucket, reason: 'hourly within' },
    { d: policy.withinDaily, bucket: dayBucket, reason: 'daily within' },
    { d: policy.withinWeekly, bucket: weekBucket, reason: 'weekly within' },
    { d: policy.withinMonthly, bucket: monthBucket, reason: 'monthly within' },
    { d: policy.withinYearly, bucket: yearBucket, reason: 'yearly within' },
  ].map((b) => ({ ...b, limit: withinLimit(b.d), previous: -1 }))

  prepared.forEach((cur, nr) => {
    const reasons: string[] = []
    for (const list of policy.tags ?? []) {
      if (hasTags(cur.entry.snapshot, list)) reasons.push(`has tags ${formatTagList(list)}`)
    }
    if (within !== undefined && cur.clock.ns > within) reasons.push(`within ${formatRetentionDuration(policy.within!)}`)
    buckets.forEach((b, i) => {
      if (counts[i] > 0 || counts[i] === -1) {
        const value = b.bucket(cur.clock, nr)
        if (value !== previous[i]) {
          previous[i] = value
          if (counts[i] > 0) counts[i]--
          reasons.push(b.reason)
        }
      }
    })
    for (const b of withinBuckets) {
      if (b.limit === undefined || !(cur.clock.ns > b.limit)) continue
      const value = b.bucket(cur.clock, nr)
      if (value !== b.previous) {
        b.previous = value
        reasons.push(`${b.reason} ${formatRetentionDuration(b.d!)}`)
      }
    }
    if (reasons.length > 0) {
      const counters = { ...zero }
      buckets.forEach((b, i) => (counters[b.key] = counts[i]))
      keep.push({ entry: cur.entry, reasons, counters })
    } else {
      remove.push(cur.entry)
    }
  })
  return { keep, remove }
}
