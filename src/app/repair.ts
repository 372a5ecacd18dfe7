import { readFile, writeFile } from 'node:fs/promises'
import { hostname as osHostname } from 'node:os'
import { join } from 'node:path'
import { AppError, errnoCode, type Id } from '../base/index.js'
import { currentUser } from '../archiver/index.js'
import type {
  RecoverOptions,
  RecoverResult,
  RepairIndexProgress,
  RepairIndexResult,
  RepairPacksResult,
  SalvagedPack,
  RepairSnapshotsOptions,
  RepairSnapshotsResult,
} from '../maintenance/index.js'
import { findSnapshot } from '../snapshots/index.js'
import { maintenance } from './lazy-layers.js'
import { forWriting, withRepository, type RepositoryOptions } from './session.js'

export type { RecoverResult, RepairIndexResult, RepairPacksResult, RepairSnapshotsResult, SalvagedPack } from '../maintenance/index.js'

export interface RepairIndexRequest {
  readAllPacks?: boolean
  signal?: AbortSignal
  progress?: RepairIndexProgress
}

/** `repair index` (restic 0.14: `rebuild-index`): always under an exclusive lock, even with --no-lock. */
export async function runRepairIndex(o: RepositoryOptions, req: RepairIndexRequest = {}): Promise<RepairIndexResult> {
  const { repairIndex } = await maintenance()
  return withRepository(forWriting(o), 'exclusive', (repo) => repairIndex(repo, req))
}

export interface RepairPacksRequest {
  /** Pack IDs or unique prefixes of them. */
  packs: string[]
  /** Where a copy of each pack is saved first, as "pack-<ID>" (restic: the current folder). */
  copiesDir: string
  signal?: AbortSignal
  onCopied?: (id: Id, path: string) => void
  onPack?: (pack: SalvagedPack) => void
}

/**
 * `repair packs`, under an exclusive lock: saves a copy of each pack, stores again every blob in
 * them that is intact, drops them from the index and deletes them.
 */
export async function runRepairPacks(o: RepositoryOptions, req: RepairPacksRequest): Promise<RepairPacksResult> {
  if (req.packs.length === 0) throw new AppError('INVALID_ARGUMENT', 'No pack IDs given', { hint: 'Name the damaged packs that "cairn check --read-data" reports, e.g. cairn repair packs 1a2b3c4d' })
  const { repairPacks } = await maintenance()
  return withRepository(forWriting(o), 'exclusive', async (repo) => {
    const all: Id[] = []
    for await (const f of repo.backend.list('data', { namesOnly: true })) all.push(f.name)
    const ids = new Set<Id>()
    for (const spec of req.packs) {
      const hits = /^[0-9a-f]{1,64}$/.test(spec) ? all.filter((id) => id.startsWith(spec)) : []
      if (hits.length > 1) throw new AppError('INVALID_ARGUMENT', `Pack ID prefix "${spec}" is ambiguous (${hits.length} packs)`, { hint: 'Give more characters of the ID' })
      // A pack the index lists but whose file is gone is taken by its full ID.
      if (hits.length === 0 && !/^[0-9a-f]{64}$/.test(spec)) {
        throw new AppError('NOT_FOUND', `No pack file with ID "${spec}" in the repository`, { hint: 'Give the IDs "cairn check --read-data" reports; a missing pack needs its full ID' })
      }
      ids.add(hits[0] ?? spec)
    }
    return repairPacks(repo, [...ids], {
      signal: req.signal,
      onPack: req.onPack,
      onPackRead: async (id, bytes) => {
        const path = join(req.copiesDir, `pack-${id}`)
        try {
          await writeFile(path, bytes, { flag: 'wx' })
        } catch (err) {
          // The copy an earlier run that was cut short saved is as good as a new one.
          const same = errnoCode(err) === 'EEXIST' && (await readFile(path).then((old) => old.equals(bytes), () => false))
          if (!same) {
            const inTheWay = errnoCode(err) === 'EEXIST'
            throw new AppError('IO', `Cannot save a copy of pack ${id} as "${path}": ${inTheWay ? 'a different file of that name is there' : (err as Error).message}; nothing was changed`, {
              hint: inTheWay
                ? 'It may be the copy of an earlier run, holding the pack as it was then: move it somewhere safe, then run the command again'
                : 'Run the command from a folder where it may write and that has no such file yet',
              cause: err,
            })
          }
        }
        req.onCopied?.(id, path)
      },
    })
  })
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
  return withRepository(req.dryRun === true ? { ...o, noLock: true } : forWriting(o), mode, async (repo) => {
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
  return withRepository(forWriting(o), 'exclusive', (repo) =>
    recover(repo, { hostname: req.hostname ?? osHostname(), username: user.name, uid: user.uid, gid: user.gid, signal: req.signal, progress: req.progress }),
  )
}
