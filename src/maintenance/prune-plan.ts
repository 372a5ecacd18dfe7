/**
 * Prune's decisions, as restic 0.14's planPrune: classify every indexed blob as used, unused or
 * duplicate; then decide per pack whether to keep, repack or delete it, repacking the packs that
 * free the most space first until the unused data left is below `--max-unused`.
 */
import { AppError, type Id } from '../base/index.js'
import type { BlobType, MasterIndex } from '../repository/index.js'
import { maxUnusedBytes, type MaxUnused } from './prune-options.js'
import { BlobSet } from './used-blobs.js'

/** Counts and sizes (bytes as stored in packs) of what prune found and will do. */
export interface PruneStats {
  blobs: { used: number; duplicate: number; unused: number; remove: number; repack: number; repackrm: number }
  size: { used: number; duplicate: number; unused: number; remove: number; repack: number; repackrm: number; unref: number }
  packs: { used: number; unused: number; partlyUsed: number; unref: number; keep: number; repack: number; remove: number }
}

export function emptyPruneStats(): PruneStats {
  return {
    blobs: { used: 0, duplicate: 0, unused: 0, remove: 0, repack: 0, repackrm: 0 },
    size: { used: 0, duplicate: 0, unused: 0, remove: 0, repack: 0, repackrm: 0, unref: 0 },
    packs: { used: 0, unused: 0, partlyUsed: 0, unref: 0, keep: 0, repack: 0, remove: 0 },
  }
}

type PackType = 'data' | 'tree' | 'mixed'

/** What one pack holds, by the index. The header counts as used space. */
export interface PackInfo {
  usedBlobs: number
  unusedBlobs: number
  usedSize: number
  unusedSize: number
  type: PackType
  /** Has uncompressed blobs; after decidePacks: must be repacked to compress them. */
  uncompressed: boolean
}

const ENTRY_PLAIN = 37
const ENTRY_COMPRESSED = 41
const HEADER_OVERHEAD = 32 + 4

/**
 * Sorts every index entry into used, duplicate (a further copy of a used blob) or unused, and
 * sums up each pack, in one pass over the index. Of the copies of a used blob exactly one is
 * counted as used, preferring a pack that has other used blobs (restic's rule). Throws when a
 * used blob is in no pack at all. Returns the packs and the keys of the duplicated blobs.
 */
export function classifyBlobs(
  index: MasterIndex,
  used: BlobSet,
  stats: PruneStats,
  /** Copies known to be damaged (see verifyDuplicates()): never the copy kept while a sound one exists. */
  damaged?: ReadonlySet<string>,
): { packs: Map<Id, PackInfo>; duplicated: BlobSet } {
  const packNumbers = new Map<Id, number>()
  const packIds: Id[] = []
  const infos: PackInfo[] = []
  const entryPack = new Uint32Array(index.size)
  const entryLength = new Uint32Array(index.size)
  /** For each used blob, the entry first counted as its used copy. */
  const firstCopy: Record<BlobType, Map<Id, number>> = { data: new Map(), tree: new Map() }
  /** How many copies each duplicated blob has (restic saturates the count at 255). */
  const copies: Record<BlobType, Map<Id, number>> = { data: new Map(), tree: new Map() }
  const dupEntries: number[] = []
  const dupBlobs: Array<{ type: BlobType; id: Id }> = []
  const dupOffsets: number[] = []
  const entryOffset = new Float64Array(index.size)
  let e = 0
  let lastPack: Id | undefined
  let pn = 0
  for (const b of index.blobs()) {
    // Entries come grouped by pack, so the pack lookup is mostly skipped.
    if (b.packId !== lastPack) {
      lastPack = b.packId
      let n = packNumbers.get(b.packId)
      if (n === undefined) {
        n = infos.length
        packNumbers.set(b.packId, n)
        packIds.push(b.packId)
        infos.push({ usedBlobs: 0, unusedBlobs: 0, usedSize: HEADER_OVERHEAD, unusedSize: 0, type: b.type, uncompressed: false })
      }
      pn = n
    }
    const p = infos[pn]
    entryPack[e] = pn
    entryLength[e] = b.length
    entryOffset[e] = b.offset
    p.usedSize += b.uncompressedLength !== 0 ? ENTRY_COMPRESSED : ENTRY_PLAIN
    if (p.type !== b.type) p.type = 'mixed'
    if (b.uncompressedLength === 0) p.uncompressed = true
    const first = firstCopy[b.type].get(b.id)
    if (first !== undefined) {
      const n = copies[b.type].get(b.id)
      if (n === undefined) {
        // The copy counted as used so far becomes one of the duplicates, decided below.
        const q = infos[entryPack[first]]
        q.usedSize -= entryLength[first]
        q.usedBlobs--
        dupEntries.push(first)
        dupBlobs.push(b)
        dupOffsets.push(entryOffset[first])
      }
      copies[b.type].set(b.id, Math.min(255, (n ?? 1) + 1))
      dupEntries.push(e)
      dupBlobs.push(b)
      dupOffsets.push(b.offset)
      stats.size.duplicate += b.length
      stats.blobs.duplicate++
    } else if (used.has(b.type, b.id)) {
      firstCopy[b.type].set(b.id, e)
      p.usedSize += b.length
      p.usedBlobs++
      stats.size.used += b.length
      stats.blobs.used++
    } else {
      p.unusedSize += b.length
      p.unusedBlobs++
      stats.size.unused += b.length
      stats.blobs.unused++
    }
    e++
  }
  if (firstCopy.data.size + firstCopy.tree.size !== used.size) {
    const missing = [...used].filter((b) => !firstCopy[b.type].has(b.id))
    const shown = missing.slice(0, 5).map((b) => `${b.type} ${b.id}`)
    throw new AppError(
      'INVALID_DATA',
      `Data seems to be missing: ${missing.length} blobs in use are not in the index (${shown.join(', ')}${missing.length > 5 ? ', …' : ''}); nothing was deleted`,
      { hint: 'Run "cairn repair index" to rebuild the index from the packs, then "cairn check"; if blobs are still missing, "cairn check" names the affected snapshots' },
    )
  }

  // Every copy of a duplicated blob, in index order: the first in a pack that has other used
  // blobs (or the last one left) counts as used, the others as unused. A copy known damaged
  // counts as unused, and is not counted among the copies, while a sound copy is left.
  const order = dupEntries.map((_, i) => i).sort((a, b) => dupEntries[a] - dupEntries[b])
  const isDamaged = (i: number) => damaged !== undefined && damaged.has(copyKey(dupBlobs[i].type, dupBlobs[i].id, packIds[entryPack[dupEntries[i]]], dupOffsets[i]))
  const passOver = new Set<string>()
  if (damaged !== undefined && damaged.size > 0) {
    const bad = new Map<string, number>()
    for (const i of order) if (isDamaged(i)) bad.set(dupBlobs[i].type + dupBlobs[i].id, (bad.get(dupBlobs[i].type + dupBlobs[i].id) ?? 0) + 1)
    for (const [key, n] of bad) {
      const type = key.startsWith('data') ? 'data' : 'tree'
      const id = key.slice(type.length)
      const sound = copies[type].get(id)! - n
      if (sound > 0) {
        copies[type].set(id, sound)
        passOver.add(key)
      }
    }
  }
  for (const i of order) {
    const entry = dupEntries[i]
    const { type, id } = dupBlobs[i]
    const q = infos[entryPack[entry]]
    if (passOver.has(type + id) && isDamaged(i)) {
      q.unusedSize += entryLength[entry]
      q.unusedBlobs++
      continue
    }
    const count = copies[type].get(id)!
    if (count !== 0 && (q.usedBlobs > 0 || count === 1)) {
      q.usedSize += entryLength[entry]
      q.usedBlobs++
      copies[type].set(id, 0)
    } else {
      q.unusedSize += entryLength[entry]
      q.unusedBlobs++
      if (count !== 0) copies[type].set(id, count - 1)
    }
  }
  const duplicated = new BlobSet()
  for (const type of ['data', 'tree'] as const) for (const id of copies[type].keys()) duplicated.add(type, id)
  return { packs: new Map(packIds.map((id, i) => [id, infos[i]])), duplicated }
}

export interface DecideOptions {
  maxUnused: MaxUnused
  maxRepackBytes: number
  repackUncompressed: boolean
  repackSmall: boolean
  repackCacheableOnly: boolean
  /** Target pack size in bytes; packs below 1/25 of it (80 % with repackSmall) count as small. */
  packSize: number
  version: 1 | 2
}

export interface PackDecisions {
  /** Packs in storage that no index lists: deleted (after the new index is written). */
  unreferenced: Map<Id, number>
  /** Packs without used blobs: deleted. */
  remove: Map<Id, number>
  /** Packs whose used blobs are copied into new packs, then deleted. */
  repack: Map<Id, number>
  /** Packs the index lists but storage lacks, holding nothing used: dropped from the index. */
  ignore: Set<Id>
}

interface Candidate extends PackInfo {
  id: Id
  size: number
}

/**
 * Decides each pack's fate from its PackInfo and its real size (`stored`: every pack file with
 * its size). Throws, before anything is changed, when a needed pack is missing or its size does
 * not match the index.
 */
export function decidePacks(packs: Map<Id, PackInfo>, stored: ReadonlyMap<Id, number>, o: DecideOptions, stats: PruneStats): PackDecisions {
  const d: PackDecisions = { unreferenced: new Map(), remove: new Map(), repack: new Map(), ignore: new Set() }
  const small = o.repackSmall ? Math.floor(o.packSize / 5) * 4 : Math.floor(o.packSize / 25)
  const candidates: Candidate[] = []
  const smallCandidates: Candidate[] = []

  for (const [id, size] of stored) {
    const p = packs.get(id)
    if (p === undefined) {
      d.unreferenced.set(id, size)
      stats.size.unref += size
      continue
    }
    if (p.usedSize + p.unusedSize !== size && p.usedBlobs !== 0) {
      const described = p.usedSize + p.unusedSize
      throw new AppError('INVALID_DATA', `Pack ${id} has ${size} bytes but the index describes ${described}; nothing was deleted`, {
        hint:
          size < described
            ? `The pack was cut short: run "cairn repair packs ${id.slice(0, 8)}" to keep the blobs in it that are intact, then prune again`
            : 'Run "cairn repair index" to rebuild the index from the packs, then prune again',
      })
    }
    if (p.usedBlobs === 0) stats.packs.unused++
    else if (p.unusedBlobs === 0) stats.packs.used++
    else stats.packs.partlyUsed++

    // Format v2: packs holding uncompressed trees are always repacked, uncompressed data on request.
    const mustCompress = o.version >= 2 && (p.type === 'tree' || o.repackUncompressed) && p.uncompressed
    const c: Candidate = { ...p, uncompressed: mustCompress, id, size }
    if (p.usedBlobs === 0) {
      d.remove.set(id, size)
      stats.blobs.remove += p.unusedBlobs
      stats.size.remove += p.unusedSize
    } else if (o.repackCacheableOnly && p.type === 'data') {
      stats.packs.keep++
    } else if (p.unusedBlobs === 0 && p.type !== 'mixed' && !mustCompress) {
      if (size >= small) stats.packs.keep++
      else smallCandidates.push(c)
    } else {
      candidates.push(c)
    }
  }

  const missingNeeded: Id[] = []
  for (const [id, p] of packs) {
    if (stored.has(id)) continue
    if (p.usedBlobs > 0) {
      missingNeeded.push(id)
      continue
    }
    d.ignore.add(id)
    stats.blobs.remove += p.unusedBlobs
    stats.size.remove += p.unusedSize
  }
  if (missingNeeded.length > 0) {
    throw new AppError(
      'INVALID_DATA',
      `The index lists ${missingNeeded.length} needed packs that are missing from the repository (${missingNeeded.slice(0, 5).join(', ')}${missingNeeded.length > 5 ? ', …' : ''}); nothing was deleted`,
      { hint: 'Run "cairn check" to see which snapshots are affected; "cairn repair index" then drops the missing packs from the index' },
    )
  }

  // A few small packs are not worth the trouble, and repacking a single one would never end.
  if (smallCandidates.length < 10) stats.packs.keep += smallCandidates.length
  else candidates.push(...smallCandidates)

  // Tree and mixed packs first, then small packs, then by the share of unused space.
  const total = (c: Candidate) => c.usedSize + c.unusedSize
  candidates.sort((a, b) => {
    if ((a.type !== 'data') !== (b.type !== 'data')) return a.type !== 'data' ? -1 : 1
    if ((total(a) < small) !== (total(b) < small)) return total(a) < small ? -1 : 1
    const x = a.unusedSize * b.usedSize
    const y = b.unusedSize * a.usedSize
    return x > y ? -1 : x < y ? 1 : 0
  })

  const maxUnusedAfter = maxUnusedBytes(o.maxUnused, stats.size.used)
  for (const c of candidates) {
    const unusedAfter = stats.size.unused - stats.size.remove - stats.size.repackrm
    // restic computes this unsigned: a negative value wraps around and never counts as reached
    const reachedUnused = unusedAfter >= 0 ? unusedAfter < maxUnusedAfter : maxUnusedAfter === Number.POSITIVE_INFINITY
    const reachedRepackSize = stats.size.repack + total(c) >= o.maxRepackBytes
    if (reachedRepackSize) {
      stats.packs.keep++
    } else if (c.type !== 'data' || c.uncompressed) {
      // tree packs and packs that must be compressed are limited only by --max-repack-size
      repack(c)
    } else if (reachedUnused && total(c) >= small) {
      stats.packs.keep++
    } else {
      repack(c)
    }
  }

  function repack(c: Candidate): void {
    d.repack.set(c.id, c.size)
    stats.blobs.repack += c.unusedBlobs + c.usedBlobs
    stats.size.repack += c.unusedSize + c.usedSize
    stats.blobs.repackrm += c.unusedBlobs
    stats.size.repackrm += c.unusedSize
  }

  stats.packs.unref = d.unreferenced.size
  stats.packs.repack = d.repack.size
  stats.packs.remove = d.remove.size
  return d
}

/** The key of one copy of a blob: its type, ID, pack and offset. */
export function copyKey(type: BlobType, id: Id, packId: Id, offset: number): string {
  return `${type}${id}${packId}${offset}`
}
