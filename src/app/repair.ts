import { hostname as osHostname } from 'node:os'
import { currentUser } from '../archiver/index.js'
import type {
  RecoverOptions,
  RecoverResult,
  RepairIndexProgress,
  RepairIndexResult,
  RepairSnapshotsOptions,
  RepairSnapshotsResult,
} from '../maintenance/index.js'
import { findSnapshot } from '../snapshots/index.js'
import { maintenance } from './lazy-layers.js'
import { withRepository, type RepositoryOptions } from './session.js'

export type { RecoverResult, RepairIndexResult, RepairSnapshotsResult } from '../maintenance/index.js'

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

export interface RecoverRequest {
  /** The new snapshot's host (default: this machine's name, as restic). */
  hostname?: string
  signal?: AbortSignal
  progress?: RecoverOptions['progress']
}

/**
 * `recover`: a snapshot of every tree no snapshot reaches, under an exclusive lock, since it may
 * index packs first (restic does the same).
 */
export async function runRecover(o: RepositoryOptions, req: RecoverRequest = {}): Promise<RecoverResult> {
  const { recover } = await maintenance()
  const user = currentUser()
  return withRepository({ ...o, noLock: false }, 'exclusive', (repo) =>
    recover(repo, { hostname: req.hostname ?? osHostname(), username: user.name, uid: user.uid, gid: user.gid, signal: req.signal, progress: req.progress }),
  )
}
