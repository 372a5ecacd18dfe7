/**
 * Test helpers for retention: a deterministic set of synthetic snapshots, and the policies the
 * comparison with restic runs. Imported by tests only.
 */
import type { Id } from '../base/index.js'
import { hashId } from '../base/index.js'
import { formatGoTime } from './go-time.js'
import { parseRetentionDuration } from './retention-duration.js'
import type { RetentionPolicy } from './retention.js'
import type { Snapshot } from './snapshot.js'

/** A small seeded PRNG (mulberry32): the same sequence for the same seed, in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

const TAGS = ['daily', 'weekly', 'manual', 'important']
const PATH_SETS = [['/home'], ['/srv', '/etc'], ['/etc', '/srv']]
const START_MS = Date.UTC(2024, 0, 1)
const TWO_YEARS_MS = 731 * 86_400_000

/**
 * `n` snapshots spread over 2024 and 2025 on two hosts with mixed tags and paths. Most times are
 * written in the local zone, some in UTC ("Z") and some with a fixed +05:30 offset, so bucketing
 * by the written wall clock is exercised; a few land in the same hour or day, around new year
 * and ISO week boundaries, and on summer time changes.
 */
export function syntheticSnapshots(n = 200, seed = 7): Snapshot[] {
  const rnd = seededRandom(seed)
  const times: number[] = []
  const clustered = Math.min(20, Math.floor(n / 10))
  for (let i = 0; i < n - clustered; i++) times.push(START_MS + Math.floor(rnd() * TWO_YEARS_MS))
  // Dense clusters: several snapshots in one hour and one day, and at year and DST boundaries.
  const anchors = [Date.UTC(2024, 5, 10, 8), Date.UTC(2024, 11, 31, 22), Date.UTC(2025, 2, 30, 0, 30), Date.UTC(2025, 9, 26, 0, 10)]
  for (let i = 0; i < clustered; i++) times.push(anchors[i % anchors.length] + Math.floor(rnd() * 3 * 3_600_000))
  times.sort((a, b) => a - b)
  return times.map((ms, i) => {
    const ns = BigInt(ms) * 1_000_000n + BigInt(Math.floor(rnd() * 1_000_000))
    const zone = rnd()
    const time = zone < 0.7 ? formatGoTime(ns) : zone < 0.85 ? formatGoTime(ns, 0) : formatGoTime(ns, 330)
    const tags = TAGS.filter(() => rnd() < 0.3)
    const s: Snapshot = {
      time,
      tree: hashId(Buffer.from(`tree ${i}`)),
      paths: PATH_SETS[Math.floor(rnd() * PATH_SETS.length)],
      hostname: rnd() < 0.5 ? 'alpha' : 'beta',
      username: 'root',
    }
    if (tags.length > 0) s.tags = tags
    return s
  })
}

/** Policy flags (restic's spelling) that the comparison tests run, with a name each. */
export const POLICY_CASES: Array<{ name: string; args: string[] }> = [
  { name: 'last 5', args: ['--keep-last', '5'] },
  { name: 'daily 7', args: ['--keep-daily', '7'] },
  { name: 'hourly 10 + daily 3', args: ['--keep-hourly', '10', '--keep-daily', '3'] },
  { name: 'weekly 30 (crosses new year)', args: ['--keep-weekly', '30'] },
  { name: 'monthly 12 + yearly 3', args: ['--keep-monthly', '12', '--keep-yearly', '3'] },
  { name: 'within 3m10d', args: ['--keep-within', '3m10d'] },
  { name: 'within-daily/weekly/monthly', args: ['--keep-within-daily', '1m', '--keep-within-weekly', '3m', '--keep-within-monthly', '1y'] },
  { name: 'within-hourly 40d + within-yearly 2y', args: ['--keep-within-hourly', '40d', '--keep-within-yearly', '2y'] },
  { name: 'tag lists + last 2', args: ['--keep-tag', 'important', '--keep-tag', 'daily,manual', '--keep-last', '2'] },
  { name: 'daily 5 weekly 3 by host', args: ['--keep-daily', '5', '--keep-weekly', '3', '--group-by', 'host'] },
  { name: 'last 3 by tags', args: ['--keep-last', '3', '--group-by', 'tags'] },
  { name: 'weekly 4 ungrouped', args: ['--keep-weekly', '4', '--group-by', ''] },
  { name: 'filters: host + tag', args: ['--keep-last', '2', '--keep-monthly', '2', '--host', 'alpha', '--tag', 'daily'] },
  { name: 'by host,paths,tags + path filter', args: ['--keep-monthly', '6', '--group-by', 'host,paths,tags', '--path', '/srv'] },
  { name: 'within 1y2m3d4h + yearly 1', args: ['--keep-within', '1y2m3d4h', '--keep-yearly', '1'] },
  { name: 'everything at once', args: ['-l', '1', '-H', '2', '-d', '3', '-w', '4', '-m', '5', '-y', '6', '--keep-within-weekly', '2m'] },
]

/** Canonical form of one forget group for comparisons: key, kept IDs with reasons, removed IDs. */
export interface ComparableGroup {
  key: string
  keep: Array<{ id: Id; matches: string[] }>
  remove: Id[]
}

/** Turns restic forget flags into a policy, grouping and filter (for the pure comparison). */
export function policyFromArgs(args: readonly string[]): {
  policy: RetentionPolicy
  groupBy: string
  filter: { hosts: string[]; tags: string[]; paths: string[] }
} {
  const counts: Record<string, 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly'> = {
    '--keep-last': 'last', '-l': 'last', '--keep-hourly': 'hourly', '-H': 'hourly', '--keep-daily': 'daily', '-d': 'daily',
    '--keep-weekly': 'weekly', '-w': 'weekly', '--keep-monthly': 'monthly', '-m': 'monthly', '--keep-yearly': 'yearly', '-y': 'yearly',
  }
  const durations: Record<string, 'within' | 'withinHourly' | 'withinDaily' | 'withinWeekly' | 'withinMonthly' | 'withinYearly'> = {
    '--keep-within': 'within', '--keep-within-hourly': 'withinHourly', '--keep-within-daily': 'withinDaily',
    '--keep-within-weekly': 'withinWeekly', '--keep-within-monthly': 'withinMonthly', '--keep-within-yearly': 'withinYearly',
  }
  const policy: RetentionPolicy = {}
  const filter = { hosts: [] as string[], tags: [] as string[], paths: [] as string[] }
  let groupBy = 'host,paths'
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]]
    if (flag in counts) policy[counts[flag]] = Number(value)
    else if (flag in durations) policy[durations[flag]] = parseRetentionDuration(value)
    else if (flag === '--keep-tag') (policy.tags ??= []).push(value.split(',').map((t) => t.trim()))
    else if (flag === '--group-by') groupBy = value
    else if (flag === '--host') filter.hosts.push(value)
    else if (flag === '--tag') filter.tags.push(value)
    else if (flag === '--path') filter.paths.push(value)
    else throw new Error(`policyFromArgs: unknown flag ${flag}`)
  }
  return { policy, groupBy, filter }
}
