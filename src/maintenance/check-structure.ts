import { AppError, createLimit, isAppError, isPermissionError, messageOf, shortId, type Id } from '../base/index.js'
import type { BlobLocation, BlobType, MasterIndex, Repository } from '../repository/index.js'
import { decodeTree, type Node, type SnapshotEntry } from '../snapshots/index.js'
import type { CheckProblem, CheckProgress } from './check-report.js'
import type { PackCache } from '../repository/index.js'
import type { TreeGraph, TreeRef } from './tree-graph.js'

/** A problem before its affected snapshots are worked out: what it points at. */
export interface PendingProblem extends CheckProblem {
  /** Trees or file nodes that are damaged by this problem. */
  refs?: TreeRef[]
  /** Data blobs whose loss (if no good copy is left) damages the files using them. */
  dataBlobs?: Id[]
  /** Tree blobs whose loss damages the directories they list. */
  treeBlobs?: Id[]
  /** For `pack-size`: the pack is larger than its index entries say (nothing in it is lost). */
  larger?: boolean
}

export type StructureRepo = Pick<Repository, 'backend' | 'decodeBlob'>

/** What the tree walk shares with the rest of check. */
export interface StructureContext {
  repo: StructureRepo
  /** check's own index, built from the index files that could be read. */
  index: MasterIndex
  missingPacks: ReadonlySet<Id>
  /** Real pack sizes (from listing data/), to decide which tree packs to read whole. */
  packSizes: ReadonlyMap<Id, number>
  /** Whole tree packs, so that each is read once rather than once per tree. */
  packCache: PackCache
  graph: TreeGraph
  /** Data blobs already known to be in trouble: the walk records which files use them. */
  suspects: ReadonlySet<Id>
  refs: Map<Id, TreeRef[]>
  /** Trees that could not be loaded (reported already; skipped when walking again). */
  failedTrees: Set<Id>
  report(p: PendingProblem): void
  concurrency: number
  signal?: AbortSignal
  progress?: CheckProgress
}

const NULL_ID = '0'.repeat(64)
const OTHER_NODE_TYPES = new Set(['symlink', 'socket', 'chardev', 'dev', 'fifo'])

/** True for an error message that says a file is there but this user may not read it. */
export function isPermissionProblem(message: string): boolean {
  return /\b(EACCES|EPERM)\b|permission denied/i.test(message)
}

/**
 * Loads a blob from any of its copies using check's own index; classifies failures: `pack` is
 * the first pack whose copy is there but fails, `refused` that every such failure was a lack
 * of permission.
 */
export async function loadCheckedBlob(
  ctx: Pick<StructureContext, 'repo' | 'index' | 'missingPacks' | 'packSizes' | 'packCache'>,
  type: BlobType,
  id: Id,
): Promise<Buffer | { missing: boolean; detail: string; pack?: Id; refused?: boolean }> {
  const locations = ctx.index.lookupAll(type, id)
  if (locations.length === 0) return { missing: true, detail: 'not in the index' }
  const details: string[] = []
  let allGone = true
  // The first pack whose copy fails, and whether every failure was a lack of permission.
  let pack: Id | undefined
  let refused = true
  for (const loc of locations) {
    if (ctx.missingPacks.has(loc.packId)) {
      details.push(`its pack ${shortId(loc.packId)} is missing`)
      continue
    }
    try {
      const sealed = await loadSealed(ctx, type, loc)
      allGone = false
      return ctx.repo.decodeBlob(loc, sealed, loc.packId)
    } catch (err) {
      if (isAppError(err, 'NOT_FOUND')) {
        details.push(`its pack ${shortId(loc.packId)} is missing`)
        continue
      }
      allGone = false
      pack ??= loc.packId
      const where = `the copy in pack ${shortId(loc.packId)}`
      if (!isPermissionError(err)) refused = false
      details.push(isAppError(err, 'INVALID_DATA') ? `${where} fails to decrypt or verify` : `${where} cannot be read: ${messageOf(err)}`)
    }
  }
  return allGone ? { missing: true, detail: details.join('; ') } : { missing: false, detail: details.join('; '), pack, refused }
}

async function loadSealed(ctx: Pick<StructureContext, 'repo' | 'packSizes' | 'packCache'>, type: BlobType, loc: BlobLocation): Promise<Buffer> {
  const h = { type: 'data' as const, name: loc.packId }
  const size = ctx.packSizes.get(loc.packId)
  if (type !== 'tree' || size === undefined || !ctx.packCache.fits(size)) return ctx.repo.backend.load(h, loc.offset, loc.length)
  const pack = await ctx.packCache.get(loc.packId, () => ctx.repo.backend.load(h))
  if (loc.offset + loc.length > pack.length) {
    throw new AppError('INVALID_DATA', `Pack "${loc.packId}" is too short for the blob at offset ${loc.offset}: it has ${pack.length} bytes`)
  }
  return pack.subarray(loc.offset, loc.offset + loc.length)
}

/** The longest the tree walk runs before it lets other work on this thread have a turn. */
const RUN_MS = 5

/**
 * Walks every tree reachable from the snapshots, each once, `concurrency` at a time, and checks
 * each node as restic's checker does: files need a content list whose IDs are data blobs in
 * the index; directories need a subtree; the type must be known; the name non-empty. Records
 * the snapshot → tree → subtree links in the graph. Returns the number of trees checked.
 */
export async function walkTrees(ctx: StructureContext, snapshots: readonly SnapshotEntry[]): Promise<number> {
  const limit = createLimit(ctx.concurrency)
  let checked = 0
  let ranSince = performance.now()
  return new Promise<number>((resolve, reject) => {
    let active = 0
    let failed = false
    const schedule = (tree: Id) => {
      active++
      limit(async () => {
        if (failed) return
        // Trees from a pack already loaded come as resolved promises, and a walk of those alone
        // would hold this thread until it ends: now and then it lets I/O callbacks and timers
        // run, such as those that keep --read-data's workers supplied with packs meanwhile.
        if (performance.now() - ranSince > RUN_MS) {
          await new Promise<void>((r) => setImmediate(r))
          ranSince = performance.now()
        }
        ctx.signal?.throwIfAborted()
        await checkTree(ctx, tree, schedule)
        checked++
        ctx.progress?.advance?.('check-snapshots', 1, 0)
      }).then(
        () => {
          if (--active === 0 && !failed) resolve(checked)
        },
        (err) => {
          failed = true
          reject(err)
        },
      )
    }
    const roots: Id[] = []
    snapshots.forEach((s, i) => {
      if (!ctx.graph.has(s.snapshot.tree)) roots.push(s.snapshot.tree)
      ctx.graph.addRoot(s.snapshot.tree, i)
    })
    if (roots.length === 0) resolve(0)
    for (const r of roots) schedule(r)
  })
}

async function checkTree(ctx: StructureContext, tree: Id, schedule: (tree: Id) => void): Promise<void> {
  const nodes = await loadTree(ctx, tree)
  if (nodes === undefined) return
  const invalid: string[] = []
  for (const node of nodes) {
    // Names are decoded only when needed: most nodes are files that are fine.
    const nameOf = () => node.name.toString('utf8')
    const quoted = () => JSON.stringify(nameOf())
    if (node.name.length === 0) invalid.push('a node has an empty name')
    if (node.type === 'file') {
      if (node.content === null) {
        invalid.push(`file ${quoted()} has no content list`)
        continue
      }
      let missing: Id[] | undefined
      for (const blob of node.content) {
        if (blob === NULL_ID) {
          invalid.push(`file ${quoted()} refers to a null blob ID`)
        } else if (!ctx.index.has('data', blob)) {
          ;(missing ??= []).push(blob)
        } else if (ctx.suspects.has(blob)) {
          addRef(ctx.refs, blob, { tree, name: nameOf() })
        }
      }
      if (missing !== undefined) {
        const n = missing.length
        ctx.report({
          kind: 'blob-missing',
          message: `file ${quoted()} in tree ${shortId(tree)}: ${n} data blob${n === 1 ? '' : 's'} not in the index (${missing.slice(0, 3).map(shortId).join(', ')}${n > 3 ? ', …' : ''})`,
          tree,
          blobs: missing,
          refs: [{ tree, name: nameOf() }],
        })
      }
    } else if (node.type === 'dir') {
      if (node.subtree === undefined) invalid.push(`directory ${quoted()} has no subtree`)
      else if (node.subtree === NULL_ID) invalid.push(`directory ${quoted()} has a null subtree ID`)
      else if (ctx.graph.addEdge(tree, nameOf(), node.subtree)) schedule(node.subtree)
    } else if (!OTHER_NODE_TYPES.has(node.type)) {
      invalid.push(`node ${quoted()} has an invalid type ${JSON.stringify(node.type)}`)
    }
  }
  if (invalid.length > 0) {
    ctx.report({ kind: 'tree-invalid', message: `tree ${shortId(tree)}: ${invalid.join('; ')}`, tree, refs: [{ tree }] })
  }
}

async function loadTree(ctx: StructureContext, tree: Id): Promise<Node[] | undefined> {
  const loaded = await loadCheckedBlob(ctx, 'tree', tree)
  if (!Buffer.isBuffer(loaded)) {
    ctx.failedTrees.add(tree)
    // The pack is named, so that check advises what mends it (repair packs, or permissions).
    const what = loaded.missing ? 'missing' : loaded.refused === true ? 'cannot be read' : 'damaged'
    ctx.report({ kind: loaded.missing ? 'tree-missing' : 'tree-damaged', message: `tree ${shortId(tree)}: ${what} (${loaded.detail})`, tree, pack: loaded.pack, refs: [{ tree }] })
    return undefined
  }
  try {
    return decodeTree(loaded)
  } catch (err) {
    ctx.failedTrees.add(tree)
    ctx.report({ kind: 'tree-damaged', message: `tree ${shortId(tree)}: damaged (${messageOf(err)})`, tree, refs: [{ tree }] })
    return undefined
  }
}

function addRef(refs: Map<Id, TreeRef[]>, blob: Id, ref: TreeRef): void {
  const list = refs.get(blob)
  if (list === undefined) refs.set(blob, [ref])
  else list.push(ref)
}

/**
 * Loads every tree the walk checked again and records which files use `blobs`: used when
 * reading the data found damaged blobs the walk did not know to look for. Costs a second read
 * of the trees, but only when something is damaged.
 */
export async function findFileRefs(ctx: StructureContext, blobs: ReadonlySet<Id>): Promise<void> {
  const limit = createLimit(ctx.concurrency)
  await Promise.all(
    ctx.graph.trees().map((tree) =>
      limit(async () => {
        if (ctx.failedTrees.has(tree)) return
        ctx.signal?.throwIfAborted()
        const loaded = await loadCheckedBlob(ctx, 'tree', tree)
        if (!Buffer.isBuffer(loaded)) return
        let nodes: Node[]
        try {
          nodes = decodeTree(loaded)
        } catch {
          return
        }
        for (const node of nodes) {
          if (node.type !== 'file' || node.content === null) continue
          for (const blob of node.content) if (blobs.has(blob)) addRef(ctx.refs, blob, { tree, name: node.name.toString('utf8') })
        }
        ctx.progress?.advance?.('locate', 1, 0)
      }),
    ),
  )
}
