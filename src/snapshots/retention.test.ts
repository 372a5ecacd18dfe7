/**
 * applyRetention() against hand-worked cases, and against the real restic 0.14 `forget --dry-run
 * --json` on 200 synthetic snapshots (two years, two hosts, several tags and zones) for sixteen
 * policy combinations. The restic part is skipped when restic is not installed.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { hashId } from '../base/index.js'
import { LocalBackend } from '../backends/index.js'
import { Repository } from '../repository/index.js'
import { TEST_POLYNOMIAL, WEAK_SCRYPT } from '../repository/testing.js'
import { formatGoTime, parseGoTime } from './go-time.js'
import { applyRetention, describePolicy, isEmptyPolicy, isoWeek, type RetentionPolicy } from './retention.js'
import { parseRetentionDuration, snapshotClock, subtractDuration } from './retention-duration.js'
import { POLICY_CASES, policyFromArgs, syntheticSnapshots, type ComparableGroup } from './retention-testing.js'
import { encodeSnapshot, type Snapshot } from './snapshot.js'
import { matchesFilter, type SnapshotEntry } from './snapshot-find.js'
import { groupSnapshots, parseGroupBy } from './snapshot-group.js'

// A zone with summer time, so local-zone date arithmetic is exercised; restic gets the same TZ.
const ZONE = 'Europe/Berlin'
process.env.TZ = ZONE
const RESTIC = process.env.RESTIC_BIN ?? '/usr/bin/restic'
const execFileP = promisify(execFile)

function entry(time: string, extra: Partial<Snapshot> = {}): SnapshotEntry {
  const snapshot: Snapshot = { time, tree: hashId(Buffer.from('t')), paths: ['/data'], hostname: 'h', ...extra }
  return { id: hashId(Buffer.from(time + JSON.stringify(extra))), snapshot }
}

const ids = (list: SnapshotEntry[]) => list.map((e) => e.snapshot.time)

describe('applyRetention()', () => {
  const list = [
    entry('2025-01-01T10:00:00Z'),
    entry('2025-01-01T11:30:00Z'),
    entry('2025-01-01T11:45:00Z'),
    entry('2025-01-02T09:00:00Z'),
    entry('2025-01-06T09:00:00Z'), // Monday: a new ISO week
    entry('2025-02-01T00:00:00Z'),
  ]

  it('keeps the newest of each hour, walking from the newest snapshot', () => {
    const { keep, remove } = applyRetention(list, { hourly: 4 })
    assert.deepEqual(
      keep.map((k) => k.entry.snapshot.time),
      ['2025-02-01T00:00:00Z', '2025-01-06T09:00:00Z', '2025-01-02T09:00:00Z', '2025-01-01T11:45:00Z'],
    )
    assert.deepEqual(ids(remove), ['2025-01-01T11:30:00Z', '2025-01-01T10:00:00Z'])
    assert.deepEqual(keep[0].reasons, ['hourly snapshot'])
    assert.deepEqual(keep.map((k) => k.counters.hourly), [3, 2, 1, 0])
  })

  it('combines buckets and reports every reason, as restic does', () => {
    const { keep } = applyRetention(list, { last: 1, daily: 2, weekly: 2 })
    assert.deepEqual(keep[0].reasons, ['last snapshot', 'daily snapshot', 'weekly snapshot'])
    assert.deepEqual(keep[1].reasons, ['daily snapshot', 'weekly snapshot'])
    assert.deepEqual(keep.length, 2)
  })

  it('treats -1 as unlimited and keeps everything for an empty policy', () => {
    assert.equal(applyRetention(list, { daily: -1 }).keep.length, 4)
    const empty = applyRetention(list, {})
    assert.equal(empty.keep.length, list.length)
    assert.deepEqual(empty.keep[0].reasons, ['policy is empty'])
    assert.throws(() => applyRetention(list, { last: -2 }), /Invalid retention count -2/)
  })

  it('buckets by the wall clock the time was written with, not the reader\'s zone', () => {
    // The same day in UTC, but written in zones that put them on different calendar days.
    const a = entry('2025-03-10T23:30:00-05:00') // 04:30Z on the 11th
    const b = entry('2025-03-11T05:00:00Z')
    const { keep } = applyRetention([a, b], { daily: 5 })
    assert.equal(keep.length, 2)
    const c = entry('2025-03-11T01:00:00+02:00') // 23:00Z on the 10th, but the 11th as written
    assert.equal(applyRetention([c, b], { daily: 5 }).keep.length, 1)
  })

  it('measures keep-within from the newest snapshot that is not in the future', () => {
    const future = entry('2099-01-01T00:00:00Z')
    const result = applyRetention([...list, future], { within: parseRetentionDuration('2d') }, new Date('2026-01-01T00:00:00Z'))
    assert.deepEqual(
      result.keep.map((k) => k.entry.snapshot.time),
      ['2099-01-01T00:00:00Z', '2025-02-01T00:00:00Z'],
    )
    assert.deepEqual(result.keep[1].reasons, ['within 2d'])
    // Seen from 2025-01-03 the newest is 2025-01-02T09:00, so the limit is 2025-01-01T13:00; the
    // snapshots in the future are newer than that and kept too.
    const early = applyRetention(list, { within: parseRetentionDuration('20h') }, new Date('2025-01-03T00:00:00Z'))
    assert.deepEqual(ids(early.keep.map((k) => k.entry)), ['2025-02-01T00:00:00Z', '2025-01-06T09:00:00Z', '2025-01-02T09:00:00Z'])
  })

  it('keeps snapshots matching any tag list, and "" matches untagged ones', () => {
    const tagged = [entry('2025-01-01T00:00:00Z', { tags: ['a', 'b'] }), entry('2025-01-02T00:00:00Z', { tags: ['a'] }), entry('2025-01-03T00:00:00Z')]
    const { keep } = applyRetention(tagged, { tags: [['a', 'b'], ['']] })
    assert.deepEqual(keep.map((k) => k.reasons), [['has tags []'], ['has tags [a, b]']])
  })
})

describe('retention helpers', () => {
  it('parseRetentionDuration() reads restic durations and rejects malformed ones', () => {
    assert.deepEqual(parseRetentionDuration(' 1y2m3d4h '), { years: 1, months: 2, days: 3, hours: 4 })
    assert.deepEqual(parseRetentionDuration(''), { years: 0, months: 0, days: 0, hours: 0 })
    assert.throws(() => parseRetentionDuration('5'), /no unit found after number 5/)
    assert.throws(() => parseRetentionDuration('d'), /no number found/)
    assert.throws(() => parseRetentionDuration('3w'), /invalid unit "w"/)
  })

  it('isoWeek() follows ISO 8601 around new year', () => {
    assert.deepEqual(isoWeek(2020, 12, 31), { year: 2020, week: 53 })
    assert.deepEqual(isoWeek(2021, 1, 3), { year: 2020, week: 53 })
    assert.deepEqual(isoWeek(2021, 1, 4), { year: 2021, week: 1 })
    assert.deepEqual(isoWeek(2024, 12, 30), { year: 2025, week: 1 })
  })

  it('subtractDuration() normalises dates as Go\'s AddDate and keeps local summer time', () => {
    const at = (t: string) => snapshotClock(t, parseGoTime(t))
    const minus = (t: string, d: string) => formatGoTime(subtractDuration(at(t), parseRetentionDuration(d)), 0)
    assert.equal(minus('2025-03-31T12:00:00Z', '1m'), '2025-03-03T12:00:00Z')
    assert.equal(minus('2024-02-29T00:00:00Z', '1y'), '2023-03-01T00:00:00Z')
    assert.equal(minus('2025-01-01T00:00:00Z', '1d5h'), '2024-12-30T19:00:00Z')
    // Berlin: 12:00 local on 1 April (summer) minus one month is 12:00 local on 1 March (winter).
    assert.equal(minus('2025-04-01T12:00:00+02:00', '1m'), '2025-03-01T11:00:00Z')
    // A fixed zone that is not the local one has no summer time.
    assert.equal(minus('2025-04-01T12:00:00+05:30', '1m'), '2025-03-01T06:30:00Z')
  })

  it('groupSnapshots() groups by sorted paths and tags, and rejects unknown options', () => {
    const a = entry('2025-01-01T00:00:00Z', { paths: ['/b', '/a'], tags: ['y', 'x'] })
    const b = entry('2025-01-02T00:00:00Z', { paths: ['/a', '/b'], tags: ['x', 'y'], hostname: 'other' })
    assert.equal(groupSnapshots([a, b], 'paths,tags').length, 1)
    const byHost = groupSnapshots([a, b], 'host')
    assert.deepEqual(byHost.map((g) => g.key), [
      { hostname: 'h', paths: null, tags: null },
      { hostname: 'other', paths: null, tags: null },
    ])
    assert.deepEqual(parseGroupBy(''), { host: false, paths: false, tags: false })
    assert.throws(() => parseGroupBy('host,user'), /Unknown grouping option "user"/)
  })

  it('describePolicy() words the policy as restic does', () => {
    const p: RetentionPolicy = { daily: 7, weekly: 4, withinDaily: parseRetentionDuration('1m'), tags: [['a', 'b']], within: parseRetentionDuration('1y') }
    assert.equal(describePolicy(p), 'keep 7 daily, 4 weekly snapshots, daily snapshots within 1m and all snapshots with tags [[a, b]] and all snapshots within 1y of the newest')
    assert.equal(isEmptyPolicy({ last: 0, tags: [] }), true)
  })
})

/** What restic's forget --json printed, reduced to comparable groups. */
function fromRestic(stdout: string): ComparableGroup[] {
  const groups = JSON.parse(stdout) as Array<{
    host: string
    paths: string[] | null
    tags: string[] | null
    keep: Array<{ id: string }> | null
    remove: Array<{ id: string }> | null
    reasons: Array<{ matches: string[] }> | null
  }>
  return groups
    .map((g) => ({
      key: JSON.stringify({ hostname: g.host, paths: g.paths, tags: g.tags }),
      keep: (g.keep ?? []).map((k, i) => ({ id: k.id, matches: g.reasons![i].matches })),
      remove: (g.remove ?? []).map((r) => r.id),
    }))
    .sort((a, b) => (a.key < b.key ? -1 : 1))
}

function fromCairn(entries: SnapshotEntry[], args: string[]): ComparableGroup[] {
  const { policy, groupBy, filter } = policyFromArgs(args)
  const selected = entries.filter((e) => matchesFilter(e.snapshot, filter))
  return groupSnapshots(selected, groupBy).map((g) => {
    const { keep, remove } = applyRetention(g.entries, policy)
    return {
      key: JSON.stringify(g.key),
      keep: keep.map((k) => ({ id: k.entry.id, matches: k.reasons })),
      remove: remove.map((e) => e.id),
    }
  })
}

describe('applyRetention() agrees with restic 0.14 forget', { skip: existsSync(RESTIC) ? false : 'restic is not installed' }, () => {
  let dir = ''
  const password = 'retention test'
  const entries: SnapshotEntry[] = []

  before(async () => {
    dir = await fs.mkdtemp(join(tmpdir(), 'cairn-retention-'))
    const repo = await Repository.init(new LocalBackend(join(dir, 'repo')), password, { scrypt: WEAK_SCRYPT, polynomial: TEST_POLYNOMIAL })
    for (const snapshot of syntheticSnapshots(200)) {
      entries.push({ id: await repo.saveUnpacked('snapshots', encodeSnapshot(snapshot)), snapshot })
    }
    await repo.close()
  })

  after(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true })
  })

  it('uses snapshots that cover two years, two hosts, several tags and zones', () => {
    assert.equal(entries.length, 200)
    assert.deepEqual(new Set(entries.map((e) => e.snapshot.hostname)), new Set(['alpha', 'beta']))
    assert.ok(entries.some((e) => e.snapshot.time.endsWith('Z')) && entries.some((e) => e.snapshot.time.endsWith('+05:30')))
    assert.ok(entries.some((e) => e.snapshot.time.startsWith('2024-01')) && entries.some((e) => e.snapshot.time.startsWith('2025-12')))
  })

  for (const c of POLICY_CASES) {
    it(`keeps the same snapshots for the same reasons: ${c.name}`, async () => {
      const { stdout } = await execFileP(RESTIC, ['--no-cache', '-r', join(dir, 'repo'), 'forget', '--dry-run', '--no-lock', '--json', ...c.args], {
        env: { PATH: process.env.PATH, HOME: dir, TZ: ZONE, RESTIC_PASSWORD: password },
        maxBuffer: 64 << 20,
      })
      const theirs = fromRestic(stdout)
      const ours = fromCairn(entries, c.args)
      assert.ok(theirs.length > 0)
      assert.ok(theirs.some((g) => g.remove.length > 0), 'the policy removes something')
      assert.deepEqual(ours, theirs)
    })
  }
})
