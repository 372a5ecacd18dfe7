import { AppError, messageOf, type Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import { encodeSnapshot, type Snapshot, type SnapshotFilter } from '../snapshots/index.js'
import { selectSnapshots } from './snapshot-selection.js'

export interface TagRequest {
  /** Snapshot IDs, prefixes or "latest"; when empty, every snapshot matching `filter`. */
  snapshots?: string[]
  filter?: SnapshotFilter
  /** Each value is a comma-separated list, as given to --set, --add and --remove. */
  set?: string[]
  add?: string[]
  remove?: string[]
}

export interface TagChange {
  oldId: Id
  newId: Id
  tags: string[]
}

export interface TagResult {
  changed: TagChange[]
  /** Snapshots selected whose tags were already as asked. */
  unchanged: number
}

/** restic's tag lists: comma-separated, each tag trimmed, empty ones dropped. */
export function flattenTags(values: readonly string[] | undefined): string[] {
  const out: string[] = []
  for (const v of values ?? []) for (const t of v.split(',')) if (t.trim() !== '') out.push(t.trim())
  return out
}

/**
 * The tags after a change, or undefined when nothing changes. Adding keeps the order and skips
 * tags already there; removing moves the last tag into the hole, as restic does, so the stored
 * order matches what restic would write.
 */
export function applyTagChange(tags: readonly string[], change: { set?: string[]; add?: string[]; remove?: string[] }): string[] | undefined {
  if (change.set !== undefined) {
    const same = change.set.length === tags.length && change.set.every((t, i) => t === tags[i])
    return same ? undefined : [...change.set]
  }
  const out = [...tags]
  let changed = false
  for (const t of change.add ?? []) {
    if (!out.includes(t)) {
      out.push(t)
      changed = true
    }
  }
  for (const t of change.remove ?? []) {
    const i = out.indexOf(t)
    if (i >= 0) {
      out[i] = out[out.length - 1]
      out.pop()
      changed = true
    }
  }
  return changed ? out : undefined
}

/**
 * Changes the tags of snapshots. Each changed snapshot is written as a new file (keeping
 * `original`, set to the first version's ID on the first change) before the old file is removed,
 * so a crash leaves at worst both versions, never none. Snapshots that cannot be rewritten are
 * reported through `onWarning` and skipped, as restic does.
 *
 * @example
 * await changeTags(repo, { snapshots: ['latest'], add: ['keep'] })
 */
export async function changeTags(
  repo: Pick<Repository, 'listIds' | 'loadUnpacked' | 'saveUnpacked' | 'backend'>,
  req: TagRequest,
  onWarning: (message: string) => void = () => {},
): Promise<TagResult> {
  const set = req.set !== undefined && req.set.length > 0 ? flattenTags(req.set) : undefined
  const add = flattenTags(req.add)
  const remove = flattenTags(req.remove)
  // Judged on the flags as given, as restic does: `--add "$TAGS"` with TAGS empty changes nothing and is no error.
  if (set === undefined && (req.add?.length ?? 0) === 0 && (req.remove?.length ?? 0) === 0) {
    throw new AppError('INVALID_ARGUMENT', 'Nothing to do: no tags to set, add or remove', { hint: 'Use --set, --add or --remove' })
  }
  if (set !== undefined && ((req.add?.length ?? 0) > 0 || (req.remove?.length ?? 0) > 0)) {
    throw new AppError('INVALID_ARGUMENT', '--set and --add/--remove cannot be given at the same time')
  }
  const selected = await selectSnapshots(repo, { ids: req.snapshots, filter: req.filter }, onWarning)
  const result: TagResult = { changed: [], unchanged: 0 }
  for (const { id, snapshot } of selected) {
    const tags = applyTagChange(snapshot.tags ?? [], { set, add, remove })
    if (tags === undefined) {
      result.unchanged++
      continue
    }
    const next: Snapshot = { ...snapshot, tags, original: snapshot.original ?? id }
    try {
      const newId = await repo.saveUnpacked('snapshots', encodeSnapshot(next))
      await repo.backend.remove({ type: 'snapshots', name: id })
      result.changed.push({ oldId: id, newId, tags })
    } catch (err) {
      onWarning(`Unable to modify the tags of snapshot ${id.slice(0, 8)}, ignoring: ${messageOf(err)}`)
    }
  }
  return result
}
