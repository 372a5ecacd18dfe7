/**
 * Salvaging damaged pack files, as restic's `repair packs` does: every blob in them that still
 * decrypts and verifies (listed by the index or by the pack's own header) is stored again in new
 * packs, a new index without the damaged packs replaces the old one, and the packs are deleted.
 * Blobs that cannot be read are lost unless another pack holds them; `repair snapshots --forget`
 * then drops them from the snapshots.
 *
 * Safe to interrupt at any moment, in the order prune keeps: until the new index is complete the
 * old one still lists the damaged packs (and the salvaged copies are duplicates that prune tidies
 * up); a pack is deleted only once no index lists it.
 */
import { AppError, isAppError, isPermissionError, messageOf, shortId, type Id } from '../base/index.js'
import { readPackHeader, type BlobType, type IndexPack, type PackedBlob } from '../repository/index.js'
import { deleteFiles, withFreshWriter, writeIndexFiles, type RepackRepo } from './prune-execute.js'

export type RepairPacksRepo = RepackRepo & Pick<import('../repository/index.js').Repository, 'loadIndex'>

export interface SalvagedPack {
  id: Id
  /** The pack's file was not there: nothing could be salvaged. */
  missing: boolean
  /** Blobs stored again. */
  salvaged: number
  /** Blobs that could not be read, with why. */
  lost: Array<{ type: BlobType; id: Id; error: string }>
  /** The pack's header could not be read (its blobs came from the index alone). */
  headerError?: string
  /**
   * The header cannot be read and no index lists the pack's blobs: what it holds is unknown, so
   * it is kept, not deleted (its blobs may be what snapshots miss).
   */
  unknown?: boolean
}

export interface RepairPacksResult {
  packs: SalvagedPack[]
  /** New packs the salvaged blobs went into. */
  packsWritten: number
  /** Packs deleted (all of `packs` but those missing or of unknown content, unless a deletion failed: prune removes those later). */
  packsDeleted: number
  /** Deletions that failed. */
  deleteErrors: string[]
}

export interface RepairPacksOptions {
  /** Called with each pack's bytes as read, before anything changes: to keep a copy of it. */
  onPackRead?: (id: Id, bytes: Buffer) => Promise<void> | void
  onPack?: (pack: SalvagedPack) => void
  /** Threads compressing and encrypting; 0 does it on this thread. */
  threads?: number
  signal?: AbortSignal
}

/**
 * Salvages the packs `ids` (full pack IDs). A pack that cannot be read for lack of permission
 * stops the repair before anything changed: that is not damage, and deleting it would lose data.
 *
 * @example
 * const r = await repairPacks(repo, [packId])
 * if (r.packs.some((p) => p.lost.length > 0)) console.log('run repair snapshots --forget')
 */
export async function repairPacks(repo: RepairPacksRepo, ids: readonly Id[], options: RepairPacksOptions = {}): Promise<RepairPacksResult> {
  const { signal } = options
  const indexIds: Id[] = []
  await repo.loadIndex({ force: true, onFile: (id) => indexIds.push(id) })
  const targets = new Set(ids)
  const indexed = new Map<Id, PackedBlob[]>()
  for (const p of repo.index.packs()) if (targets.has(p.id)) indexed.set(p.id, p.blobs)

  const result: RepairPacksResult = { packs: [], packsWritten: 0, packsDeleted: 0, deleteErrors: [] }
  const stored = new Set<string>()
  const { fresh, indexIds: writerIndexIds } = await withFreshWriter(repo, { threads: options.threads ?? 0 }, async (writer) => {
    for (const id of targets) {
      signal?.throwIfAborted()
      const pack: SalvagedPack = { id, missing: false, salvaged: 0, lost: [] }
      let bytes: Buffer | undefined
      try {
        bytes = await repo.backend.load({ type: 'data', name: id })
      } catch (err) {
        if (isPermissionError(err)) {
          throw new AppError('IO', `Pack ${id} cannot be read: ${messageOf(err)}; that is no damage, so nothing was changed`, {
            hint: 'Check that the user running cairn may read the repository\'s files, then check the repository again',
            cause: err,
          })
        }
        if (!isAppError(err, 'NOT_FOUND')) throw err
        pack.missing = true
      }
      if (bytes !== undefined) await options.onPackRead?.(id, bytes)
      const blobs = new Map<string, PackedBlob>()
      for (const b of indexed.get(id) ?? []) blobs.set(`${b.type}:${b.id}:${b.offset}:${b.length}`, b)
      if (bytes !== undefined) {
        try {
          const header = await readPackHeader({ load: async (_h, offset = 0, length) => sliceOf(bytes, offset, length), stat: async () => ({ name: id, size: bytes.length }) }, repo.key, id, bytes.length)
          for (const b of header) blobs.set(`${b.type}:${b.id}:${b.offset}:${b.length}`, b)
        } catch (err) {
          pack.headerError = messageOf(err)
          if (blobs.size === 0) pack.unknown = true
        }
      }
      const sorted = [...blobs.values()].sort((a, b) => a.offset - b.offset)
      for (const b of sorted) {
        const key = `${b.type}:${b.id}`
        if (stored.has(key)) continue
        let plain: Buffer
        try {
          if (bytes === undefined) throw new Error('the pack file is missing')
          if (b.offset + b.length > bytes.length) throw new Error(`it lies past the end of the pack (${bytes.length} bytes)`)
          plain = repo.decodeBlob(b, bytes.subarray(b.offset, b.offset + b.length), id)
        } catch (err) {
          pack.lost.push({ type: b.type, id: b.id, error: messageOf(err) })
          continue
        }
        stored.add(key)
        await writer.saveBlob(b.type, plain, b.id)
        pack.salvaged++
      }
      // Not lost: a blob salvaged from another entry (the header's, at another offset), or one
      // that another pack holds too.
      pack.lost = pack.lost.filter((l, i, all) => {
        if (stored.has(`${l.type}:${l.id}`) || all.findIndex((o) => o.type === l.type && o.id === l.id) !== i) return false
        return !repo.index.lookupAll(l.type, l.id).some((at) => !targets.has(at.packId))
      })
      result.packs.push(pack)
      options.onPack?.(pack)
    }
  })

  signal?.throwIfAborted()
  const remaining: IndexPack[] = []
  for (const p of repo.index.packs()) if (!targets.has(p.id) && p.blobs.length > 0) remaining.push(p)
  for (const p of fresh.packs()) remaining.push({ id: p.id, blobs: p.blobs })
  result.packsWritten = [...fresh.packs()].length
  const obsolete = [...indexIds, ...writerIndexIds]
  await writeIndexFiles(repo, remaining, obsolete)
  await deleteFiles(repo, 'index', obsolete, { signal })

  // A pack that cannot be deleted now is unreferenced: prune removes it later.
  for (const p of result.packs) {
    if (p.missing || p.unknown) continue
    try {
      await deleteFiles(repo, 'data', [p.id], { signal })
      result.packsDeleted++
    } catch (err) {
      signal?.throwIfAborted()
      result.deleteErrors.push(`pack ${shortId(p.id)}: ${messageOf(err)}`)
    }
  }
  return result
}

function sliceOf(bytes: Buffer, offset: number, length: number | undefined): Buffer {
  const end = length === undefined ? bytes.length : offset + length
  if (offset < 0 || end > bytes.length) throw new AppError('INVALID_DATA', `the pack has ${bytes.length} bytes, not ${end}`)
  return bytes.subarray(offset, end)
}
