import type { Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import { encodeSnapshot, type Snapshot, type SnapshotEntry } from '../snapshots/index.js'

/**
 * Saves a snapshot again with a new tree, as the commands that rewrite snapshots do (`rewrite`,
 * `repair snapshots`): every other field is kept, `original` is set to the old ID, and the new
 * one is tagged `tag` unless `forget` removes the original. The original is removed only after
 * the new one is saved, so a crash leaves both, never neither.
 */
export async function replaceSnapshot(
  repo: Pick<Repository, 'saveUnpacked' | 'backend'>,
  entry: SnapshotEntry,
  tree: Id,
  options: { tag: string; forget: boolean },
): Promise<{ newId: Id; removed: boolean }> {
  const tags = entry.snapshot.tags ?? []
  const snapshot: Snapshot = {
    ...entry.snapshot,
    tree,
    original: entry.id,
    tags: options.forget || tags.includes(options.tag) ? tags : [...tags, options.tag],
  }
  const newId = await repo.saveUnpacked('snapshots', encodeSnapshot(snapshot))
  if (options.forget) await repo.backend.remove({ type: 'snapshots', name: entry.id })
  return { newId, removed: options.forget }
}
