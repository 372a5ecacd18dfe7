import { hashId, messageOf, type Id } from '../base/index.js'
import type { BlobWriter, Repository } from '../repository/index.js'
import { decodeTree, encodeTree, loadSnapshots, type Node, type Snapshot, type SnapshotEntry } from '../snapshots/index.js'
import { replaceSnapshot } from './replace-snapshot.js'

export interface RepairSnapshotsOptions {
  /** Remove each original after its repaired version is saved (the new one is then not tagged). */
  forget?: boolean
  /** Work out and report the changes, but write and remove nothing. */
  dryRun?: boolean
  /** Only these snapshots (full IDs); all when undefined. */
  snapshotIds?: readonly Id[]
  signal?: AbortSignal
  progress?: { snapshot?(id: Id, done: number, total: number): void }
}

export type RepairChangeKind =
  | 'content-removed' // a file lost the data blobs that are missing; it is shorter now
  | 'size-fixed' // a file's recorded size did not match its content
  | 'dir-emptied' // a directory whose listing is missing or damaged is now empty
  | 'root-unreadable' // the snapshot's root tree is lost: the snapshot is removed

export interface RepairChange {
  kind: RepairChangeKind
  /** Absolute path inside the snapshot. */
  path: string
}

export interface RepairedSnapshot {
  id: Id
  snapshot: Snapshot
  changes: RepairChange[]
  /** The repaired snapshot (absent in a dry run and when the snapshot was removed). */
  newId?: Id
  /** The repaired snapshot was there already, saved by an earlier run: nothing was saved now. */
  reused?: boolean
  /** The original was removed (with `forget`, or because its root tree is lost). */
  removed: boolean
}

export interface RepairSnapshotsResult {
  /** Snapshots that needed repair, oldest first. */
  repaired: RepairedSnapshot[]
  /** Snapshots that are fine. */
  unchanged: number
  /** Snapshot files that cannot be read: left alone. */
  unreadable: Array<{ id: Id; error: string }>
}

export type RepairSnapshotsRepo = Pick<Repository, 'backend' | 'index' | 'listIds' | 'loadUnpacked' | 'saveUnpacked' | 'loadBlob' | 'blobSize' | 'withWriter'>

/** A tree after repair: its new ID (the old one when nothing changed) and the changes below it. */
interface RewrittenTree {
  id: Id | undefined
  changes: RepairChange[]
  /** The original could not be loaded (it was replaced by an empty tree). */
  unreadable?: boolean
}

/**
 * Rewrites snapshots that refer to trees or data blobs the index does not have, as restic
 * 0.16's `repair snapshots`: a file keeps the blobs that exist (so it gets shorter) and its
 * size is set to what it holds; a directory whose listing cannot be loaded becomes empty; a
 * snapshot whose root cannot be loaded is removed. The new snapshot keeps everything else,
 * sets `original` to the old ID, and is tagged `repaired` unless `forget` removes the
 * original. Trees that need no change keep their ID; new trees are written before the
 * snapshot that uses them. Run `repairIndex` first, so the index matches the packs.
 *
 * @example
 * const { repaired } = await repairSnapshots(repo, { forget: true })
 */
export async function repairSnapshots(repo: RepairSnapshotsRepo, options: RepairSnapshotsOptions = {}): Promise<RepairSnapshotsResult> {
  const { signal, dryRun = false, forget = false } = options
  const unreadable: RepairSnapshotsResult['unreadable'] = []
  let snapshots: SnapshotEntry[] = await loadSnapshots(repo, (id, err) => unreadable.push({ id, error: messageOf(err) }))
  const existing = snapshots
  if (options.snapshotIds !== undefined) {
    const wanted = new Set(options.snapshotIds)
    snapshots = snapshots.filter((s) => wanted.has(s.id))
  }
  const done = new Map<Id, RewrittenTree>()
  const repaired: RepairedSnapshot[] = []
  let unchanged = 0
  for (const [i, entry] of snapshots.entries()) {
    signal?.throwIfAborted()
    options.progress?.snapshot?.(entry.id, i, snapshots.length)
    const rewrite = (w: BlobWriter | undefined) => rewriteTree(repo, w, done, entry.snapshot.tree, '/', signal)
    // Tree blobs are few and small: encoding them inline beats starting worker threads per snapshot.
    const root = dryRun ? await rewrite(undefined) : await repo.withWriter((w) => rewrite(w), { threads: 0 })
    if (root.id === entry.snapshot.tree && root.changes.length === 0) {
      unchanged++
      continue
    }
    const result: RepairedSnapshot = { id: entry.id, snapshot: entry.snapshot, changes: root.changes, removed: false }
    repaired.push(result)
    if (root.id === undefined) {
      // Nothing of the snapshot can be read: restic removes it, with or without --forget.
      if (!dryRun) await repo.backend.remove({ type: 'snapshots', name: entry.id })
      result.removed = !dryRun
      continue
    }
    if (dryRun) continue
    Object.assign(result, await replaceSnapshot(repo, entry, root.id, { tag: 'repaired', forget, existing }))
  }
  return { repaired, unchanged, unreadable }
}

const EMPTY_TREE = encodeTree([])
const EMPTY_TREE_ID = hashId(EMPTY_TREE)

/**
 * Repairs one tree and everything below it. `done` remembers every tree repaired so far, so a
 * tree shared by many snapshots and directories is loaded once; its changes are stored with
 * paths relative to it and prefixed on the way up.
 */
async function rewriteTree(
  repo: RepairSnapshotsRepo,
  writer: BlobWriter | undefined,
  done: Map<Id, RewrittenTree>,
  tree: Id | undefined,
  path: string,
  signal: AbortSignal | undefined,
): Promise<RewrittenTree> {
  const relative = await rewriteRelative(repo, writer, done, tree, path === '/', signal)
  return { id: relative.id, changes: relative.changes.map((c) => ({ kind: c.kind, path: join(path, c.path) })) }
}

async function rewriteRelative(
  repo: RepairSnapshotsRepo,
  writer: BlobWriter | undefined,
  done: Map<Id, RewrittenTree>,
  tree: Id | undefined,
  isRoot: boolean,
  signal: AbortSignal | undefined,
): Promise<RewrittenTree> {
  const known = tree === undefined ? undefined : done.get(tree)
  if (known !== undefined && !(isRoot && known.unreadable)) return known
  signal?.throwIfAborted()
  let nodes: Node[] | undefined
  if (tree !== undefined && known === undefined) {
    try {
      nodes = decodeTree(await repo.loadBlob('tree', tree))
    } catch {
      nodes = undefined
    }
  }
  if (nodes === undefined) {
    if (isRoot) return { id: undefined, changes: [{ kind: 'root-unreadable', path: '' }] }
    await writer?.saveBlob('tree', EMPTY_TREE, EMPTY_TREE_ID)
    const emptied: RewrittenTree = { id: EMPTY_TREE_ID, changes: [{ kind: 'dir-emptied', path: '' }], unreadable: true }
    if (tree !== undefined) done.set(tree, emptied)
    return emptied
  }
  const changes: RepairChange[] = []
  let changed = false
  const out: Node[] = []
  for (const node of nodes) {
    const name = node.name.toString('utf8')
    if (node.type === 'file') {
      const fixed = repairFile(repo, node)
      if (fixed.kind !== undefined) {
        changed = true
        changes.push({ kind: fixed.kind, path: name })
      }
      out.push(fixed.node)
    } else if (node.type === 'dir') {
      const sub = await rewriteRelative(repo, writer, done, node.subtree, false, signal)
      for (const c of sub.changes) changes.push({ kind: c.kind, path: c.path === '' ? name : `${name}/${c.path}` })
      if (sub.id !== node.subtree) {
        changed = true
        out.push({ ...node, subtree: sub.id })
      } else out.push(node)
    } else {
      out.push(node)
    }
  }
  let id = tree!
  if (changed) {
    const bytes = encodeTree(out)
    id = hashId(bytes)
    await writer?.saveBlob('tree', bytes, id)
  }
  const result: RewrittenTree = { id, changes }
  done.set(tree!, result)
  return result
}

/** Keeps the data blobs the index has; the size becomes what they hold (restic does the same). */
function repairFile(repo: RepairSnapshotsRepo, node: Node): { node: Node; kind?: RepairChangeKind } {
  const content: Id[] = []
  let size = 0
  let missing = false
  for (const id of node.content ?? []) {
    const n = repo.blobSize('data', id)
    if (n === undefined) missing = true
    else {
      content.push(id)
      size += n
    }
  }
  if (missing || node.content === null) return { node: { ...node, content, size }, kind: 'content-removed' }
  if (size !== node.size) return { node: { ...node, size }, kind: 'size-fixed' }
  return { node }
}

function join(base: string, rel: string): string {
  if (rel === '') return base
  return base === '/' ? '/' + rel : `${base}/${rel}`
}
