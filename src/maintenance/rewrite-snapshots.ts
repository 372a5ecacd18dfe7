import { hashId, type Id } from '../base/index.js'
import type { BlobWriter, Repository } from '../repository/index.js'
import { decodeTree, encodeTree, type Node, type SnapshotEntry } from '../snapshots/index.js'
import { replaceSnapshot } from './replace-snapshot.js'

export interface RewriteSnapshotsOptions {
  /**
   * True for a path of a snapshot (absolute: "/home/me/secret.txt") that the new snapshot leaves
   * out, with everything below it.
   */
  excluded: (path: string, node: Node) => boolean
  /** Remove each original once its new version is saved (the new one is then not tagged). */
  forget?: boolean
  /** Work out and report what would change, but write and remove nothing. */
  dryRun?: boolean
  /** Every snapshot of the repository: a rewrite that an earlier, interrupted run saved is not saved again. */
  existing?: readonly SnapshotEntry[]
  signal?: AbortSignal
  progress?: { snapshot?(entry: SnapshotEntry, done: number, total: number): void }
}

export interface RewrittenSnapshot {
  entry: SnapshotEntry
  /** The paths left out, outermost only (a folder's contents are not listed). */
  removedPaths: string[]
  /** The new snapshot (absent in a dry run). */
  newId?: Id
  /** The new snapshot was there already, saved by an earlier run: nothing was saved now. */
  reused?: boolean
  /** The original was removed (`forget`). */
  removed: boolean
}

export interface RewriteSnapshotsResult {
  /** Snapshots that held an excluded path, in the order given. */
  rewritten: RewrittenSnapshot[]
  /** Snapshots that held none. */
  unchanged: number
}

export type RewriteSnapshotsRepo = Pick<Repository, 'backend' | 'loadBlob' | 'saveUnpacked' | 'withWriter'>

/** A tree after the rewrite: its ID (the old one when nothing was left out) and what was left out. */
interface RewrittenTree {
  id: Id
  removedPaths: string[]
}

/**
 * Rewrites snapshots without the paths `excluded` picks, as restic's `rewrite`: the new snapshot
 * keeps every other field (time, host, paths, tags), sets `original` to the old ID and is tagged
 * `rewrite`, unless `forget` removes the original. A snapshot that holds no excluded path is left
 * as it is. Trees with nothing left out keep their ID; new trees are written before the snapshot
 * that uses them, so a crash leaves at worst unused trees. The data of what was left out stays
 * until `prune` finds it unused.
 *
 * @example
 * await rewriteSnapshots(repo, entries, { excluded: (p) => p.endsWith('/.env'), forget: true })
 */
export async function rewriteSnapshots(repo: RewriteSnapshotsRepo, entries: readonly SnapshotEntry[], options: RewriteSnapshotsOptions): Promise<RewriteSnapshotsResult> {
  const { signal, dryRun = false, forget = false } = options
  // A tree rewritten once is the same wherever the same tree sits at the same path.
  const done = new Map<string, RewrittenTree>()
  const rewritten: RewrittenSnapshot[] = []
  let unchanged = 0
  for (const [i, entry] of entries.entries()) {
    signal?.throwIfAborted()
    options.progress?.snapshot?.(entry, i, entries.length)
    const rewrite = (w: BlobWriter | undefined) => rewriteTree(repo, w, done, entry.snapshot.tree, '/', options)
    // Tree blobs are few and small: encoding them inline beats starting worker threads per snapshot.
    const root = dryRun ? await rewrite(undefined) : await repo.withWriter((w) => rewrite(w), { threads: 0 })
    if (root.id === entry.snapshot.tree) {
      unchanged++
      continue
    }
    const result: RewrittenSnapshot = { entry, removedPaths: root.removedPaths, removed: false }
    rewritten.push(result)
    if (dryRun) continue
    Object.assign(result, await replaceSnapshot(repo, entry, root.id, { tag: 'rewrite', forget, existing: options.existing }))
  }
  return { rewritten, unchanged }
}

/** Rewrites the tree of the folder at `path` and everything below it. */
async function rewriteTree(
  repo: RewriteSnapshotsRepo,
  writer: BlobWriter | undefined,
  done: Map<string, RewrittenTree>,
  tree: Id,
  path: string,
  options: RewriteSnapshotsOptions,
): Promise<RewrittenTree> {
  const key = `${path}\0${tree}`
  const known = done.get(key)
  if (known !== undefined) return known
  options.signal?.throwIfAborted()
  const nodes = decodeTree(await repo.loadBlob('tree', tree))
  const removedPaths: string[] = []
  const out: Node[] = []
  let changed = false
  for (const node of nodes) {
    const childPath = `${path === '/' ? '' : path}/${node.name.toString('utf8')}`
    if (options.excluded(childPath, node)) {
      removedPaths.push(childPath)
      changed = true
      continue
    }
    if (node.type === 'dir' && node.subtree !== undefined) {
      const sub = await rewriteTree(repo, writer, done, node.subtree, childPath, options)
      removedPaths.push(...sub.removedPaths)
      if (sub.id !== node.subtree) {
        changed = true
        out.push({ ...node, subtree: sub.id })
        continue
      }
    }
    out.push(node)
  }
  let id = tree
  if (changed) {
    const bytes = encodeTree(out)
    id = hashId(bytes)
    await writer?.saveBlob('tree', bytes, id)
  }
  const result: RewrittenTree = { id, removedPaths }
  done.set(key, result)
  return result
}
