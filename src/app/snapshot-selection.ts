import { createLimit, messageOf, type Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import { decodeSnapshot, matchesFilter, sortSnapshots, type SnapshotEntry, type SnapshotFilter } from '../snapshots/index.js'

export interface SnapshotSelection {
  /** Snapshot IDs, unique prefixes or "latest"; when empty, every snapshot matching `filter`. */
  ids?: string[]
  /** Host, tag and path filters (with explicit IDs they apply to "latest" only). */
  filter?: SnapshotFilter
}

type SelectionRepo = Pick<Repository, 'listIds' | 'loadUnpacked'>

/**
 * The snapshots a command such as tag, find or stats works on, as restic selects them: the
 * snapshots named (each once; "latest" is the newest one matching the filters), or with no
 * names every snapshot matching the filters. Names that match nothing are reported through
 * `onWarning` and skipped, as restic does. Oldest first.
 *
 * @example
 * const list = await selectSnapshots(repo, { ids: ['latest'], filter: { hosts: ['nas'] } })
 */
export async function selectSnapshots(repo: SelectionRepo, selection: SnapshotSelection, onWarning: (message: string) => void = () => {}): Promise<SnapshotEntry[]> {
  const ids = await repo.listIds('snapshots')
  const filter = selection.filter ?? {}
  const cache = new Map<Id, SnapshotEntry | null>()
  const load = async (id: Id): Promise<SnapshotEntry | undefined> => {
    let e = cache.get(id)
    if (e === undefined) {
      try {
        e = { id, snapshot: decodeSnapshot(await repo.loadUnpacked('snapshots', id)) }
      } catch (err) {
        onWarning(unreadableSnapshot(id, err))
        e = null
      }
      cache.set(id, e)
    }
    return e ?? undefined
  }
  const limit = createLimit(8)
  const loadAll = async () => {
    const all = await Promise.all(ids.map((id) => limit(() => load(id))))
    return sortSnapshots(all.filter((e): e is SnapshotEntry => e !== undefined))
  }

  const names = selection.ids ?? []
  if (names.length === 0) return (await loadAll()).filter((e) => matchesFilter(e.snapshot, filter))

  const chosen: SnapshotEntry[] = []
  const seen = new Set<Id>()
  let usedFilter = false
  for (const name of names) {
    let entry: SnapshotEntry | undefined
    if (name === 'latest') {
      usedFilter = true
      entry = (await loadAll()).filter((e) => matchesFilter(e.snapshot, filter)).at(-1)
      if (!entry) onWarning(`Ignoring "latest": no snapshot matched the given filter${describeFilter(filter)}`)
    } else {
      const hits = ids.filter((id) => id.startsWith(name))
      if (hits.length === 0 || !/^[0-9a-f]+$/.test(name)) onWarning(`Ignoring "${name}": no snapshot with this ID`)
      else if (hits.length > 1) onWarning(`Ignoring "${name}": the prefix matches ${hits.length} snapshots`)
      else entry = await load(hits[0])
    }
    if (entry && !seen.has(entry.id)) {
      seen.add(entry.id)
      chosen.push(entry)
    }
  }
  const f = filter
  if (!usedFilter && ((f.hosts?.length ?? 0) > 0 || (f.tags?.length ?? 0) > 0 || (f.paths?.length ?? 0) > 0)) {
    onWarning('Ignoring filters as there are explicit snapshot ids given')
  }
  return chosen
}

function describeFilter(f: SnapshotFilter): string {
  const parts: string[] = []
  if (f.hosts?.length) parts.push(`hosts ${f.hosts.join(', ')}`)
  if (f.tags?.length) parts.push(`tags ${f.tags.join(' or ')}`)
  if (f.paths?.length) parts.push(`paths ${f.paths.join(', ')}`)
  return parts.length > 0 ? ` (${parts.join('; ')})` : ''
}

/** The warning for a snapshot file that cannot be loaded, naming the command that removes it. */
export function unreadableSnapshot(id: Id, err: unknown): string {
  return `Ignoring snapshot ${id.slice(0, 8)}, which cannot be read: ${messageOf(err)} (if no copy of the repository has it intact, "cairn recover" saves what it held as a new snapshot; then remove it with "cairn forget ${id.slice(0, 8)}")`
}
