import { availableParallelism } from 'node:os'
import { AppError, messageOf, shortId, WorkerPool, type Id } from '../base/index.js'
import { masterKeyToJSON } from '../crypto/index.js'
import { MasterIndex, PackCache, packSize, type PackedBlob, type Repository } from '../repository/index.js'
import { loadSnapshots, type SnapshotEntry } from '../snapshots/index.js'
import type { AffectedSnapshot, CheckProblem, CheckProgress, CheckReport } from './check-report.js'
import { PackSlots, readPacks, type PackToRead } from './check-read-data.js'
import { findFileRefs, walkTrees, type PendingProblem, type StructureContext } from './check-structure.js'
import { forEachIndexFile } from './index-files.js'
import { parseReadDataSubset, selectPacks, type ReadDataSubset } from './read-data-subset.js'
import { TreeGraph, type TreeRef } from './tree-graph.js'

export interface CheckOptions {
  /** Read every pack and verify every blob. */
  readData?: boolean
  /** Read only some packs: "n/t", "x%", or a size such as "500M" (see parseReadDataSubset). */
  readDataSubset?: string | ReadDataSubset
  /** For choosing random subsets; Math.random by default. */
  random?: () => number
  signal?: AbortSignal
  progress?: CheckProgress
}

export type CheckRepo = Pick<Repository, 'backend' | 'key' | 'listIds' | 'loadUnpacked' | 'decodeBlob'>

/** Paths listed per snapshot for one problem; the rest are counted in `morePaths`. */
const PATHS_PER_PROBLEM = 50
const HINT_KINDS = new Set(['pack-unreferenced', 'duplicate-pack', 'mixed-pack', 'index-old-format'])
/** Errors about a pack as a file, not about data in it: the blob-level errors carry the damage. */
const NO_AFFECTED_KINDS = new Set(['pack-hash', 'pack-header-damaged', 'pack-header-mismatch', 'pack-unreadable', 'index-unreadable'])
const EMPTY_PACK = packSize([])
/** Memory for whole tree packs during the walk: a few full-size (16 MiB) packs. */
const TREE_PACK_CACHE_BYTES = 96 * 1024 * 1024

/**
 * Checks a repository the way `restic check` does, in the same order: load every index file,
 * compare the packs in data/ with the index, load every snapshot and walk every tree, and
 * with `readData` (or a subset) download packs and verify every blob. Problems come back as a
 * report, each error with the snapshots and paths it damages; nothing is printed and nothing
 * in the repository is changed. Uses its own index, so a damaged index file is reported
 * rather than fatal.
 *
 * @example
 * const report = await checkRepository(repo, { readDataSubset: '1/10' })
 * if (report.errors.length > 0) process.exitCode = 1
 */
export async function checkRepository(repo: CheckRepo, options: CheckOptions = {}): Promise<CheckReport> {
  if (options.readData && options.readDataSubset !== undefined) {
    throw new AppError('INVALID_ARGUMENT', 'Cannot use --read-data and --read-data-subset together', { hint: 'Give one of them' })
  }
  const subset: ReadDataSubset | undefined =
    typeof options.readDataSubset === 'string' ? parseReadDataSubset(options.readDataSubset) : options.readDataSubset
  const { signal, progress } = options
  const problems: PendingProblem[] = []
  const report = (p: PendingProblem) => problems.push(p)
  const index = new MasterIndex()
  const concurrency = Math.max(4, repo.backend.properties.connections * 2)

  // 1. Index files.
  progress?.phase?.('load-index', 0)
  const indexFilesOf = new Map<Id, Id[]>()
  const indexIds = await forEachIndexFile(
    repo,
    {
      file(id, file, oldFormat) {
        if (oldFormat) report({ kind: 'index-old-format', message: `index ${shortId(id)}: in the old format of restic 0.7 and earlier`, index: id })
        index.addTable(file)
        for (const packId of file.packIds) {
          const list = indexFilesOf.get(packId)
          if (list === undefined) indexFilesOf.set(packId, [id])
          else if (!list.includes(id)) list.push(id)
        }
        progress?.advance?.('load-index', 1, 0)
      },
      error(id, err) {
        report({ kind: 'index-unreadable', message: `index ${shortId(id)}: cannot be read (${messageOf(err)})`, index: id })
        progress?.advance?.('load-index', 1, 0)
      },
    },
    signal,
  )
  for (const [pack, files] of indexFilesOf) {
    if (files.length > 1) {
      report({ kind: 'duplicate-pack', message: `pack ${shortId(pack)}: listed in ${files.length} index files (${files.map(shortId).join(', ')})`, pack })
    }
  }
  indexFilesOf.clear()

  // Pack sizes and blob types as the index describes them.
  const expected = new Map<Id, number>()
  const types = new Map<Id, number>()
  for (const b of index.blobs()) {
    expected.set(b.packId, (expected.get(b.packId) ?? EMPTY_PACK) + packSize([b]) - EMPTY_PACK)
    types.set(b.packId, (types.get(b.packId) ?? 0) | (b.type === 'tree' ? 2 : 1))
  }
  for (const [pack, t] of types) {
    if (t === 3) report({ kind: 'mixed-pack', message: `pack ${shortId(pack)}: holds both tree and data blobs`, pack })
  }
  types.clear()

  // 2. Packs in data/ against the index.
  signal?.throwIfAborted()
  progress?.phase?.('check-packs', expected.size)
  const actual = new Map<Id, number>()
  for await (const f of repo.backend.list('data')) actual.set(f.name, f.size)
  const missingPacks = new Set<Id>()
  const wrongSize = new Map<Id, number>()
  for (const [pack, size] of expected) {
    const real = actual.get(pack)
    if (real === undefined) missingPacks.add(pack)
    else if (real !== size) wrongSize.set(pack, real)
  }
  for (const [pack, size] of actual) {
    if (!expected.has(pack)) report({ kind: 'pack-unreferenced', message: `pack ${shortId(pack)}: not referenced in any index (${size} bytes)`, pack })
  }
  const badCopies = new Set<string>()
  const suspects = new Set<Id>()
  if (missingPacks.size > 0 || wrongSize.size > 0) {
    const lost = new Map<Id, PackedBlob[]>()
    for (const b of index.blobs()) {
      const real = wrongSize.get(b.packId)
      if (!missingPacks.has(b.packId) && (real === undefined || b.offset + b.length <= real)) continue
      if (real !== undefined) badCopies.add(`${b.packId}:${b.id}`)
      if (b.type === 'data') suspects.add(b.id)
      const list = lost.get(b.packId)
      if (list === undefined) lost.set(b.packId, [b])
      else list.push(b)
    }
    for (const pack of missingPacks) {
      const blobs = lost.get(pack) ?? []
      report({ kind: 'pack-missing', message: `pack ${shortId(pack)}: missing (the index lists ${blobs.length} blobs in it)`, pack, ...blobLists(blobs) })
    }
    for (const [pack, real] of wrongSize) {
      const blobs = lost.get(pack) ?? []
      const cut = blobs.length > 0 ? `, ${blobs.length} of its blobs lie past the end` : ''
      report({ kind: 'pack-size', message: `pack ${shortId(pack)}: unexpected size ${real} bytes, the index expects ${expected.get(pack)}${cut}`, pack, ...blobLists(blobs) })
    }
  }
  progress?.advance?.('check-packs', expected.size, 0)

  // 3. Snapshots and trees.
  signal?.throwIfAborted()
  const snapshots: SnapshotEntry[] = await loadSnapshots(repo, (id, err) => {
    report({ kind: 'snapshot-unreadable', message: `snapshot ${shortId(id)}: cannot be read (${messageOf(err)})`, snapshot: id })
  })
  progress?.phase?.('check-snapshots', 0)
  const graph = new TreeGraph()
  const refs = new Map<Id, TreeRef[]>()
  const structure: StructureContext = {
    repo,
    index,
    missingPacks,
    packSizes: actual,
    packCache: new PackCache(TREE_PACK_CACHE_BYTES),
    graph,
    suspects,
    refs,
    failedTrees: new Set(),
    report,
    concurrency,
    signal,
    progress,
  }
  const trees = await walkTrees(structure, snapshots)
  // The walk's tree packs are not needed for reading data (and are loaded again in the rare
  // case that damage sends the check looking for the files it reaches).
  structure.packCache.clear()

  // 4. Pack contents.
  let packsRead = 0
  let bytesRead = 0
  const chosen = options.readData ? [...expected.keys()] : subset !== undefined ? selectPacks(expected, subset, options.random) : []
  const toRead = new Map<Id, PackToRead>()
  for (const id of chosen) if (!missingPacks.has(id)) toRead.set(id, { id, blobs: [] })
  if (options.readData || subset !== undefined) progress?.phase?.('read-data', toRead.size)
  if (toRead.size > 0) {
    signal?.throwIfAborted()
    for (const b of index.blobs()) toRead.get(b.packId)?.blobs.push(b)
    const threads = Math.min(4, availableParallelism())
    const verifier = new WorkerPool(new URL('./verify-pack-worker.js', import.meta.url), threads, { key: masterKeyToJSON(repo.key) })
    try {
      // Each pack is held whole while verified: from a local disk, one more than the workers
      // verify keeps them busy; a remote backend needs more downloads under way to keep up.
      const { local, connections } = repo.backend.properties
      const concurrency = local ? threads + 1 : Math.max(threads + 1, connections * 2)
      bytesRead = await readPacks({ repo, index, badCopies, report, concurrency, verifier, buffers: new PackSlots(), signal, progress }, [...toRead.values()])
    } finally {
      await verifier.close()
    }
    packsRead = toRead.size
    toRead.clear()
  }

  // 5. Which snapshots and files the damage reaches.
  const isLost = (type: 'data' | 'tree', id: Id) =>
    index.lookupAll(type, id).every((l) => missingPacks.has(l.packId) || badCopies.has(`${l.packId}:${id}`))
  const unlocated = new Set<Id>()
  for (const p of problems) for (const b of p.dataBlobs ?? []) if (!suspects.has(b) && isLost('data', b)) unlocated.add(b)
  if (unlocated.size > 0) {
    progress?.phase?.('locate', graph.size)
    await findFileRefs(structure, unlocated)
  }
  const errors: CheckProblem[] = []
  const hints: CheckProblem[] = []
  for (const p of problems) {
    // A pack bigger than its index entries loses nothing: the index just lacks some entries.
    const losesNothing = p.kind === 'pack-size' && p.dataBlobs?.length === 0 && p.treeBlobs?.length === 0
    const affected = HINT_KINDS.has(p.kind) || NO_AFFECTED_KINDS.has(p.kind) || losesNothing ? undefined : affectedBy(p, snapshots, graph, refs, isLost)
    const { refs: _r, dataBlobs: _d, treeBlobs: _t, ...problem } = p
    if (affected !== undefined) problem.affected = affected
    ;(HINT_KINDS.has(p.kind) ? hints : errors).push(problem)
  }
  return summarize(errors, hints, {
    indexFiles: indexIds.length,
    packs: expected.size,
    snapshots: snapshots.length + errors.filter((e) => e.kind === 'snapshot-unreadable').length,
    trees,
    packsRead,
    bytesRead,
  })
}

function blobLists(blobs: readonly PackedBlob[]): Pick<PendingProblem, 'dataBlobs' | 'treeBlobs'> {
  return { dataBlobs: blobs.filter((b) => b.type === 'data').map((b) => b.id), treeBlobs: blobs.filter((b) => b.type === 'tree').map((b) => b.id) }
}

function affectedBy(
  p: PendingProblem,
  snapshots: readonly SnapshotEntry[],
  graph: TreeGraph,
  refs: ReadonlyMap<Id, TreeRef[]>,
  isLost: (type: 'data' | 'tree', id: Id) => boolean,
): AffectedSnapshot[] {
  if (p.kind === 'snapshot-unreadable' && p.snapshot !== undefined) return [{ id: p.snapshot, time: '', paths: ['/'], morePaths: 0 }]
  const all: TreeRef[] = [...(p.refs ?? [])]
  for (const b of p.dataBlobs ?? []) if (isLost('data', b)) all.push(...(refs.get(b) ?? []))
  for (const b of p.treeBlobs ?? []) if (isLost('tree', b)) all.push({ tree: b })
  const seen = new Set<string>()
  const bySnapshot = new Map<number, { paths: Set<string>; count: number }>()
  for (const ref of all) {
    const key = ref.name === undefined ? ref.tree : `${ref.tree}/${ref.name}`
    if (seen.has(key)) continue
    seen.add(key)
    for (const [s, found] of graph.locate(ref)) {
      let entry = bySnapshot.get(s)
      if (entry === undefined) bySnapshot.set(s, (entry = { paths: new Set(), count: 0 }))
      entry.count += found.count
      for (const path of found.paths) if (entry.paths.size < PATHS_PER_PROBLEM) entry.paths.add(path)
    }
  }
  return [...bySnapshot.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([s, { paths, count }]) => ({
      id: snapshots[s].id,
      time: snapshots[s].snapshot.time,
      paths: [...paths].sort(),
      morePaths: Math.max(0, count - paths.size),
    }))
}

function summarize(errors: CheckProblem[], hints: CheckProblem[], stats: CheckReport['stats']): CheckReport {
  const has = (kind: CheckProblem['kind']) => errors.some((e) => e.kind === kind)
  const brokenPacks = new Set<Id>()
  for (const e of errors) {
    if (e.pack !== undefined && e.kind !== 'pack-header-mismatch') brokenPacks.add(e.pack)
  }
  const unreferenced = hints.some((h) => h.kind === 'pack-unreferenced')
  return {
    errors,
    hints,
    brokenPacks: [...brokenPacks],
    brokenSnapshots: errors.filter((e) => e.kind === 'snapshot-unreadable').map((e) => e.snapshot!),
    suggestRepairIndex:
      has('index-unreadable') ||
      has('pack-size') ||
      has('pack-missing') ||
      has('pack-header-mismatch') ||
      hints.some((h) => h.kind === 'duplicate-pack' || h.kind === 'index-old-format') ||
      (unreferenced && (has('blob-missing') || has('tree-missing'))),
    suggestPrune: unreferenced || hints.some((h) => h.kind === 'mixed-pack'),
    stats,
  }
}
