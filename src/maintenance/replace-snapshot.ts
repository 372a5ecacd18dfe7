import type { Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import { encodeSnapshot, type Snapshot, type SnapshotEntry } from '../snapshots/index.js'

/**
 * Saves a snapshot again with a new tree, as the commands that rewrite snapshots do (`rewrite`,
 * `repair snapshots`): every other field is kept, `original` is set to the old ID, and the new
 * one is tagged `tag` unless `forget` removes the original. The original is removed only after
 * the new one is saved, so a crash leaves both, never neither; given the `existing` snapshots, a
 * second run finds the new one made before the crash (or by an earlier run that kept the
 * original) and saves no other: `reused` says so.
 */
export async function replaceSnapshot(
  repo: Pick<Repository, 'saveUnpacked' | 'backend'>,
  entry: SnapshotEntry,
  tree: Id,
  options: { tag: string; forget: boolean; existing?: readonly SnapshotEntry[] },
): Promise<{ newId: Id; removed: boolean; reused: boolean }> {
  // A run cut short between saving the new snapshot and removing the original: the new one is
  // there already, so running again finishes the job instead of saving it a second time.
  const made = options.existing?.find((e) => e.snapshot.original === entry.id && e.snapshot.tree === tree && e.id !== entry.id)
  if (made !== undefined) {
    if (options.forget) await repo.backend.remove({ type: 'snapshots', name: entry.id })
    return { newId: made.id, removed: options.forget, reused: true }
  }
  const tags = entry.snapshot.tags ?? []
  const snapshot: Snapshot = {
    ...entry.snapshot,
    tree,
    original: entry.id,
    tags: options.forget || tags.includes(options.tag) ? tags : [...tags, options.tag],
  }
  const newId = await repo.saveUnpacked('snapshots', encodeSnapshot(snapshot))
  if (options.forget) await repo.backend.remove({ type: 'snapshots', name: entry.id })
  return { newId, removed: options.forget, reused: false }
}
