import type {
  RepairIndexProgress,
  RepairIndexResult,
  RepairSnapshotsOptions,
  RepairSnapshotsResult,
} from '../maintenance/index.js'
import { findSnapshot } from '../snapshots/index.js'
import { maintenance } from './lazy-layers.js'
import { withRepository, type RepositoryOptions } from './session.js'

export type { RepairIndexResult, RepairSnapshotsResult } from '../maintenance/index.js'

export interface RepairIndexRequest {
  readAllPacks?: boolean
  signal?: AbortSignal
  progress?: RepairIndexProgress
}

/** `repair index` (restic 0.14: `rebuild-index`): always under an exclusive lock, even with --no-lock. */
export async function runRepairIndex(o: RepositoryOptions, req: RepairIndexRequest = {}): Promise<RepairIndexResult> {
  const { repairIndex } = await maintenance()
  return withRepository({ ...o, noLock: false }, 'exclusive', (repo) => repairIndex(repo, req))
}

export interface RepairSnapshotsRequest {
  forget?: boolean
  dryRun?: boolean
  /** Snapshot IDs or unique prefixes; all snapshots when empty. */
  snapshots?: string[]
  signal?: AbortSignal
  progress?: RepairSnapshotsOptions['progress']
}

/**
 * `repair snapshots`: under an exclusive lock, or none for a dry run (which changes nothing),
 * as restic does.
 */
export async function runRepairSnapshots(o: RepositoryOptions, req: RepairSnapshotsRequest = {}): Promise<RepairSnapshotsResult> {
  const { repairSnapshots } = await maintenance()
  const mode = req.dryRun ? 'none' : 'exclusive'
  return withRepository({ ...o, noLock: req.dryRun === true }, mode, async (repo) => {
    await repo.loadIndex()
    let snapshotIds: string[] | undefined
    if (req.snapshots !== undefined && req.snapshots.length > 0) {
      snapshotIds = []
      for (const spec of req.snapshots) snapshotIds.push((await findSnapshot(repo, spec)).id)
    }
    return repairSnapshots(repo, { forget: req.forget, dryRun: req.dryRun, snapshotIds, signal: req.signal, progress: req.progress })
  })
}
