import { AppError, messageOf, type Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import { encodeSnapshot, loadSnapshots, type Snapshot, type SnapshotEntry, type SnapshotFilter } from '../snapshots/index.js'
import { selectSnapshots } from './snapshot-selection.js'

export interface TagRequest {
  /** Snapshot IDs, prefixes or "latest"; when empty, every snapshot matching `filter`. */
  snapshots?: string[]
  filter?: SnapshotFilter
  /** Each value is a comma-separated list, as given to --set, --add and --remove. */
  set?: string[]
  add?: string[]
  remove?: string[]
  /** Stops before the next snapshot, never between saving a new version and removing the old. */
  signal?: AbortSignal
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
  /** Snapshots that could not be rewritten (reported through onWarning). */
  failed: number
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
 * so a crash leaves at worst both versions, never none, and a run again completes that swap.
 * Snapshots that cannot be rewritten are reported through `onWarning` and skipped, as restic
 * does, and counted in `failed`.
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
  const result: TagResult = { changed: [], unchanged: 0, failed: 0 }
  let all: SnapshotEntry[] | undefined
  for (const { id, snapshot } of selected) {
    req.signal?.throwIfAborted()
    const tags = applyTagChange(snapshot.tags ?? [], { set, add, remove })
    if (tags === undefined) {
      result.unchanged++
      continue
    }
    const next: Snapshot = { ...snapshot, tags, original: snapshot.original ?? id }
    try {
      // A run cut short between saving the new version and removing the old one left both:
      // running again finishes that swap instead of saving a second copy of the new version.
      all ??= await loadSnapshots(repo, () => {})
      const bytes = encodeSnapshot(next)
      const made = all.find((e) => e.id !== id && e.snapshot.original === next.original && Buffer.compare(encodeSnapshot(e.snapshot), bytes) === 0)
      const newId = made?.id ?? (await repo.saveUnpacked('snapshots', bytes))
      await repo.backend.remove({ type: 'snapshots', name: id })
      result.changed.push({ oldId: id, newId, tags })
    } catch (err) {
      result.failed++
      onWarning(`Unable to modify the tags of snapshot ${id.slice(0, 8)}, ignoring: ${messageOf(err)}`)
    }
  }
  return result
}
