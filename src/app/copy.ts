import { AppError, createLimit, type Id } from '../base/index.js'
import {
  createInlineEncoder,
  createWorkerEncoder,
  type BlobWriter,
  type PackedBlob,
  type Repository,
  type WriterOptions,
} from '../repository/index.js'
import { decodeTree, encodeSnapshot, parseGoTime, type Snapshot, type SnapshotEntry, type SnapshotFilter } from '../snapshots/index.js'
import { selectSnapshots } from './snapshot-selection.js'

export interface CopyRequest {
  /** Source snapshot IDs, prefixes or "latest"; when empty, every snapshot matching `filter`. */
  snapshots?: string[]
  /**
   * Host, tag and path filters. As in restic they also narrow the destination snapshots that
   * count as earlier copies.
   */
  filter?: SnapshotFilter
  signal?: AbortSignal
  progress?: CopyProgress
  /** Pack size and compression for the destination (compression is off in version 1 repositories). */
  writer?: WriterOptions
  /** Threads compressing and encrypting; 0 does it on this thread. Default: up to 4. */
  threads?: number
}

/** What copySnapshots tells as it goes; every member is optional. */
export interface CopyProgress {
  /** A selected source snapshot is looked at (restic: "snapshot X of [paths] at T"). */
  snapshotStarted?(source: SnapshotEntry): void
  /** The destination has a copy of it already (`copyId`), so nothing is done. */
  snapshotSkipped?(source: SnapshotEntry, copyId: Id): void
  /** Its trees are walked and the missing blobs copied (restic: "copy started"). */
  copyStarted?(source: SnapshotEntry): void
  /** The source packs holding the missing data blobs are known; they are read next. */
  packsPlanned?(source: SnapshotEntry, packs: number): void
  /** A blob was stored in the destination; the totals so far. */
  blobCopied?(totals: CopyTotals): void
  /** One more source pack was read. */
  packRead?(done: number, total: number): void
  /** The snapshot file was written to the destination as `id`. */
  snapshotCopied?(source: SnapshotEntry, id: Id): void
}

/** Blobs and bytes this copy stored in the destination. */
export interface CopyTotals {
  dataBlobs: number
  treeBlobs: number
  /** Plaintext bytes of the blobs stored. */
  bytes: number
  /** Source data packs read (tree packs are read whole while walking, and not counted). */
  packsRead: number
}

export interface CopiedSnapshot {
  sourceId: Id
  /** The new snapshot's ID in the destination. */
  id: Id
  snapshot: Snapshot
}

export interface SkippedSnapshot {
  sourceId: Id
  /** The destination snapshot that is already a copy of it. */
  copyId: Id
}

export interface CopyResult extends CopyTotals {
  copied: CopiedSnapshot[]
  skipped: SkippedSnapshot[]
}

type SourceRepo = Pick<Repository, 'listIds' | 'loadUnpacked' | 'loadIndex' | 'loadBlob' | 'readPackBlobs' | 'index' | 'backend'>
type DestinationRepo = Pick<Repository, 'listIds' | 'loadUnpacked' | 'loadIndex' | 'saveUnpacked' | 'withWriter' | 'key'>

/**
 * restic's similarSnapshots: two snapshots are the same backup when everything but `parent`
 * and `original` matches (the same instant, tree, host, user, uid, gid, excludes in order, and
 * the same paths and tags as sets of equal length). `copy` skips a source snapshot when such a
 * destination snapshot carries its ID (or its `original`) as ID or `original`.
 */
export function similarSnapshots(a: Snapshot, b: Snapshot): boolean {
  if (!sameInstant(a.time, b.time) || a.tree !== b.tree) return false
  if ((a.hostname ?? '') !== (b.hostname ?? '') || (a.username ?? '') !== (b.username ?? '')) return false
  if ((a.uid ?? 0) !== (b.uid ?? 0) || (a.gid ?? 0) !== (b.gid ?? 0)) return false
  const aExcludes = a.excludes ?? []
  const bExcludes = b.excludes ?? []
  const aTags = a.tags ?? []
  const bTags = b.tags ?? []
  if (a.paths.length !== b.paths.length || aExcludes.length !== bExcludes.length || aTags.length !== bTags.length) return false
  if (!b.paths.every((p) => a.paths.includes(p))) return false
  for (const tag of bTags) {
    // restic's HasTags: an empty tag matches a snapshot without tags
    if (tag === '' && aTags.length === 0) break
    if (!aTags.includes(tag)) return false
  }
  return aExcludes.every((e, i) => e === bExcludes[i])
}

function sameInstant(a: string, b: string): boolean {
  try {
    return parseGoTime(a) === parseGoTime(b)
  } catch {
    return a === b
  }
}

/**
 * Copies snapshots from `src` to `dst` as restic's `copy` does: snapshots the destination
 * already holds a copy of are skipped; for each other one, every tree is walked and the tree
 * and data blobs the destination lacks are stored there (decrypted with the source's key,
 * compressed as the destination's version allows and sealed with its key), then the snapshot
 * is saved with `parent` dropped and `original` set to the source's original or ID.
 *
 * Data blobs are read pack by pack (`readPackBlobs`), each needed source pack once; trees come
 * through the source's tree pack cache. Blobs and their index are flushed before each snapshot
 * file is written, so an interrupted copy never leaves a snapshot without its data. Locks are
 * the caller's (restic takes shared locks on both).
 *
 * @example
 * const result = await copySnapshots(src, dst, { snapshots: ['latest'] })
 */
export async function copySnapshots(
  src: SourceRepo,
  dst: DestinationRepo,
  req: CopyRequest = {},
  onWarning: (message: string) => void = () => {},
): Promise<CopyResult> {
  const filter = req.filter ?? {}
  await src.loadIndex()
  await dst.loadIndex()
  const copies = new Map<Id, SnapshotEntry[]>()
  for (const e of await selectSnapshots(dst, { filter }, onWarning)) {
    if (e.snapshot.original !== undefined) addTo(copies, e.snapshot.original, e)
    // a snapshot copied again into its own kind of repository is its own copy
    addTo(copies, e.id, e)
  }
  const selected = await selectSnapshots(src, { ids: req.snapshots, filter }, onWarning)

  const result: CopyResult = { copied: [], skipped: [], dataBlobs: 0, treeBlobs: 0, bytes: 0, packsRead: 0 }
  const visited = new Set<Id>()
  let encoder: ReturnType<typeof createInlineEncoder> | undefined
  try {
    for (const entry of selected) {
      req.signal?.throwIfAborted()
      req.progress?.snapshotStarted?.(entry)
      const original = entry.snapshot.original ?? entry.id
      const copy = copies.get(original)?.find((c) => similarSnapshots(c.snapshot, entry.snapshot))
      if (copy !== undefined) {
        result.skipped.push({ sourceId: entry.id, copyId: copy.id })
        req.progress?.snapshotSkipped?.(entry, copy.id)
        continue
      }
      req.progress?.copyStarted?.(entry)
      encoder ??= req.threads === 0 ? createInlineEncoder(dst.key) : createWorkerEncoder(dst.key, req.threads)
      const enc = encoder
      await dst.withWriter((w) => copyBlobs(src, w, entry, visited, result, req), { ...req.writer, encoder: enc })
      const snapshot: Snapshot = { ...entry.snapshot, original }
      delete snapshot.parent
      const id = await dst.saveUnpacked('snapshots', encodeSnapshot(snapshot))
      const copied = { sourceId: entry.id, id, snapshot }
      result.copied.push(copied)
      addTo(copies, original, { id, snapshot })
      req.progress?.snapshotCopied?.(entry, id)
    }
  } finally {
    await encoder?.close()
  }
  return result
}

function addTo(map: Map<Id, SnapshotEntry[]>, key: Id, e: SnapshotEntry): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [e])
  else list.push(e)
}

/**
 * Walks the snapshot's trees (each tree once per run), storing the trees the destination lacks
 * as they are read, and collecting the missing data blobs by source pack; then reads each of
 * those packs once and stores the blobs.
 */
async function copyBlobs(src: SourceRepo, w: BlobWriter, entry: SnapshotEntry, visited: Set<Id>, totals: CopyResult, req: CopyRequest): Promise<void> {
  // After the first failure, work still queued stops at once instead of reading on.
  let failure: unknown
  const checkGoing = () => {
    if (failure !== undefined) throw failure
    req.signal?.throwIfAborted()
  }
  const guard = async (fn: () => Promise<void>): Promise<void> => {
    try {
      checkGoing()
      await fn()
    } catch (err) {
      failure ??= err
      throw err
    }
  }
  const byPack = new Map<Id, PackedBlob[]>()
  const wanted = new Set<Id>()
  const limit = createLimit(8)
  const store = async (type: 'data' | 'tree', plain: Buffer, id: Id): Promise<void> => {
    const saved = await w.saveBlob(type, plain, id)
    if (saved.known) return
    if (type === 'data') totals.dataBlobs++
    else totals.treeBlobs++
    totals.bytes += plain.length
    req.progress?.blobCopied?.({ dataBlobs: totals.dataBlobs, treeBlobs: totals.treeBlobs, bytes: totals.bytes, packsRead: totals.packsRead })
  }
  const visit = (treeId: Id, parent: Id | undefined): Promise<void> => guard(async () => {
    const plain = await limit(async () => {
      checkGoing()
      return loadTree(src, treeId, parent, entry.id)
    })
    if (!w.has('tree', treeId)) await store('tree', plain, treeId)
    const next: Promise<void>[] = []
    for (const node of decodeTree(plain)) {
      for (const id of node.content ?? []) {
        if (wanted.has(id) || w.has('data', id)) continue
        const loc = src.index.lookup('data', id)
        if (loc === undefined) {
          throw new AppError('NOT_FOUND', `Cannot copy snapshot ${entry.id.slice(0, 8)}: data blob ${id} of tree ${treeId.slice(0, 8)} is not in the source index`, {
            hint: 'Run "cairn check" on the source repository (or "cairn repair" it) before copying',
          })
        }
        wanted.add(id)
        const { packId, ...blob } = loc
        const list = byPack.get(packId)
        if (list === undefined) byPack.set(packId, [blob])
        else list.push(blob)
      }
      if (node.subtree !== undefined && !visited.has(node.subtree)) {
        visited.add(node.subtree)
        next.push(visit(node.subtree, treeId))
      }
    }
    await Promise.all(next)
  })
  if (!visited.has(entry.snapshot.tree)) {
    visited.add(entry.snapshot.tree)
    await visit(entry.snapshot.tree, undefined)
  }

  req.progress?.packsPlanned?.(entry, byPack.size)
  const packLimit = createLimit(Math.max(1, src.backend.properties.connections))
  let done = 0
  await Promise.all(
    [...byPack].map(([packId, blobs]) =>
      packLimit(() =>
        guard(async () => {
          await src.readPackBlobs(packId, blobs, (b, plain) => store('data', plain, b.id))
          totals.packsRead++
          req.progress?.packRead?.(++done, byPack.size)
        }),
      ),
    ),
  )
}

async function loadTree(src: SourceRepo, id: Id, parent: Id | undefined, snapshot: Id): Promise<Buffer> {
  if (!src.index.has('tree', id)) {
    const where = parent === undefined ? `root tree of snapshot ${snapshot.slice(0, 8)}` : `tree ${id} (in tree ${parent.slice(0, 8)})`
    throw new AppError('NOT_FOUND', `Cannot copy snapshot ${snapshot.slice(0, 8)}: the ${where} is not in the source index`, {
      hint: 'Run "cairn check" on the source repository before copying',
    })
  }
  return src.loadBlob('tree', id)
}

// The second repository's flags are shared with `init --copy-chunker-params`.
export { fromRepositoryOptions, fromRepositoryUrl, namesFromRepository, openFromRepository, withFromRepository, type FromRepositoryFlags } from './from-repository.js'
