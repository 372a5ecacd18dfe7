/**
 * Prune: remove data that no snapshot uses, as restic 0.14 does it, planned first and then
 * executed so that `--dry-run` is only the plan. Execution order keeps every moment safe to
 * crash in: new packs, then a new index covering every remaining pack (superseding all old index
 * files), then deleting old index files, and only then deleting packs.
 */
import { AppError, messageOf, shortId, type Id } from '../base/index.js'
import type { BlobLocation, BlobType, IndexPack, PackedBlob, Repository, WriterOptions } from '../repository/index.js'
import { loadSnapshots } from '../snapshots/index.js'
import { deleteFiles, repackPacks, writeIndexFiles } from './prune-execute.js'
import { type MaxUnused } from './prune-options.js'
import { classifyBlobs, copyKey, decidePacks, emptyPruneStats, type PruneStats } from './prune-plan.js'
import { BlobSet, findUsedBlobs } from './used-blobs.js'

export type PruneRepo = Pick<
  Repository,
  'backend' | 'key' | 'version' | 'index' | 'loadIndex' | 'listIds' | 'loadUnpacked' | 'saveUnpacked' | 'saveFramedUnpacked' | 'loadBlob' | 'loadBlobWith' | 'decodeBlob' | 'writerDefaults'
>

export type PrunePhase =
  | 'load-index'
  | 'load-snapshots'
  | 'find-used'
  | 'plan'
  | 'repack'
  | 'write-index'
  | 'delete-index'
  | 'delete-packs'
  | 'done'

/** Progress callbacks; all optional. Counts are (done, total). */
export interface PruneProgress {
  phase?: (phase: PrunePhase, detail?: { snapshots?: number; packs?: number; files?: number }) => void
  treeLoaded?: (count: number) => void
  packRepacked?: (done: number, total: number) => void
  fileDeleted?: (type: 'data' | 'index', done: number, total: number) => void
}

export interface PruneOptions {
  /** Unused data tolerated after pruning; default 5 %. */
  maxUnused?: MaxUnused
  /** Stop repacking once this many bytes would be repacked; default no limit. */
  maxRepackBytes?: number
  repackUncompressed?: boolean
  repackSmall?: boolean
  repackCacheableOnly?: boolean
  /** Target size of new packs in bytes (default 16 MiB); also sets the "small pack" threshold. */
  packSize?: number
  /** Threads compressing and encrypting repacked blobs; 0 does it on this thread. */
  threads?: number
  /** Snapshots to treat as already deleted (forget --dry-run --prune). */
  ignoreSnapshots?: ReadonlySet<Id>
  signal?: AbortSignal
  progress?: PruneProgress
}

export interface PruneExecution {
  packsRepacked: number
  packsWritten: number
  bytesWritten: number
  indexFilesWritten: number
  indexFilesDeleted: number
  packsDeleted: number
  bytesDeleted: number
  /** Bytes deleted minus bytes written. */
  bytesFreed: number
}

const DEFAULT_PACK_SIZE = 16 * 1024 * 1024
const SMALL_REPACK = 8 * 1024 * 1024

/**
 * Looks at the whole repository and decides what to delete and repack, changing nothing. Takes
 * the repository's exclusive lock for granted. Throws, before any change, when data in use is
 * missing (a tree cannot be loaded, a used blob is in no index, a needed pack is gone or has the
 * wrong size).
 *
 * @example
 * const plan = await planPrune(repo, { maxUnused: parseMaxUnused('5%') })
 * console.log(plan.stats.size.unused)
 * if (!dryRun) await plan.execute()
 */
export async function planPrune(repo: PruneRepo, options: PruneOptions = {}): Promise<PrunePlan> {
  const { signal, progress } = options
  if (options.repackUncompressed && repo.version < 2) {
    throw new AppError('UNSUPPORTED', 'Compression requires repository format version 2', {
      hint: 'Drop --repack-uncompressed, or upgrade the repository with "cairn migrate upgrade_repo_v2"',
    })
  }
  progress?.phase?.('load-index')
  const indexIds: Id[] = []
  await repo.loadIndex({ force: true, onFile: (id) => indexIds.push(id) })

  signal?.throwIfAborted()
  progress?.phase?.('load-snapshots')
  // An unreadable snapshot stops prune: what it uses cannot be known, and might be deleted.
  const snapshots = (
    await loadSnapshots(repo, (id, err) => {
      if (options.ignoreSnapshots?.has(id)) return
      throw new AppError('INVALID_DATA', `Snapshot ${shortId(id)} cannot be read: ${messageOf(err)}; prune needs every snapshot to know which data is used, so nothing was deleted`, {
        hint: `If the file is only unreadable for now (permissions, a network share), fix that and run prune again; if it is damaged and no copy of the repository has it intact, save what it held with "cairn recover", then remove it with "cairn forget ${shortId(id)}"`,
      })
    })
  ).filter((e) => !options.ignoreSnapshots?.has(e.id))
  progress?.phase?.('find-used', { snapshots: snapshots.length })
  const used = await findUsedBlobs(
    repo,
    snapshots.map((e) => e.snapshot.tree),
    { signal, onTree: progress?.treeLoaded },
  )

  signal?.throwIfAborted()
  progress?.phase?.('plan')
  let stats = emptyPruneStats()
  let { packs, duplicated } = classifyBlobs(repo.index, used, stats)
  // Of a blob stored more than once only one copy stays: make sure it is a sound one. Duplicates
  // are few (an interrupted backup, a fresh copy stored beside a damaged one), so they are read.
  const damaged = await verifyDuplicates(repo, duplicated, used, signal)
  if (damaged.size > 0) {
    stats = emptyPruneStats()
    ;({ packs, duplicated } = classifyBlobs(repo.index, used, stats, damaged))
  }
  const stored = new Map<Id, number>()
  for await (const f of repo.backend.list('data')) stored.set(f.name, f.size)
  const size = options.packSize ?? DEFAULT_PACK_SIZE
  const decisions = decidePacks(
    packs,
    stored,
    {
      maxUnused: options.maxUnused ?? { kind: 'percent', percent: 5 },
      maxRepackBytes: options.maxRepackBytes ?? Number.POSITIVE_INFINITY,
      repackUncompressed: options.repackUncompressed === true,
      repackSmall: options.repackSmall === true,
      repackCacheableOnly: options.repackCacheableOnly === true,
      packSize: size,
      version: repo.version,
    },
    stats,
  )

  // The used blobs to copy out of the packs being repacked: one copy each, and none when
  // another copy stays in a pack that is kept. A copy known damaged neither stands in for a
  // sound one nor is copied out while a sound one exists.
  const toCopy = new Map<Id, PackedBlob[]>()
  const keepBlobs = new BlobSet()
  const trusted = soundCopies(damaged)
  if (decisions.repack.size > 0) {
    const survives = (pack: Id) => !decisions.repack.has(pack) && !decisions.remove.has(pack) && !decisions.ignore.has(pack)
    for (const b of repo.index.blobs()) {
      if (!decisions.repack.has(b.packId)) continue
      if (!used.has(b.type, b.id) || keepBlobs.has(b.type, b.id)) continue
      if (duplicated.has(b.type, b.id)) {
        const copies = repo.index.lookupAll(b.type, b.id)
        if (copies.some((loc) => survives(loc.packId) && (trusted?.(loc, copies) ?? true))) continue
        if (trusted !== undefined && !trusted(b, copies)) continue
      }
      keepBlobs.add(b.type, b.id)
      const list = toCopy.get(b.packId)
      if (list) list.push(b)
      else toCopy.set(b.packId, [b])
    }
  }
  return new PrunePlan(repo, {
    ...decisions,
    stats,
    used,
    damaged,
    keepBlobs,
    toCopy,
    indexIds,
    writer: { packSize: size },
    threads: options.threads,
    compressAll: options.repackUncompressed === true,
  })
}

interface PlanParts {
  stats: PruneStats
  unreferenced: Map<Id, number>
  remove: Map<Id, number>
  repack: Map<Id, number>
  ignore: Set<Id>
  used: BlobSet
  /** Copies found damaged among duplicated blobs (copyKey). */
  damaged: ReadonlySet<string>
  keepBlobs: BlobSet
  toCopy: Map<Id, PackedBlob[]>
  indexIds: Id[]
  writer: WriterOptions
  threads?: number
  compressAll: boolean
}

/** What prune will do (see `stats`), and `execute()` to do it. */
export class PrunePlan {
  readonly stats: PruneStats
  /** Packs deleted without repacking: unreferenced ones and those with nothing in use. */
  readonly deletePacks: ReadonlyMap<Id, number>
  readonly repackPacks: ReadonlyMap<Id, number>
  /** Index files that the new index replaces. */
  readonly indexIds: readonly Id[]
  #repo: PruneRepo
  #parts: PlanParts
  #executed = false

  constructor(repo: PruneRepo, parts: PlanParts) {
    this.#repo = repo
    this.#parts = parts
    this.stats = parts.stats
    this.deletePacks = new Map([...parts.unreferenced, ...parts.remove])
    this.repackPacks = parts.repack
    this.indexIds = parts.indexIds
  }

  /** True when pruning would change nothing. */
  get empty(): boolean {
    const p = this.#parts
    return p.unreferenced.size + p.remove.size + p.repack.size + p.ignore.size === 0
  }

  /**
   * Carries the plan out. Interrupting it (signal, crash, SIGKILL) at any point leaves a
   * repository that restic and cairn accept with every snapshot intact; running prune again
   * finishes the job. The repository's in-memory index is stale afterwards.
   */
  async execute(options: { signal?: AbortSignal; progress?: PruneProgress } = {}): Promise<PruneExecution> {
    if (this.#executed) throw new AppError('INTERNAL', 'This prune plan was executed already')
    this.#executed = true
    const { signal, progress } = options
    const repo = this.#repo
    const p = this.#parts
    const result: PruneExecution = {
      packsRepacked: 0,
      packsWritten: 0,
      bytesWritten: 0,
      indexFilesWritten: 0,
      indexFilesDeleted: 0,
      packsDeleted: 0,
      bytesDeleted: 0,
      bytesFreed: 0,
    }
    let newPacks: IndexPack[] = []
    let writerIndexIds: Id[] = []
    if (p.repack.size > 0) {
      progress?.phase?.('repack', { packs: p.repack.size })
      const keep = p.keepBlobs.clone()
      const repacked = await repackPacks(repo, [...p.repack.keys()], p.toCopy, keep, {
        writer: p.writer,
        // Starting worker threads costs more than it saves when there is little to copy.
        threads: p.threads ?? (p.stats.size.repack - p.stats.size.repackrm < SMALL_REPACK ? 0 : undefined),
        compressAll: p.compressAll,
        signal,
        onPack: progress?.packRepacked,
      })
      if (keep.size > 0) {
        throw new AppError('INTERNAL', `${keep.size} blobs were not repacked; nothing was deleted`, { hint: 'Please report this; the repository is unchanged apart from new packs' })
      }
      newPacks = repacked.packs
      writerIndexIds = repacked.indexIds
      result.packsRepacked = p.repack.size
      result.packsWritten = newPacks.length
      result.bytesWritten = repacked.bytes
    }

    const dropped = (id: Id) => p.remove.has(id) || p.repack.has(id) || p.ignore.has(id) || p.unreferenced.has(id)
    if (p.remove.size + p.repack.size + p.ignore.size > 0) {
      signal?.throwIfAborted()
      progress?.phase?.('write-index')
      const remaining: IndexPack[] = []
      for (const pack of repo.index.packs()) if (!dropped(pack.id) && pack.blobs.length > 0) remaining.push(pack)
      remaining.push(...newPacks)
      assertCovers(remaining, p.used, soundCopies(p.damaged), (type, id) => repo.index.lookupAll(type, id))
      const written = await writeIndexFiles(repo, remaining, [...p.indexIds, ...writerIndexIds])
      result.indexFilesWritten = written.length

      signal?.throwIfAborted()
      const obsolete = [...p.indexIds, ...writerIndexIds]
      progress?.phase?.('delete-index', { files: obsolete.length })
      await deleteFiles(repo, 'index', obsolete, { signal, onDeleted: (d, t) => progress?.fileDeleted?.('index', d, t) })
      result.indexFilesDeleted = obsolete.length
    }

    const doomed = [...p.unreferenced, ...p.remove, ...p.repack]
    if (doomed.length > 0) {
      signal?.throwIfAborted()
      progress?.phase?.('delete-packs', { packs: doomed.length })
      await deleteFiles(
        repo,
        'data',
        doomed.map(([id]) => id),
        { signal, onDeleted: (d, t) => progress?.fileDeleted?.('data', d, t) },
      )
      result.packsDeleted = doomed.length
      result.bytesDeleted = doomed.reduce((n, [, size]) => n + size, 0)
    }
    result.bytesFreed = result.bytesDeleted - result.bytesWritten
    progress?.phase?.('done')
    return result
  }
}

/**
 * Whether a copy of a blob (one of `copies`, all of its copies) may be relied on: it is not known
 * damaged, or no copy is known sound.
 */
type Trusted = (copy: BlobLocation, copies: readonly BlobLocation[]) => boolean

/** The Trusted test for the copies verifyDuplicates() found damaged; undefined when there are none. */
function soundCopies(damaged: ReadonlySet<string>): Trusted | undefined {
  if (damaged.size === 0) return undefined
  const sound = (c: BlobLocation) => !damaged.has(copyKey(c.type, c.id, c.packId, c.offset))
  return (copy, copies) => sound(copy) || !copies.some(sound)
}

/**
 * Last line of defence before the old index goes: every blob in use must stay indexed, in a
 * copy that may be relied on (see Trusted) when the old index had one.
 */
function assertCovers(packs: readonly IndexPack[], used: BlobSet, trusted: Trusted | undefined, copiesOf: (type: BlobType, id: Id) => BlobLocation[]): void {
  const missing = used.clone()
  for (const pack of packs) {
    for (const b of pack.blobs) {
      if (!missing.has(b.type, b.id)) continue
      if (trusted !== undefined && !trusted({ ...b, packId: pack.id }, copiesOf(b.type, b.id))) continue
      missing.delete(b.type, b.id)
    }
  }
  if (missing.size > 0) {
    throw new AppError('INTERNAL', `Prune would lose ${missing.size} blobs in use (or keep only a damaged copy of them); stopped before deleting anything`, {
      hint: 'Please report this; the repository is unchanged apart from new packs',
    })
  }
}

/** Data bytes of duplicate copies read to find damaged ones; trees are always read. */
const VERIFY_DUPLICATES_BYTES = 256 * 1024 * 1024

/**
 * Reads every copy of the duplicated blobs in use (trees all, data up to a budget) and returns
 * the keys (copyKey) of the copies that do not decrypt or verify.
 */
async function verifyDuplicates(repo: PruneRepo, duplicated: BlobSet, used: BlobSet, signal?: AbortSignal): Promise<Set<string>> {
  const damaged = new Set<string>()
  let budget = VERIFY_DUPLICATES_BYTES
  for (const b of duplicated) {
    if (!used.has(b.type, b.id)) continue
    const copies = repo.index.lookupAll(b.type, b.id)
    if (b.type === 'data') {
      const bytes = copies.reduce((n, c) => n + c.length, 0)
      if (bytes > budget) continue
      budget -= bytes
    }
    for (const c of copies) {
      signal?.throwIfAborted()
      try {
        repo.decodeBlob(c, await repo.backend.load({ type: 'data', name: c.packId }, c.offset, c.length), c.packId)
      } catch {
        signal?.throwIfAborted()
        damaged.add(copyKey(c.type, c.id, c.packId, c.offset))
      }
    }
  }
  return damaged
}
