import { AppError, createLimit, isPermissionError, messageOf, type Id } from '../base/index.js'
import { encodeIndex, MasterIndex, packSize, readPackHeader, type IndexPack, type PackedBlob, type Repository } from '../repository/index.js'
import { forEachIndexFile } from './index-files.js'

export interface RepairIndexOptions {
  /** Ignore the old index files and read the header of every pack. */
  readAllPacks?: boolean
  /** A new index file is started once one holds this many blobs (default 150 000, as restic v2). */
  blobsPerFile?: number
  /**
   * Only index the packs that no index file lists, in new index files beside the old ones,
   * which stay as they are: entries of packs that are gone (perhaps only for now, a copy half
   * synced) or of another size are kept. Nothing is written when every pack is indexed. What
   * `recover` needs: it must not change what the index says of other packs.
   */
  addOnly?: boolean
  signal?: AbortSignal
  progress?: RepairIndexProgress
}

export type RepairIndexPhase = 'load-index' | 'list-packs' | 'read-packs' | 'write-index' | 'remove-old-index'

export interface RepairIndexProgress {
  phase?(phase: RepairIndexPhase, total: number): void
  advance?(phase: RepairIndexPhase, items: number): void
}

export interface RepairIndexResult {
  /** Every index file that was there before; all are superseded and removed. */
  oldIndexes: Id[]
  /** Old index files that could not be read (their packs were re-read if still present). */
  unreadableIndexes: Array<{ id: Id; error: string }>
  newIndexes: Id[]
  /** Packs that no index referred to, now indexed from their headers. */
  addedPacks: Id[]
  /** Packs whose size did not match their index entries, re-read from their headers. */
  reindexedPacks: Id[]
  /** Packs the old index listed that are gone from data/: their entries were dropped. */
  removedPacks: Id[]
  /** Packs whose header could not be read: left in place, not indexed. */
  skippedPacks: Array<{ id: Id; error: string }>
  /**
   * Packs the old index listed whose size is off and whose header cannot be read (cut short,
   * say): their old entries are kept, so that `repair packs` can still salvage their intact
   * blobs; dropping them would lose those blobs from every snapshot.
   */
  keptPacks: Array<{ id: Id; error: string }>
  packs: number
  blobs: number
  /** False when no file was written or removed (`addOnly` found every pack indexed). */
  rewritten: boolean
}

export type RepairIndexRepo = Pick<Repository, 'backend' | 'key' | 'listIds' | 'loadUnpacked' | 'saveUnpacked'>

const BLOBS_PER_INDEX_FILE = 150_000

/**
 * Rebuilds the index from the packs, as restic's `rebuild-index` (`repair index` since 0.16):
 * keeps the entries of old index files that still match their pack (same size), reads the
 * header of every pack that is unindexed or has the wrong size (every pack with
 * `readAllPacks`), drops entries of packs that are gone, writes new index files whose
 * `supersedes` names every old one, and only then removes the old index files. Nothing but
 * index files is ever written or removed, and a crash at any point leaves the old index or
 * the new one (or both) complete. Packs whose header cannot be read are reported, not removed.
 *
 * @example
 * const result = await repairIndex(repo)
 * console.log(`${result.addedPacks.length} packs added to the index`)
 */
export async function repairIndex(repo: RepairIndexRepo, options: RepairIndexOptions = {}): Promise<RepairIndexResult> {
  const { signal, progress } = options
  const old = new MasterIndex()
  const unreadableIndexes: RepairIndexResult['unreadableIndexes'] = []
  let oldIndexes: Id[]
  progress?.phase?.('load-index', 0)
  if (options.readAllPacks) {
    oldIndexes = await repo.listIds('index')
  } else {
    oldIndexes = await forEachIndexFile(
      repo,
      {
        file(_id, file) {
          old.addTable(file)
          progress?.advance?.('load-index', 1)
        },
        error(id, err) {
          unreadableIndexes.push({ id, error: messageOf(err) })
          progress?.advance?.('load-index', 1)
        },
      },
      signal,
    )
  }

  const expected = new Map<Id, number>()
  const emptyPack = packSize([])
  for (const b of old.blobs()) expected.set(b.packId, (expected.get(b.packId) ?? emptyPack) + packSize([b]) - emptyPack)

  signal?.throwIfAborted()
  progress?.phase?.('list-packs', 0)
  const toRead = new Map<Id, number>()
  const addedPacks: Id[] = []
  const reindexedPacks: Id[] = []
  const present = new Set<Id>()
  for await (const f of repo.backend.list('data')) {
    present.add(f.name)
    const size = expected.get(f.name)
    if (size === f.size || (options.addOnly && size !== undefined)) continue
    toRead.set(f.name, f.size)
    if (size === undefined) addedPacks.push(f.name)
    else reindexedPacks.push(f.name)
  }
  const removedPacks = options.addOnly ? [] : [...expected.keys()].filter((id) => !present.has(id))
  if (options.addOnly && toRead.size === 0) {
    let blobs = 0
    for (const p of old.packs()) blobs += p.blobs.length
    return { oldIndexes: [], unreadableIndexes, newIndexes: [], addedPacks, reindexedPacks, removedPacks, skippedPacks: [], keptPacks: [], packs: expected.size, blobs, rewritten: false }
  }

  progress?.phase?.('read-packs', toRead.size)
  const headers = new Map<Id, PackedBlob[]>()
  const skippedPacks: RepairIndexResult['skippedPacks'] = []
  const keptPacks: RepairIndexResult['keptPacks'] = []
  const limit = createLimit(Math.max(4, repo.backend.properties.connections * 2))
  await Promise.all(
    [...toRead].map(([id, size]) =>
      limit(async () => {
        signal?.throwIfAborted()
        try {
          headers.set(id, await readPackHeader(repo.backend, repo.key, id, size))
        } catch (err) {
          signal?.throwIfAborted()
          // A pack refused for lack of permission is not damaged: leaving it out of the index
          // would have its data reported lost, and prune delete it.
          if (isPermissionError(err)) {
            throw new AppError('IO', `Pack ${id} cannot be read: ${messageOf(err)}; nothing was changed`, {
              hint: "Make sure the user running cairn may read the repository's files, then run the repair again",
              cause: err,
            })
          }
          if (expected.has(id)) keptPacks.push({ id, error: messageOf(err) })
          else skippedPacks.push({ id, error: messageOf(err) })
        }
        progress?.advance?.('read-packs', 1)
      }),
    ),
  )

  // Every pack that stays: old entries that still match, then the headers just read. Adding
  // only, the old index files stay, and the new ones hold the headers alone.
  const keep = function* (): Generator<IndexPack> {
    const kept = new Set(keptPacks.map((k) => k.id))
    if (!options.addOnly) for (const p of old.packs()) if (present.has(p.id) && (!toRead.has(p.id) || kept.has(p.id))) yield p
    for (const [id, blobs] of headers) yield { id, blobs }
  }
  if (options.addOnly) oldIndexes = []
  signal?.throwIfAborted()
  progress?.phase?.('write-index', 0)
  const newIndexes: Id[] = []
  let packs: IndexPack[] = []
  let blobsInFile = 0
  let packCount = 0
  let blobCount = 0
  const write = async () => {
    // The first file names every old one, as restic's does; readers ignore the field.
    const supersedes = newIndexes.length === 0 ? oldIndexes : []
    newIndexes.push(await repo.saveUnpacked('index', encodeIndex({ supersedes, packs })))
    progress?.advance?.('write-index', 1)
    packs = []
    blobsInFile = 0
  }
  for (const p of keep()) {
    packs.push(p)
    blobsInFile += p.blobs.length
    packCount++
    blobCount += p.blobs.length
    if (blobsInFile >= (options.blobsPerFile ?? BLOBS_PER_INDEX_FILE)) await write()
  }
  if (packs.length > 0 || (newIndexes.length === 0 && oldIndexes.length > 0)) await write()

  // Only now, with the new index complete, do the old files go.
  progress?.phase?.('remove-old-index', oldIndexes.length)
  const fresh = new Set(newIndexes)
  for (const id of oldIndexes) {
    if (fresh.has(id)) continue
    await repo.backend.remove({ type: 'index', name: id })
    progress?.advance?.('remove-old-index', 1)
  }
  return { oldIndexes, unreadableIndexes, newIndexes, addedPacks, reindexedPacks, removedPacks, skippedPacks, keptPacks, packs: packCount, blobs: blobCount, rewritten: true }
}
