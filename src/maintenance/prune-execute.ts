/**
 * The steps that change the repository during prune, each safe to interrupt at any moment:
 * copying kept blobs into new packs, writing a new index that covers every remaining pack, and
 * deleting files. The caller runs them in that order, so until the new index is complete the old
 * one still describes every pack, and packs are deleted only when no index needs them.
 */
import { AppError, createLimit, isAppError, messageOf, type Id } from '../base/index.js'
import {
  BlobWriter,
  createInlineEncoder,
  createWorkerEncoder,
  IndexFileBuilder,
  MasterIndex,
  packSize,
  type IndexPack,
  type BlobEncoder,
  type PackedBlob,
  type Repository,
  type WriterOptions,
} from '../repository/index.js'
import type { BlobSet } from './used-blobs.js'

export type RepackRepo = Pick<Repository, 'backend' | 'key' | 'version' | 'index' | 'saveUnpacked' | 'saveFramedUnpacked' | 'loadBlob' | 'decodeBlob' | 'writerDefaults'>

export interface RepackResult {
  /** The new packs with their blobs. */
  packs: IndexPack[]
  /** Index files the writer saved for the new packs (superseded by the final index). */
  indexIds: Id[]
  /** Bytes of the new packs. */
  bytes: number
}

/** Blobs closer than this are read with one request. */
const READ_GAP = 1 << 20

/**
 * Copies blobs out of `packs` into new packs (`toCopy`: the blobs to copy per pack; `keep`: their
 * keys, emptied as they are stored, so each is stored once). Each blob is read, decrypted,
 * decompressed and hash-checked, then stored again (compressed as a new blob would be). A damaged
 * blob is taken from another copy when the index knows one; otherwise repacking stops with an
 * error and nothing has been deleted.
 */
export async function repackPacks(
  repo: RepackRepo,
  packs: readonly Id[],
  toCopy: ReadonlyMap<Id, readonly PackedBlob[]>,
  keep: BlobSet,
  options: {
    writer?: WriterOptions
    /** Threads compressing and encrypting; 0 does it on this thread. Default: up to 4. */
    threads?: number
    /** Compress every blob, even where that saves nothing (--repack-uncompressed). */
    compressAll?: boolean
    signal?: AbortSignal
    onPack?: (done: number, total: number) => void
  } = {},
): Promise<RepackResult> {
  const limit = createLimit(Math.max(1, repo.backend.properties.connections))
  let done = 0
  const { fresh, indexIds } = await withFreshWriter(repo, options, (writer) =>
    Promise.all(
      packs.map((packId) =>
        limit(async () => {
          options.signal?.throwIfAborted()
          await copyPack(repo, writer, packId, [...(toCopy.get(packId) ?? [])], keep)
          options.onPack?.(++done, packs.length)
        }),
      ),
    ),
  )
  const newPacks = [...fresh.packs()].map((p) => ({ id: p.id, blobs: p.blobs }))
  return { packs: newPacks, indexIds, bytes: newPacks.reduce((n, p) => n + packSize(p.blobs), 0) }
}

/**
 * Runs `fn` with a blob writer of its own, with an empty index (the old copies of the blobs it is
 * given are still in the repository's index, and the point is to store them again), flushed
 * after it, or aborted when it fails. Returns the writer's index of the new packs and the index
 * files it saved for them (a final index written by the caller supersedes those).
 */
export async function withFreshWriter(
  repo: RepackRepo,
  options: { writer?: WriterOptions; threads?: number; compressAll?: boolean },
  fn: (writer: BlobWriter) => Promise<unknown>,
): Promise<{ fresh: MasterIndex; indexIds: Id[] }> {
  const { writer, fresh, indexIds, pool } = freshWriter(repo, options)
  try {
    await fn(writer)
    await writer.flush()
  } catch (err) {
    await writer.abort()
    throw err
  } finally {
    await pool.close()
  }
  return { fresh, indexIds }
}

function freshWriter(
  repo: RepackRepo,
  options: { writer?: WriterOptions; threads?: number; compressAll?: boolean },
): { writer: BlobWriter; fresh: MasterIndex; indexIds: Id[]; pool: BlobEncoder } {
  const fresh = new MasterIndex()
  const indexIds: Id[] = []
  const pool = options.threads === 0 ? createInlineEncoder(repo.key) : createWorkerEncoder(repo.key, options.threads)
  const encoder = options.compressAll ? compressingEverything(pool) : pool
  const writer = new BlobWriter(
    {
      backend: repo.backend,
      key: repo.key,
      version: repo.version,
      index: fresh,
      saveFramedUnpacked: async (type, framed) => {
        const id = await repo.saveFramedUnpacked(type, framed)
        indexIds.push(id)
        return id
      },
    },
    { ...repo.writerDefaults, ...options.writer, encoder },
  )
  return { writer, fresh, indexIds, pool }
}

/**
 * An encoder that compresses data blobs even when that saves nothing, as restic does: otherwise
 * incompressible blobs would stay uncompressed and `--repack-uncompressed` would repack them on
 * every run. Encoders always compress trees, and a blob's bytes do not depend on its type.
 */
function compressingEverything(inner: BlobEncoder): BlobEncoder {
  return { encode: (_type, data, level) => inner.encode('tree', data, level), close: () => inner.close() }
}

async function copyPack(repo: RepackRepo, writer: BlobWriter, packId: Id, blobs: PackedBlob[], keep: BlobSet): Promise<void> {
  blobs.sort((a, b) => a.offset - b.offset)
  let i = 0
  while (i < blobs.length) {
    let j = i + 1
    let end = blobs[i].offset + blobs[i].length
    while (j < blobs.length && blobs[j].offset - end <= READ_GAP) {
      end = Math.max(end, blobs[j].offset + blobs[j].length)
      j++
    }
    const start = blobs[i].offset
    let bytes: Buffer | undefined
    let failure: unknown
    try {
      bytes = await repo.backend.load({ type: 'data', name: packId }, start, end - start)
    } catch (err) {
      // A storage that cannot be reached (its retries are spent) is the error: no other copy is
      // reachable either, and a damaged pack is not to blame.
      if (unreachable(err)) throw err
      failure = err // each blob below then looks for another copy
    }
    for (let k = i; k < j; k++) {
      const b = blobs[k]
      if (!keep.has(b.type, b.id)) continue // stored already from another pack
      let plain: Buffer
      try {
        if (bytes === undefined) throw new AppError('IO', `pack ${packId} cannot be read: ${messageOf(failure)}`, { cause: failure })
        plain = repo.decodeBlob(b, bytes.subarray(b.offset - start, b.offset - start + b.length), packId)
      } catch (err) {
        plain = await loadOtherCopy(repo, b, packId, err)
      }
      if (!keep.delete(b.type, b.id)) continue
      await writer.saveBlob(b.type, plain, b.id)
    }
    i = j
  }
}

async function loadOtherCopy(repo: RepackRepo, b: PackedBlob, packId: Id, original: unknown): Promise<Buffer> {
  try {
    return await repo.loadBlob(b.type, b.id)
  } catch (err) {
    if (unreachable(err)) throw err
    throw new AppError('INVALID_DATA', `Cannot repack pack ${packId}: ${messageOf(original)}; nothing was deleted`, {
      hint: 'Run "cairn check --read-data" to see which snapshots are affected',
      cause: original,
    })
  }
}

function unreachable(err: unknown): boolean {
  return isAppError(err, 'NETWORK') || isAppError(err, 'INTERRUPTED')
}

/**
 * Writes index files listing `packs` (split as restic splits them: 150 000 blobs per file, 50 000
 * in format v1); the first names `supersedes`. Returns the new index IDs.
 */
export async function writeIndexFiles(
  repo: Pick<Repository, 'saveFramedUnpacked' | 'version'>,
  packs: Iterable<IndexPack>,
  supersedes: readonly Id[],
): Promise<Id[]> {
  const limitPerFile = repo.version === 1 ? 50_000 : 150_000
  const written: Id[] = []
  // The first file names `supersedes`; the next one is started only when a pack needs it.
  let file: IndexFileBuilder | undefined = new IndexFileBuilder(repo.version, supersedes)
  for (const p of packs) {
    file ??= new IndexFileBuilder(repo.version)
    file.add(p)
    if (file.blobCount >= limitPerFile) {
      written.push(await repo.saveFramedUnpacked('index', file.finish()))
      file = undefined
    }
  }
  if (file !== undefined && (file.packCount > 0 || written.length === 0)) written.push(await repo.saveFramedUnpacked('index', file.finish()))
  return written
}

/** Deletes files of one type, a few at a time; stops at the first failure. */
export async function deleteFiles(
  repo: Pick<Repository, 'backend'>,
  type: 'data' | 'index' | 'snapshots',
  ids: readonly Id[],
  options: { signal?: AbortSignal; onDeleted?: (done: number, total: number) => void } = {},
): Promise<void> {
  const limit = createLimit(Math.max(2, repo.backend.properties.connections * 2))
  let done = 0
  let failed: unknown
  await Promise.all(
    ids.map((name) =>
      limit(async () => {
        if (failed !== undefined) return
        options.signal?.throwIfAborted()
        try {
          await repo.backend.remove({ type, name })
        } catch (err) {
          failed ??= err
          return
        }
        options.onDeleted?.(++done, ids.length)
      }),
    ),
  )
  if (failed !== undefined) {
    // A refusal (an append-only server) will be refused again: its own hint says what to do.
    const refused = isAppError(failed, 'PERMISSION_DENIED') ? failed : undefined
    const again = type === 'snapshots' ? 'Nothing is lost; run the command again to remove the rest' : 'The repository is consistent; run prune again to finish the clean-up'
    throw new AppError(refused ? 'PERMISSION_DENIED' : 'IO', `Cannot delete ${type} file: ${messageOf(failed)}`, {
      hint: refused?.hint ?? again,
      cause: failed,
    })
  }
}
