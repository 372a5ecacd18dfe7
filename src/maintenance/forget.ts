import type { Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import {
  applyRetention,
  groupSnapshots,
  type GroupBy,
  type KeptSnapshot,
  type RetentionPolicy,
  type SnapshotEntry,
  type SnapshotGroupKey,
} from '../snapshots/index.js'
import { deleteFiles } from './prune-execute.js'

/** One group of snapshots with the policy applied: what stays and what goes, newest first. */
export interface ForgetGroup {
  key: SnapshotGroupKey
  keep: KeptSnapshot[]
  remove: SnapshotEntry[]
}

/**
 * Groups the snapshots (by host and paths unless told otherwise) and applies the policy to each
 * group, as restic's forget does. Pure: `now` only matters for `within` policies.
 *
 * @example
 * const groups = planForget(await loadSnapshots(repo), { daily: 7 }, 'host,paths')
 * const doomed = groups.flatMap((g) => g.remove.map((e) => e.id))
 */
export function planForget(
  entries: readonly SnapshotEntry[],
  policy: RetentionPolicy,
  groupBy: GroupBy | string = 'host,paths',
  now?: Date,
): ForgetGroup[] {
  return groupSnapshots(entries, groupBy).map((g) => {
    const { keep, remove } = applyRetention(g.entries, policy, now)
    return { key: g.key, keep, remove }
  })
}

/**
 * Deletes snapshot files. Only the snapshots go: the data they referenced stays until prune.
 * Stops at the first failure (the snapshots deleted until then are gone).
 */
export async function removeSnapshots(
  repo: Pick<Repository, 'backend'>,
  ids: readonly Id[],
  options: { signal?: AbortSignal; onRemoved?: (done: number, total: number) => void } = {},
): Promise<void> {
  await deleteFiles(repo, 'snapshots', ids, { signal: options.signal, onDeleted: options.onRemoved })
}
