import { AppError, createLimit, isAppError, messageOf, type Id } from '../base/index.js'
import { plaintextLength, type Repository } from '../repository/index.js'
import { decodeTree, goStringFromBytes, type Node, type SnapshotFilter } from '../snapshots/index.js'
import { selectSnapshots } from './snapshot-selection.js'
import { subtreesOf, TreeLoader } from './tree-loader.js'

export const STATS_MODES = ['restore-size', 'files-by-contents', 'raw-data', 'blobs-per-file'] as const
export type StatsMode = (typeof STATS_MODES)[number]

export interface StatsRequest {
  /** Snapshot IDs, prefixes or "latest"; when empty, every snapshot matching `filter`. */
  snapshots?: string[]
  filter?: SnapshotFilter
  mode?: StatsMode
  signal?: AbortSignal
}

/** restic's statistics; the compression figures only in raw-data mode on a version 2 repository. */
export interface StatsResult {
  mode: StatsMode
  snapshotsCount: number
  totalSize: number
  totalFileCount: number
  totalBlobCount: number
  /** Size the blobs would take without compression (plaintext plus encryption overhead). */
  totalUncompressedSize?: number
  /** Uncompressed ÷ stored size, over the compressed blobs. */
  compressionRatio?: number
  /** Percentage of the data (by uncompressed size) that is stored compressed. */
  compressionProgress?: number
  /** Percentage saved: 1 − stored ÷ uncompressed size. */
  compressionSpaceSaving?: number
}

type StatsRepo = Pick<Repository, 'loadBlobWith' | 'listIds' | 'loadUnpacked' | 'loadIndex' | 'index' | 'blobSize' | 'version'>

const CRYPTO_OVERHEAD = 32

/**
 * restic's `stats` in its four counting modes:
 * - restore-size: every entry of every snapshot, sizes of hard-linked files once per snapshot;
 * - files-by-contents: files counted once per distinct content;
 * - blobs-per-file: the blobs of each distinct content, counted once per path;
 * - raw-data: every blob the snapshots use, once, at its stored (encrypted, compressed) size,
 *   with the compression figures of restic 0.15 and later.
 *
 * @example
 * const s = await collectStats(repo, { mode: 'raw-data' })
 */
export async function collectStats(repo: StatsRepo, req: StatsRequest, onWarning: (message: string) => void = () => {}): Promise<StatsResult> {
  const mode = req.mode ?? 'restore-size'
  if (!STATS_MODES.includes(mode)) {
    throw new AppError('INVALID_ARGUMENT', `Unknown counting mode "${String(mode)}"`, { hint: `Use one of: ${STATS_MODES.join(', ')}` })
  }
  await repo.loadIndex()
  const entries = await selectSnapshots(repo, { ids: req.snapshots, filter: req.filter }, onWarning)
  const result: StatsResult = { mode, snapshotsCount: entries.length, totalSize: 0, totalFileCount: 0, totalBlobCount: 0 }
  if (mode === 'raw-data') {
    await rawData(repo, entries.map((e) => e.snapshot.tree), result, req.signal)
    return result
  }

  const trees = new TreeLoader(repo)
  const contents = new Set<string>()
  const fileBlobs = new Map<string, Set<Id>>()
  for (const e of entries) {
    req.signal?.throwIfAborted()
    try {
      await statsOf(e)
    } catch (err) {
      if (!isAppError(err) || err.code === 'INTERRUPTED') throw err
      throw new AppError(err.code, `Snapshot ${e.id.slice(0, 8)}: ${err.message}`, { ...(err.hint === undefined ? {} : { hint: err.hint }), cause: err })
    }
  }
  return result

  async function statsOf(e: (typeof entries)[number]): Promise<void> {
    if (mode === 'restore-size') {
      const inodes = new Set<bigint>()
      await walk(trees, e.snapshot.tree, '', undefined, (_path, node) => {
        result.totalFileCount++
        if (node.inode === 0n || !inodes.has(node.inode)) {
          inodes.add(node.inode)
          result.totalSize += node.size
        }
      })
      return
    }
    // restic skips a subtree seen before in the same snapshot: its files have been counted.
    await walk(trees, e.snapshot.tree, '', new Set(), (path, node, parent) => {
      const key = (node.content ?? []).join('')
      if (contents.has(key)) return
      contents.add(key)
      if (mode === 'files-by-contents') {
        result.totalSize += node.size
        result.totalFileCount++
        return
      }
      for (const id of node.content ?? []) {
        let seen = fileBlobs.get(path)
        if (seen === undefined) {
          seen = new Set()
          fileBlobs.set(path, seen)
          result.totalFileCount++
        }
        if (seen.has(id)) continue
        const size = repo.blobSize('data', id)
        if (size === undefined) throw new AppError('NOT_FOUND', `Blob ${id} not found for tree ${parent}`, { hint: 'Run "cairn check" to see what is damaged' })
        result.totalSize += size
        seen.add(id)
        result.totalBlobCount++
      }
    })
  }
}

/** Depth-first in name order; subtrees in `skip` are not entered, and each entered one is added to it. */
async function walk(trees: TreeLoader, tree: Id, prefix: string, skip: Set<Id> | undefined, visit: (path: string, node: Node, parent: Id) => void): Promise<void> {
  let nodes: Node[]
  try {
    nodes = await trees.load(tree)
  } catch (err) {
    throw isAppError(err, 'INTERRUPTED') ? err : new AppError(isAppError(err) ? err.code : 'IO', `Cannot read the folder ${prefix === '' ? '/' : prefix} (tree ${tree.slice(0, 8)}): ${messageOf(err)}`, { hint: 'Run "cairn check" to see what is damaged', cause: err })
  }
  trees.prefetch(skip ? subtreesOf(nodes).filter((id) => !skip.has(id)) : subtreesOf(nodes))
  for (const node of nodes) {
    if (node.type === 'dir' && node.subtree !== undefined && skip?.has(node.subtree)) {
      trees.forget(node.subtree)
      continue
    }
    const path = `${prefix}/${goStringFromBytes(node.name)}`
    visit(path, node, tree)
    if (node.type === 'dir' && node.subtree !== undefined) {
      skip?.add(node.subtree)
      await walk(trees, node.subtree, path, skip, visit)
    }
  }
}

/** Every tree and data blob reachable from the roots, each once; then their stored sizes. */
async function rawData(repo: StatsRepo, roots: Id[], result: StatsResult, signal: AbortSignal | undefined): Promise<void> {
  const seenTrees = new Set<Id>()
  const dataBlobs = new Set<Id>()
  const limit = createLimit(8)
  const visit = async (id: Id): Promise<void> => {
    signal?.throwIfAborted()
    const nodes = await limit(() => repo.loadBlobWith('tree', id, decodeTree))
    const next: Promise<void>[] = []
    for (const node of nodes) {
      if (node.type === 'file') for (const b of node.content ?? []) dataBlobs.add(b)
      else if (node.type === 'dir' && node.subtree !== undefined && !seenTrees.has(node.subtree)) {
        seenTrees.add(node.subtree)
        next.push(visit(node.subtree))
      }
    }
    await Promise.all(next)
  }
  const starts: Promise<void>[] = []
  for (const root of roots) {
    if (seenTrees.has(root)) continue
    seenTrees.add(root)
    starts.push(visit(root))
  }
  await Promise.all(starts)

  let compressed = 0
  let compressedUncompressed = 0
  let uncompressed = 0
  const count = (type: 'tree' | 'data', id: Id) => {
    const loc = repo.index.lookup(type, id)
    if (loc === undefined) throw new AppError('NOT_FOUND', `The ${type} blob ${id} was not found in the index`, { hint: 'Run "cairn check" to see what is damaged' })
    result.totalSize += loc.length
    result.totalBlobCount++
    const full = plaintextLength(loc) + CRYPTO_OVERHEAD
    uncompressed += full
    if (loc.uncompressedLength !== 0) {
      compressed += loc.length
      compressedUncompressed += full
    }
  }
  for (const id of seenTrees) count('tree', id)
  for (const id of dataBlobs) count('data', id)
  if (repo.version >= 2) {
    result.totalUncompressedSize = uncompressed
    if (compressed > 0) result.compressionRatio = compressedUncompressed / compressed
    if (uncompressed > 0) {
      result.compressionProgress = (compressedUncompressed / uncompressed) * 100
      result.compressionSpaceSaving = (1 - result.totalSize / uncompressed) * 100
    }
  }
}
