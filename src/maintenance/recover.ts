import { createLimit, messageOf, type Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import { decodeTree, encodeSnapshot, encodeTree, formatGoTime, loadSnapshots, type Node, type Snapshot } from '../snapshots/index.js'
import { repairIndex, type RepairIndexResult } from './repair-index.js'

export type RecoverPhase = 'index' | 'trees' | 'snapshots'

export interface RecoverOptions {
  hostname: string
  /** Recorded in the snapshot; the trees found get directories named by their short ID. */
  username?: string
  uid?: number
  gid?: number
  /** The snapshot's time and the directories' times (default: now). */
  now?: Date
  signal?: AbortSignal
  progress?: {
    phase?(phase: RecoverPhase, total: number): void
    advance?(phase: RecoverPhase, items: number): void
  }
}

export interface RecoverResult {
  /** What making the index complete did (`rewritten` is false when it already was). */
  index: RepairIndexResult
  /** Tree blobs the index lists. */
  trees: number
  /** Trees that could not be loaded: their subtrees may show up as roots of their own. */
  unreadableTrees: Array<{ id: Id; error: string }>
  /** Trees no snapshot and no other tree refers to, sorted. */
  roots: Id[]
  /** Snapshot files that could not be read: the trees only they used count as roots, and are saved. */
  unreadableSnapshots: Array<{ id: Id; error: string }>
  /** The new snapshot (undefined when no root was found). */
  snapshotId?: Id
  snapshot?: Snapshot
}

export type RecoverRepo = Pick<Repository, 'backend' | 'key' | 'index' | 'listIds' | 'loadUnpacked' | 'saveUnpacked' | 'loadBlob' | 'loadIndex' | 'withWriter'>

/**
 * restic's `recover`: finds every directory tree in the repository that no snapshot reaches
 * (the root of a snapshot forgotten by mistake, say) and saves one new snapshot of path
 * `/recover`, tagged `recovered`, that holds each of them as a directory named by the tree's
 * short ID. Packs missing from the index are indexed first, from their headers, so a
 * snapshot whose index was lost too can be found. Nothing is removed; the new tree is written
 * before the snapshot that refers to it.
 *
 * @example
 * const { roots, snapshotId } = await recover(repo, { hostname: 'nas' })
 */
export async function recover(repo: RecoverRepo, options: RecoverOptions): Promise<RecoverResult> {
  const { signal, progress } = options
  progress?.phase?.('index', 0)
  // Packs no index lists (a backup cut short) may hold trees too; the index says nothing else new.
  const index = await repairIndex(repo, { addOnly: true, signal })
  await repo.loadIndex({ force: index.rewritten })

  // Each tree maps to whether a snapshot or another tree refers to it.
  const referenced = new Map<Id, boolean>()
  for (const b of repo.index.blobs('tree')) referenced.set(b.id, false)
  const unreadableTrees: RecoverResult['unreadableTrees'] = []
  progress?.phase?.('trees', referenced.size)
  const limit = createLimit(8)
  await Promise.all(
    [...referenced.keys()].map((id) =>
      limit(async () => {
        signal?.throwIfAborted()
        let nodes: Node[]
        try {
          nodes = decodeTree(await repo.loadBlob('tree', id))
        } catch (err) {
          signal?.throwIfAborted()
          unreadableTrees.push({ id, error: messageOf(err) })
          progress?.advance?.('trees', 1)
          return
        }
        for (const n of nodes) if (n.type === 'dir' && n.subtree !== undefined) referenced.set(n.subtree, true)
        progress?.advance?.('trees', 1)
      }),
    ),
  )
  progress?.phase?.('snapshots', 0)
  // A damaged snapshot is the very case for recover: its trees are then saved as roots.
  const unreadableSnapshots: RecoverResult['unreadableSnapshots'] = []
  for (const s of await loadSnapshots(repo, (id, err) => unreadableSnapshots.push({ id, error: messageOf(err) }))) referenced.set(s.snapshot.tree, true)
  const roots = [...referenced].filter(([, seen]) => !seen).map(([id]) => id).sort()
  unreadableTrees.sort((a, b) => (a.id < b.id ? -1 : 1))
  const result: RecoverResult = { index, trees: referenced.size, unreadableTrees, roots, unreadableSnapshots }
  if (roots.length === 0) return result
  signal?.throwIfAborted()

  const now = options.now ?? new Date()
  const time = formatGoTime(BigInt(now.getTime()) * 1_000_000n)
  const short = new Map<string, number>()
  for (const id of roots) short.set(id.slice(0, 8), (short.get(id.slice(0, 8)) ?? 0) + 1)
  const nodes = roots.map(
    (id): Node => ({
      // restic names them by the short ID; two roots sharing one get their full IDs.
      name: Buffer.from(short.get(id.slice(0, 8)) === 1 ? id.slice(0, 8) : id),
      type: 'dir',
      mode: 0o755,
      mtime: time,
      atime: time,
      ctime: time,
      uid: 0,
      gid: 0,
      inode: 0n,
      deviceId: 0n,
      size: 0,
      links: 0,
      content: null,
      subtree: id,
    }),
  )
  const tree = encodeTree(nodes)
  const treeId = await repo.withWriter(async (w) => (await w.saveBlob('tree', tree)).id, { threads: 0 })
  const snapshot: Snapshot = { time, tree: treeId, paths: ['/recover'], hostname: options.hostname, tags: ['recovered'] }
  if (options.username) snapshot.username = options.username
  if (options.uid) snapshot.uid = options.uid
  if (options.gid) snapshot.gid = options.gid
  result.snapshotId = await repo.saveUnpacked('snapshots', encodeSnapshot(snapshot))
  result.snapshot = snapshot
  return result
}
