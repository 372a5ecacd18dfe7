/**
 * Grouping snapshots for `forget --group-by host,paths,tags` as restic 0.14's `GroupSnapshots`:
 * snapshots with equal host (and/or sorted paths, and/or sorted tags) form one group, and the
 * retention policy is applied to each group on its own.
 */
import { AppError } from '../base/index.js'
import type { SnapshotEntry } from './snapshot-find.js'
import type { Snapshot } from './snapshot.js'

export interface GroupBy {
  host: boolean
  paths: boolean
  tags: boolean
}

/** A group's identity, as restic prints it; fields not grouped by are "" and null. */
export interface SnapshotGroupKey {
  hostname: string
  paths: string[] | null
  tags: string[] | null
}

export interface SnapshotGroup {
  key: SnapshotGroupKey
  /** Members in the order of the input list. */
  entries: SnapshotEntry[]
}

/**
 * Parses a comma-separated `--group-by` value: "host", "paths", "tags" (singular forms too);
 * "" disables grouping.
 *
 * @example
 * parseGroupBy('host,tags') // { host: true, paths: false, tags: true }
 */
export function parseGroupBy(text: string): GroupBy {
  const by: GroupBy = { host: false, paths: false, tags: false }
  for (const option of text.split(',')) {
    switch (option) {
      case 'host':
      case 'hosts':
        by.host = true
        break
      case 'path':
      case 'paths':
        by.paths = true
        break
      case 'tag':
      case 'tags':
        by.tags = true
        break
      case '':
        break
      default:
        throw new AppError('INVALID_ARGUMENT', `Unknown grouping option "${option}"`, {
          hint: 'Use --group-by with host, paths and/or tags separated by commas, or "" for no grouping',
        })
    }
  }
  return by
}

/** Copy of `list` sorted by UTF-8 bytes, as Go's sort.Strings orders strings. */
function sortedStrings(list: readonly string[]): string[] {
  return [...list].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
}

/**
 * A snapshot as restic's `snapshots` and `forget` print it, text and JSON: its GroupSnapshots,
 * which both run even without --group-by, sorts each snapshot's paths in place, and its tags
 * when grouping by tags.
 */
export function asGrouped(s: Snapshot, byTags: boolean): Snapshot {
  const out = { ...s, paths: sortedStrings(s.paths) }
  if (byTags && s.tags !== undefined) out.tags = sortedStrings(s.tags)
  return out
}

/**
 * Groups snapshots by host, paths and/or tags. Groups come out ordered by their key (restic's
 * order is random), each keeping its members in input order.
 *
 * @example
 * for (const g of groupSnapshots(entries, 'host,paths')) console.log(g.key.hostname, g.entries.length)
 */
export function groupSnapshots(list: readonly SnapshotEntry[], by: GroupBy | string): SnapshotGroup[] {
  const g = typeof by === 'string' ? parseGroupBy(by) : by
  const groups = new Map<string, SnapshotGroup>()
  for (const entry of list) {
    const s = entry.snapshot
    const key: SnapshotGroupKey = {
      hostname: g.host ? (s.hostname ?? '') : '',
      paths: g.paths ? sortedStrings(s.paths) : null,
      tags: g.tags && s.tags !== undefined && s.tags.length > 0 ? sortedStrings(s.tags) : null,
    }
    const id = JSON.stringify(key)
    const group = groups.get(id)
    if (group) group.entries.push(entry)
    else groups.set(id, { key, entries: [entry] })
  }
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, group]) => group)
}
