import { posix } from 'node:path'
import { AppError, createLimit, type Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import { parseGoTime } from './go-time.js'
import { decodeSnapshot, type Snapshot } from './snapshot.js'

export interface SnapshotEntry {
  id: Id
  snapshot: Snapshot
}

export interface SnapshotFilter {
  hosts?: string[]
  /** Each entry is a comma-separated list of tags that must all be present; any entry may match; '' is "untagged". */
  tags?: string[]
  /** The snapshot must contain all of these paths. */
  paths?: string[]
}

type SnapshotRepo = Pick<Repository, 'listIds' | 'loadUnpacked'>

/** Snapshot files read at once (8, 32 or 64 made no difference for 8,000 local ones). */
const SNAPSHOT_LOADS = 8

/** Loads every snapshot, oldest first. Unreadable snapshot files are reported through `onError`. */
export async function loadSnapshots(repo: SnapshotRepo, onError?: (id: Id, err: unknown) => void): Promise<SnapshotEntry[]> {
  const ids = await repo.listIds('snapshots')
  const limit = createLimit(SNAPSHOT_LOADS)
  const out: SnapshotEntry[] = []
  await Promise.all(
    ids.map((id) =>
      limit(async () => {
        try {
          out.push({ id, snapshot: decodeSnapshot(await repo.loadUnpacked('snapshots', id)) })
        } catch (err) {
          if (onError) onError(id, err)
          else throw err
        }
      }),
    ),
  )
  return sortSnapshots(out)
}

/** Oldest first; equal times by ID. Each time is parsed once, not at every comparison. */
export function sortSnapshots(list: SnapshotEntry[]): SnapshotEntry[] {
  const keyed = list.map((e) => ({ e, t: parseGoTime(e.snapshot.time) }))
  keyed.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : a.e.id < b.e.id ? -1 : 1))
  keyed.forEach((k, i) => (list[i] = k.e))
  return list
}

export function matchesFilter(s: Snapshot, f: SnapshotFilter): boolean {
  if (f.hosts && f.hosts.length > 0 && !f.hosts.includes(s.hostname ?? '')) return false
  if (f.tags && f.tags.length > 0 && !f.tags.some((group) => hasTagGroup(s.tags ?? [], group))) return false
  if (f.paths && f.paths.length > 0) {
    const have = new Set(s.paths)
    if (!f.paths.every((p) => have.has(cleanPath(p)))) return false
  }
  return true
}

/**
 * restic's rule for one `--tag` value, a comma-separated list that must all be present: an
 * empty tag in it (`--tag ''`) stands for "no tags at all", so it picks untagged snapshots.
 */
function hasTagGroup(tags: readonly string[], group: string): boolean {
  for (const raw of group.split(',')) {
    const tag = raw.trim()
    if (tag === '' && tags.length === 0) return true
    if (!tags.includes(tag)) return false
  }
  return true
}

/**
 * A `--path` value cleaned: absolute (a relative one is taken from the current folder, as
 * snapshot paths are), no trailing slash, no `//`, `.` or `..` parts. restic cleans it only to
 * find `latest`, and compares it as typed elsewhere (`forget --path src/` matches nothing there);
 * cairn compares the cleaned path everywhere, so that one value picks the same snapshots in
 * every command.
 */
function cleanPath(p: string): string {
  const clean = posix.isAbsolute(p) ? posix.normalize(p) : posix.resolve(p)
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean
}

/**
 * Resolves a snapshot given as "latest" (newest matching `filter`) or as an ID or unique ID
 * prefix. Throws NOT_FOUND or INVALID_ARGUMENT (ambiguous prefix) with a hint.
 */
export async function findSnapshot(repo: SnapshotRepo, spec: string, filter: SnapshotFilter = {}): Promise<SnapshotEntry> {
  if (spec === 'latest') {
    const all = (await loadSnapshots(repo, () => {})).filter((e) => matchesFilter(e.snapshot, filter))
    const last = all.at(-1)
    if (!last) {
      // The filters named, as restic names them ("no snapshot found Paths:[] Hosts:[nohost]")
      const given = [
        ['--host', filter.hosts],
        ['--tag', filter.tags],
        ['--path', filter.paths],
      ].filter((f): f is [string, string[]] => f[1] !== undefined && f[1].length > 0)
      const which = given.length === 0 ? '' : ` for ${given.map(([flag, v]) => `${flag} ${v.map((x) => JSON.stringify(x)).join(', ')}`).join(' and ')}`
      throw new AppError('NOT_FOUND', `No snapshot found${which}`, { hint: 'List snapshots with "cairn snapshots"; check --host, --tag and --path filters' })
    }
    return last
  }
  const id = await resolveSnapshotId(repo, spec)
  return { id, snapshot: decodeSnapshot(await repo.loadUnpacked('snapshots', id)) }
}

/**
 * The full ID of the snapshot file that `spec` (an ID or unique prefix) names, without reading
 * the file. Throws as findSnapshot() does.
 */
export async function resolveSnapshotId(repo: Pick<SnapshotRepo, 'listIds'>, spec: string): Promise<Id> {
  if (!/^[0-9a-f]{1,64}$/.test(spec)) {
    throw new AppError('INVALID_ARGUMENT', `Invalid snapshot ID "${spec}"`, { hint: 'Give "latest", a full snapshot ID, or a unique prefix of one' })
  }
  const ids = (await repo.listIds('snapshots')).filter((id) => id.startsWith(spec))
  if (ids.length === 0) throw new AppError('NOT_FOUND', `No snapshot with ID "${spec}"`, { hint: 'List snapshots with "cairn snapshots"' })
  if (ids.length > 1) throw new AppError('INVALID_ARGUMENT', `Snapshot ID prefix "${spec}" is ambiguous (${ids.length} snapshots)`, { hint: 'Give more characters of the ID' })
  return ids[0]
}

/**
 * The parent for a backup, as restic picks it: the newest snapshot of the same host that holds
 * every one of `paths` (it may hold more: a snapshot of `a` and `b` is the parent of one of `a`).
 */
export async function findParentSnapshot(repo: SnapshotRepo, host: string, paths: string[], notAfter?: Date): Promise<SnapshotEntry | undefined> {
  const all = await loadSnapshots(repo, () => {})
  // A backup given an earlier time (--time) takes no parent newer than that, as restic's does.
  const limit = notAfter === undefined ? undefined : BigInt(notAfter.getTime()) * 1_000_000n
  for (let i = all.length - 1; i >= 0; i--) {
    const s = all[i].snapshot
    if ((s.hostname ?? '') !== host) continue
    if (limit !== undefined && parseGoTime(s.time) > limit) continue
    const have = new Set(s.paths)
    if (paths.every((p) => have.has(p))) return all[i]
  }
  return undefined
}
