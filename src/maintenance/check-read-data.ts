import { createHash } from 'node:crypto'
import { createLimit, createSemaphore, hashId, messageOf, ownBuffer, SharedSlots, shortId, type Id, type Semaphore, type WorkerPool } from '../base/index.js'
import type { VerifyRequest, VerifyResult } from './verify-pack-worker.js'
import { readPackHeader, type MasterIndex, type PackedBlob, type Repository } from '../repository/index.js'
import type { CheckProgress } from './check-report.js'
import type { PendingProblem } from './check-structure.js'

export interface PackToRead {
  id: Id
  /** Its blobs as the index lists them. */
  blobs: PackedBlob[]
}

export interface ReadDataContext {
  repo: Pick<Repository, 'backend' | 'key' | 'decodeBlob'>
  index: MasterIndex
  /** `${packId}:${blobId}` of every copy found damaged; read-data adds to it. */
  badCopies: Set<string>
  report(p: PendingProblem): void
  concurrency: number
  /** Worker threads that hash packs and verify their blobs; without it this thread does. */
  verifier?: WorkerPool
  /** Where packs are loaded, when the backend can load into given memory (Backend.loadInto). */
  buffers: SharedSlots
  signal?: AbortSignal
  progress?: CheckProgress
}

/**
 * Shared buffers for packs, or parts of packs (see checkPackInParts), one per read under way:
 * room for restic's largest default pack (16 MiB and one maximal blob) from the start, touched
 * only as reads fill it.
 */
export function packSlots(): SharedSlots {
  return new SharedSlots(25 * MIB)
}

const MIB = 1024 * 1024

/**
 * `--read-data`: downloads each pack whole and checks it as restic does: the content hashes to
 * the pack's name; the index entries are contiguous from offset 0; the header can be read and
 * equals the index entries; every blob decrypts, decompresses and hashes to its ID. Unlike
 * restic it goes on after a hash mismatch, so the report names the blobs that are damaged.
 * Returns the bytes read.
 */
export async function readPacks(ctx: ReadDataContext, packs: readonly PackToRead[]): Promise<number> {
  const limit = createLimit(ctx.concurrency)
  const parts = createSemaphore(ctx.concurrency + 1)
  let bytes = 0
  await Promise.all(
    packs.map((pack) =>
      limit(async () => {
        ctx.signal?.throwIfAborted()
        const n = await checkPack(ctx, pack, parts)
        bytes += n
        ctx.progress?.advance?.('read-data', 1, n)
      }),
    ),
  )
  return bytes
}

async function checkPack(ctx: ReadDataContext, pack: PackToRead, parts: Semaphore): Promise<number> {
  const { id } = pack
  const short = shortId(id)
  const backend = ctx.repo.backend
  const h = { type: 'data' as const, name: id }
  const sorted = [...pack.blobs].sort((a, b) => a.offset - b.offset)
  if (ctx.verifier !== undefined && backend.loadInto !== undefined && backend.properties.local) {
    let size: number | undefined
    try {
      size = (await backend.stat(h)).size
    } catch {
      // load() below reports it
    }
    if (size !== undefined && isContiguous(sorted, size)) return checkPackInParts(ctx, pack, sorted, size, parts)
  }
  const slot = ctx.verifier !== undefined && backend.loadInto !== undefined ? ctx.buffers.take() : undefined
  let bytes: Buffer
  try {
    bytes = slot === undefined ? await backend.load(h) : await backend.loadInto!(h, (n) => slot.fit(n))
  } catch (err) {
    slot?.give()
    ctx.signal?.throwIfAborted()
    ctx.report({ kind: 'pack-unreadable', message: `pack ${short}: cannot be downloaded (${messageOf(err)})`, pack: id })
    return 0
  }
  try {
    return await verifyPack(ctx, pack, sorted, bytes)
  } finally {
    slot?.give()
  }
}

/** Checks a pack read whole; `sorted` is its index entries by offset. */
async function verifyPack(ctx: ReadDataContext, pack: PackToRead, sorted: PackedBlob[], bytes: Buffer): Promise<number> {
  const { id } = pack
  const short = shortId(id)
  const size = bytes.length // before its buffer may move to a worker
  let end = 0
  for (const b of sorted) {
    if (b.offset !== end) {
      ctx.report({ kind: 'pack-header-mismatch', message: `pack ${short}: its index entries have gaps or overlap (at offset ${b.offset})`, pack: id })
      break
    }
    end = b.offset + b.length
  }

  await checkHeader(ctx, pack, size, sorted, {
    load: async (_h, offset = 0, length) => bytes.subarray(offset, length === undefined ? undefined : offset + length),
  })

  const damaged: PackedBlob[] = []
  let actual: string
  if (ctx.verifier) {
    // A pack in shared memory (one of ctx.buffers) is read there, in parts that any worker may
    // take: the hash, and runs of blobs. Any other pack moves to one worker whole.
    const shared = bytes.buffer instanceof SharedArrayBuffer
    const sent = shared ? bytes : ownBuffer(bytes)
    const blobsOf = (part: PackedBlob[]) => part.map((b) => ({ id: b.id, offset: b.offset, length: b.length, uncompressedLength: b.uncompressedLength }))
    const parts: PackedBlob[][] = shared ? splitBlobs(sorted, VERIFY_PART) : [sorted]
    const requests = parts.map((part, i): [VerifyRequest, number] => [{ bytes: sent, blobs: blobsOf(part), hash: !shared && i === 0 }, part.reduce((n, b) => n + b.length, 0)])
    if (shared) requests.push([{ bytes: sent, blobs: [], hash: true }, size])
    const results = await Promise.all(
      requests.map(([request, weight]) => ctx.verifier!.call<VerifyResult>(request, weight, shared ? [] : [sent.buffer as ArrayBuffer])),
    )
    actual = results.find((r) => r.hash !== undefined)!.hash!
    results.forEach((r, i) => {
      if (i < parts.length) for (const k of r.damaged) damaged.push(parts[i][k])
    })
  } else {
    actual = hashId(bytes)
    for (const b of sorted) {
      const sealed = b.offset + b.length <= bytes.length ? bytes.subarray(b.offset, b.offset + b.length) : undefined
      try {
        if (sealed === undefined) throw new RangeError('past the end of the pack')
        ctx.repo.decodeBlob(b, sealed, id)
      } catch {
        damaged.push(b)
      }
    }
  }
  reportPack(ctx, pack, actual, damaged)
  return size
}

/** Reports what reading a pack found: blobs that failed, and a content that does not hash to its name. */
function reportPack(ctx: ReadDataContext, pack: PackToRead, actual: string, damaged: readonly PackedBlob[]): void {
  const { id } = pack
  const short = shortId(id)
  for (const b of damaged) ctx.badCopies.add(`${id}:${b.id}`)
  if (actual !== id) {
    const why = damaged.length > 0 ? `${damaged.length} of its blobs ${damaged.length === 1 ? "is" : "are"} damaged` : 'every blob in it is intact, so the damage is in its header'
    ctx.report({ kind: 'pack-hash', message: `pack ${short}: its content does not match its name (it hashes to ${shortId(actual)}; ${why})`, pack: id })
  }
  if (damaged.length > 0) {
    const n = damaged.length
    const list = damaged.slice(0, 3).map((b) => `${b.type} ${shortId(b.id)}`).join(', ') + (n > 3 ? ', …' : '')
    ctx.report({
      kind: 'blob-damaged',
      message: `pack ${short}: ${n} of its ${pack.blobs.length} blobs ${n === 1 ? 'is' : 'are'} damaged (${list})`,
      pack: id,
      blobs: damaged.map((b) => b.id),
      dataBlobs: damaged.filter((b) => b.type === 'data').map((b) => b.id),
      treeBlobs: damaged.filter((b) => b.type === 'tree').map((b) => b.id),
    })
  }
}

/** True when the blobs (by offset) follow each other from offset 0 and end before `size`. */
function isContiguous(sorted: readonly PackedBlob[], size: number): boolean {
  let end = 0
  for (const b of sorted) {
    if (b.offset !== end) return false
    end += b.length
  }
  return end <= size
}

/**
 * checkPack() for a pack on a local disk whose blobs lie one after another, as every writer
 * puts them: the pack is read in parts of about VERIFY_PART bytes, in order, each into a
 * shared buffer. This thread hashes each part as it arrives (the pack's hash needs its bytes in
 * order) and a worker verifies the blobs in it, decrypting them in place (nothing else reads
 * the part any more); then the rest of the file, the header, is read
 * and hashed. So a part, not a whole pack, is held per read in flight: `parts` bounds them
 * across all packs. Whole 16 MiB packs, three at a time, had made check's peak memory twice
 * restic's, which streams each pack.
 */
async function checkPackInParts(ctx: ReadDataContext, pack: PackToRead, sorted: PackedBlob[], size: number, parts: Semaphore): Promise<number> {
  const { id } = pack
  const backend = ctx.repo.backend
  const h = { type: 'data' as const, name: id }
  const hash = createHash('sha256')
  const damaged: PackedBlob[][] = []
  // Each call is settled as soon as it is made (a worker that fails must not leave a rejection
  // nobody listens to while this goes on reading): its error is kept, and thrown at the end.
  const verifying: Array<Promise<void>> = []
  let workerFailure: { error: unknown } | undefined
  let at = 0
  try {
    for (const [i, part] of splitBlobs(sorted, VERIFY_PART).entries()) {
      const from = at
      const to = part[part.length - 1].offset + part[part.length - 1].length
      at = to
      // A turn among the parts in flight, held until the part's blobs are verified.
      await parts.acquire()
      const slot = ctx.buffers.take()
      const release = (): void => {
        slot.give()
        parts.release()
      }
      let bytes: Buffer
      try {
        bytes = expectLength(await backend.loadInto!(h, (n) => slot.fit(n), from, to - from), from, to - from)
        hash.update(bytes)
      } catch (err) {
        release()
        throw err
      }
      const blobs = part.map((b) => ({ id: b.id, offset: b.offset - from, length: b.length, uncompressedLength: b.uncompressedLength }))
      verifying.push(
        Promise.resolve()
          .then(() => ctx.verifier!.call<VerifyResult>({ bytes, blobs, hash: false, inPlace: true }, to - from, []))
          .then(
            (r) => {
              damaged[i] = r.damaged.map((k) => part[k])
            },
            (error: unknown) => {
              workerFailure ??= { error }
            },
          )
          .finally(release),
      )
    }
    const rest = expectLength(at < size ? await backend.load(h, at, size - at) : Buffer.alloc(0), at, size - at)
    hash.update(rest)
    await checkHeader(ctx, pack, size, sorted, {
      // The header is in the rest; a damaged header length may point before it.
      load: async (_h, offset = 0, length) =>
        offset >= at && length !== undefined && offset + length <= size ? rest.subarray(offset - at, offset - at + length) : backend.load(h, offset, length),
    })
  } catch (err) {
    await Promise.all(verifying)
    if (workerFailure) throw workerFailure.error
    ctx.signal?.throwIfAborted()
    ctx.report({ kind: 'pack-unreadable', message: `pack ${shortId(id)}: cannot be downloaded (${messageOf(err)})`, pack: id })
    return 0
  }
  await Promise.all(verifying)
  if (workerFailure) throw workerFailure.error
  reportPack(ctx, pack, hash.digest('hex'), damaged.flat())
  return size
}

/** `bytes`, read at `offset`, when it has the `length` asked for (a file that shrank meanwhile has not). */
function expectLength(bytes: Buffer, offset: number, length: number): Buffer {
  if (bytes.length !== length) throw new Error(`read ${bytes.length} bytes at offset ${offset}, expected ${length}`)
  return bytes
}

/** Blobs of a pack verified by one request, in sealed bytes at most (a larger blob goes alone). */
const VERIFY_PART = 4 * MIB

/** `blobs` (in pack order) in runs of up to `bytes` sealed bytes, each of one blob at least. */
function splitBlobs(blobs: PackedBlob[], bytes: number): PackedBlob[][] {
  const parts: PackedBlob[][] = []
  let part: PackedBlob[] = []
  let size = 0
  for (const b of blobs) {
    if (part.length > 0 && size + b.length > bytes) {
      parts.push(part)
      part = []
      size = 0
    }
    part.push(b)
    size += b.length
  }
  if (part.length > 0) parts.push(part)
  return parts
}

/**
 * Reads the header of a pack of `size` bytes through `source` (the bytes read already) and
 * compares it with the index entries (`sorted`: the pack's, by offset).
 */
async function checkHeader(ctx: ReadDataContext, pack: PackToRead, size: number, sorted: readonly PackedBlob[], source: Pick<Parameters<typeof readPackHeader>[0], 'load'>): Promise<void> {
  const { id } = pack
  const inMemory: Parameters<typeof readPackHeader>[0] = { load: source.load, stat: async () => ({ name: id, size }) }
  let header: PackedBlob[]
  try {
    header = await readPackHeader(inMemory, ctx.repo.key, id, size)
  } catch (err) {
    ctx.report({ kind: 'pack-header-damaged', message: `pack ${shortId(id)}: its header cannot be read (${messageOf(err)})`, pack: id })
    return
  }
  // A header lists its blobs in pack order: when it is the index's entries one for one, there
  // is nothing to look up (a lookup per blob cost the main thread 0.4 s in a check of src).
  if (!sameEntries(header, sorted)) compare(ctx, pack, header)
}

function sameEntries(header: readonly PackedBlob[], sorted: readonly PackedBlob[]): boolean {
  if (header.length !== sorted.length) return false
  for (let i = 0; i < header.length; i++) {
    const h = header[i]
    const b = sorted[i]
    if (h.type !== b.type || h.id !== b.id || h.offset !== b.offset || h.length !== b.length || h.uncompressedLength !== b.uncompressedLength) return false
  }
  return true
}

function compare(ctx: ReadDataContext, pack: PackToRead, header: PackedBlob[]): void {
  const problems: string[] = []
  const inHeader = new Set<string>()
  for (const h of header) {
    inHeader.add(h.type + h.id)
    const match = ctx.index
      .lookupAll(h.type, h.id)
      .some((l) => l.packId === pack.id && l.offset === h.offset && l.length === h.length && l.uncompressedLength === h.uncompressedLength)
    if (!match) problems.push(`${h.type} blob ${shortId(h.id)} is not in the index at offset ${h.offset}`)
  }
  for (const b of pack.blobs) {
    if (!inHeader.has(b.type + b.id)) problems.push(`the index lists ${b.type} blob ${shortId(b.id)} that the header does not`)
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 3).join('; ') + (problems.length > 3 ? `; and ${problems.length - 3} more` : '')
    ctx.report({ kind: 'pack-header-mismatch', message: `pack ${shortId(pack.id)}: header and index disagree: ${shown}`, pack: pack.id })
  }
}
