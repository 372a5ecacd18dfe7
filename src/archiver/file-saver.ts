import { close, constants, open, read } from 'node:fs'
import { AppError, createLimit, hashId, type Id } from '../base/index.js'
import { couldEndChunk, createChunker, createScanBuffer, MAX_SIZE, MIN_SIZE, type ChunkerState } from '../chunker/index.js'
import type { EncodedBlob, SaveResult } from '../repository/index.js'
import type { BackupWorkers } from './backup-workers.js'
import { READ_FLAGS } from './read-check.js'

/** What the file saver needs of a blob writer. */
export interface DataSink {
  saveBlob(type: 'data', data: Uint8Array, id?: Id): Promise<SaveResult>
  saveEncodedBlob?(type: 'data', id: Id, plainSize: number, enc: EncodedBlob): Promise<SaveResult>
  /** Whether the blob is stored or on its way (lets a changed file skip encoding known chunks). */
  has?(type: 'data', id: Id): boolean
  readonly compressionLevel?: number
}

export interface SavedFile {
  content: Id[]
  /** Bytes read from the file. */
  size: number
  /** Bytes of new blobs (plaintext) this file added to the repository. */
  added: number
  /** Bytes found unchanged by following the earlier version's chunks, so never chunked. */
  followed?: number
  /**
   * The file's state when the read ended, taken through the descriptor it was read through
   * (a worker's small file, as contentMarkText): the bytes read are the content of that file
   * in that state.
   */
  readEnd?: string
}

/**
 * What is known of a file's earlier version, when the file changed since the parent snapshot.
 * Its chunks are then hashed first and only new ones compressed, instead of compressing every
 * chunk speculatively; and where its earlier chunks are given, the new content is first tried
 * against them (see ChunkGuide) rather than chunked.
 */
export interface EarlierVersion {
  /** The earlier version's chunks in file order, without its last one, with their plaintext sizes. */
  chunks?: ReadonlyArray<{ id: Id; size: number }>
  /**
   * The earlier version's content when it was one chunk: a small file whose content hashes to
   * it again (only its times changed) is not compressed and sealed for nothing.
   */
  only?: Id
}

/** Bytes read from a large file at once. */
const READ_SIZE = 2 * 1024 * 1024
/**
 * The read ring of a large file: blocks are read one after another into it, chunks are cut
 * where they lie and encoded there by workers. Its size bounds the chunks in flight: enough
 * for both workers to stay busy while this thread chunks on. It must hold the largest chunk
 * and the next block read behind it. Two rings exist at most, each resident once a file has
 * gone round it. Measured on a backup of six large files: 16 MiB instead of 24 took 33 MiB off
 * the peak RSS, and 12 MiB instead of 16 another 17 MiB (8 MiB on the kernel tree), in
 * the same time (paired runs: wall 1.005 and 1.01, within their spread).
 */
const RING_SIZE = MAX_SIZE + 2 * READ_SIZE
const O_NOATIME = constants.O_NOATIME ?? 0

/** A chunk cut from a read ring and not yet stored: its bytes [from, to) must stay as they are. */
interface InFlight {
  from: number
  to: number
  done: Promise<void>
  settled: boolean
  error?: unknown
}

/**
 * A buffer a large file is read into, in shared memory: workers hash and encode chunks right
 * there, so no chunk is copied. Blocks go in one after another; when the next would not fit,
 * the unchunked end moves to the front (at most one chunk's bytes, once per turn of the ring).
 * A region is read into only once the chunks cut from it are stored.
 */
class ReadRing {
  // In the chunker's own shared memory where possible: scanned where it lies, not copied there.
  readonly buf = createScanBuffer(RING_SIZE) ?? Buffer.from(new SharedArrayBuffer(RING_SIZE))
  #inFlight: InFlight[] = []

  track(from: number, to: number, done: Promise<void>): void {
    const f: InFlight = { from, to, done, settled: false }
    f.done = done.then(
      () => {
        f.settled = true
      },
      (err: unknown) => {
        f.settled = true
        f.error = err
      },
    )
    this.#inFlight.push(f)
  }

  /** Waits until no chunk in flight lies in [from, to); throws the first failure seen. */
  async free(from: number, to: number): Promise<void> {
    for (const f of this.#inFlight) if (!f.settled && f.from < to && f.to > from) await f.done
    this.#prune()
  }

  /** Waits for every chunk in flight; throws the first failure. */
  async drain(): Promise<void> {
    for (const f of this.#inFlight) await f.done
    this.#prune()
  }

  /** A promise that settles once nothing is in flight (never rejects). */
  idle(): Promise<unknown> {
    return Promise.all(this.#inFlight.map((f) => f.done))
  }

  #prune(): void {
    const failed = this.#inFlight.find((f) => f.error !== undefined)
    if (failed) throw failed.error
    this.#inFlight = this.#inFlight.filter((f) => !f.settled)
  }

  reset(): void {
    this.#inFlight = []
  }
}

/**
 * Reads a file once, cuts it into content-defined chunks and saves each as a data blob.
 * Small files (at most MIN_SIZE, always one chunk) skip the chunker and go to a worker whole.
 * Large files stream through a reusable read ring in shared memory, so memory does not grow
 * with file size and no chunk is copied on its way to a worker.
 */
export class FileSaver {
  #polynomial: bigint
  #rings: ReadRing[] = []
  // With workers, two large files at a time: one chunked here (in place, the fastest way), the
  // other on workers block by block (the chunker's state goes with each block), so that two
  // files are chunked at once when compressing leaves the workers time. Each file's next block
  // is read while the current one is chunked. Without workers, one at a time. Small files go
  // on meanwhile.
  #largeLimit: ReturnType<typeof createLimit>
  /** A large file is being chunked on this thread. */
  #chunkingHere = false

  #workers: BackupWorkers | undefined
  #signal: AbortSignal | undefined

  /** `signal` stops a large file between two blocks of its read (Ctrl-C during a disk image). */
  constructor(polynomial: bigint, workers?: BackupWorkers, signal?: AbortSignal) {
    this.#polynomial = polynomial
    this.#workers = workers
    this.#signal = signal
    this.#largeLimit = createLimit(workers ? 2 : 1)
  }

  /**
   * `mostlyKnown` says the file had an earlier version (it changed since the parent snapshot):
   * its chunks are then hashed first and only new ones are compressed, instead of compressing
   * every chunk speculatively.
   */
  save(path: string | Buffer, expectedSize: number, sink: DataSink, onBytes?: (n: number) => void, earlier?: EarlierVersion): Promise<SavedFile> {
    if (expectedSize <= MIN_SIZE && this.#workers && sink.saveEncodedBlob) return this.#saveOnWorker(path, expectedSize, sink, onBytes, earlier)
    return this.#saveHere(path, expectedSize, sink, onBytes, earlier)
  }

  /**
   * Reads `input` to its end (a pipe, such as standard input) and saves what it read as one
   * file's content: chunked and stored as a large file is, whatever its size.
   */
  saveStream(input: FileHandleLike, sink: DataSink, onBytes?: (n: number) => void): Promise<SavedFile> {
    return this.#largeLimit(() => this.#saveLarge(input, sink, onBytes))
  }

  // Small and separate from #saveHere: an async function's suspended state is as big as the
  // whole function, and this one runs for every small file.
  async #saveOnWorker(path: string | Buffer, expectedSize: number, sink: DataSink, onBytes: ((n: number) => void) | undefined, earlier: EarlierVersion | undefined): Promise<SavedFile> {
    // A small file is one chunk: a worker reads, hashes and encodes it in one go.
    const unless = earlier?.only !== undefined && sink.has?.('data', earlier.only) ? earlier.only : undefined
    const r = await this.#workers!.readSmallFile(path, expectedSize, MIN_SIZE, sink.compressionLevel ?? 0, unless)
    if (r.kind === 'empty') return { content: [], size: 0, added: 0, readEnd: r.readEnd }
    if (r.kind === 'grew') return this.#saveHere(path, expectedSize, sink, onBytes, earlier) // read to its end and chunked
    if (r.kind === 'same') {
      onBytes?.(r.size)
      return { content: [r.id], size: r.size, added: 0, readEnd: r.readEnd }
    }
    const saved = await sink.saveEncodedBlob!('data', r.id, r.size, r.blob)
    onBytes?.(r.size)
    return { content: [r.id], size: r.size, added: saved.known ? 0 : r.size, readEnd: r.readEnd }
  }

  async #saveHere(path: string | Buffer, expectedSize: number, sink: DataSink, onBytes: ((n: number) => void) | undefined, earlier: EarlierVersion | undefined): Promise<SavedFile> {
    const fh = await openForReading(path)
    try {
      if (expectedSize <= MIN_SIZE) return await this.#saveSmall(fh, expectedSize, sink, onBytes)
      return await this.#largeLimit(() => this.#saveLarge(fh, sink, onBytes, undefined, earlier))
    } finally {
      await fh.close()
    }
  }

  async #saveSmall(fh: FileHandleLike, expectedSize: number, sink: DataSink, onBytes?: (n: number) => void): Promise<SavedFile> {
    // Read one byte more than expected to notice more content: a file that grew, or one whose
    // stat does not tell its size (/proc, /sys). It is then read to its end and chunked.
    const buf = Buffer.allocUnsafe(expectedSize + 1)
    let n = 0
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null)
      if (bytesRead === 0) break
      n += bytesRead
    }
    if (n > expectedSize) return this.#saveLarge(fh, sink, onBytes, buf.subarray(0, n))
    if (n === 0) return { content: [], size: 0, added: 0 }
    const data = buf.subarray(0, n)
    const r = await sink.saveBlob('data', data, hashId(data))
    onBytes?.(n)
    return { content: [r.id], size: n, added: r.known ? 0 : n }
  }

  async #saveLarge(fh: FileHandleLike, sink: DataSink, onBytes?: (n: number) => void, prefix?: Buffer, earlier?: EarlierVersion): Promise<SavedFile> {
    const mostlyKnown = earlier !== undefined
    // One chunker per file: files are saved concurrently and a chunker carries state.
    const chunker = createChunker(this.#polynomial)
    const guide = earlier?.chunks !== undefined && earlier.chunks.length > 0 ? new ChunkGuide(earlier.chunks) : undefined
    const content: Id[] = []
    let added = 0
    let total = 0
    let followed = 0
    const ring = this.#rings.pop() ?? new ReadRing()
    const buf = ring.buf
    // [start, end) is read and not yet cut into chunks; the chunker has looked at [start, scan).
    let start = 0
    let scan = 0
    let end = 0
    /** The file offset of buf[0]. */
    let ringBase = 0
    if (prefix) end = prefix.copy(buf, 0)
    const record = (id: Id, known: boolean, size: number) => {
      if (!known) added += size
      total += size
      onBytes?.(size)
      return id
    }
    const workers = sink.saveEncodedBlob ? this.#workers : undefined
    // Chunked here unless another file is; a file chunked on workers moves here once this
    // thread is free (its chunker state comes along), since here is faster.
    let here = !workers || !this.#chunkingHere
    if (here) this.#chunkingHere = true
    const level = sink.compressionLevel ?? 0
    // The chunker's state between blocks chunked on workers (null: at the file's start).
    let state: ChunkerState | null = null
    /**
     * Stores the chunk [from, to). `known` is its ID when the caller hashed it already (a chunk
     * of the earlier version, found again): a chunk the repository has then costs nothing more.
     */
    const emit = async (from: number, to: number, known?: Id) => {
      const data = buf.subarray(from, to)
      const size = data.length
      if (known !== undefined && sink.has?.('data', known)) {
        content.push(record(known, true, size))
        return
      }
      if (!workers) {
        const r = await sink.saveBlob('data', data, known ?? hashId(data))
        content.push(record(r.id, r.known, size))
        return
      }
      // Hashed (and, if new, compressed and sealed) on a worker, in place in the shared ring.
      const slot = content.length
      content.push('')
      const encode = async () => {
        const e = await workers.encodeChunk(data, level)
        const r = await sink.saveEncodedBlob!('data', e.id, size, e.blob)
        content[slot] = record(r.id, r.known, size)
      }
      const done =
        known === undefined && mostlyKnown && sink.has
          ? workers.hashChunk(data).then(async (id) => {
              if (sink.has!('data', id)) content[slot] = record(id, true, size)
              else await encode()
            })
          : encode()
      ring.track(from, to, done)
    }
    /**
     * Tries the earlier version's next chunks on [start, end): each that hashes the same, and
     * ends where this chunker could cut, is a chunk of the new content too (see ChunkGuide). The
     * first that differs stops the guide; chunking goes on from there.
     */
    const follow = async (eof: boolean) => {
      const g = guide!
      for (;;) {
        const tries = g.candidates(start, end)
        if (tries.length === 0) {
          // Stays active only to wait for more of the file.
          if (eof || g.exhausted) g.stop()
          return
        }
        const ids = await Promise.all(tries.map((t) => (workers ? workers.hashChunk(buf.subarray(t.from, t.to)) : hashId(buf.subarray(t.from, t.to)))))
        let k = 0
        for (; k < tries.length; k++) {
          const t = tries[k]
          if (ids[k] !== t.id || !couldEndChunk(this.#polynomial, buf, t.to, t.to - t.from)) break
          await emit(t.from, t.to, t.id)
          followed += t.to - t.from
          start = scan = t.to
        }
        g.advance(k)
        if (k < tries.length) {
          g.stop()
          return
        }
      }
    }
    /**
     * Chunks [scan, end) and stores the chunks it cuts. Returns true when it stopped early at a
     * cut where an earlier chunk ended, so the guide follows from there.
     */
    const chunkBlock = async (): Promise<boolean> => {
      if (!here && workers && scan < end) {
        const r = await workers.scanChunks(buf.subarray(scan, end), state, this.#polynomial)
        state = r.state
        const base = scan
        for (const cut of r.cuts) {
          await emit(start, base + cut)
          start = base + cut
          if (guide?.resumeAt(ringBase + start)) {
            // The worker's state went past this cut; chunking would start afresh here anyway.
            state = null
            scan = start
            return true
          }
        }
      } else {
        for (;;) {
          const p = scan < end ? chunker.nextSplitPoint(buf, scan, end) : -1
          if (p < 0) break
          await emit(start, p)
          start = scan = p
          if (guide?.resumeAt(ringBase + start)) return true
        }
      }
      scan = end
      return false
    }
    const readAt = async (at: number): Promise<number> => {
      await ring.free(at, at + READ_SIZE)
      let n = 0
      while (n < READ_SIZE) {
        const { bytesRead } = await fh.read(buf, at + n, READ_SIZE - n, null)
        if (bytesRead === 0) break
        n += bytesRead
      }
      return n
    }
    /**
     * Starts reading the block at `at`. A read ahead fails when a chunk stored from the ring
     * failed (see ReadRing.free): that is seen where it is awaited, and must not count as an
     * unhandled rejection before then, while this file is still being chunked.
     */
    const startRead = (at: number): Promise<number> => {
      const read = readAt(at)
      read.catch(() => {})
      return read
    }
    let reading: Promise<number> | undefined
    let ok = false
    try {
      reading = end + READ_SIZE <= RING_SIZE ? startRead(end) : undefined
      for (;;) {
        if (this.#signal?.aborted) throw new AppError('INTERRUPTED', 'Backup interrupted')
        if (reading === undefined) {
          // The next block does not fit behind the data: move the unchunked end to the front.
          const tail = end - start
          await ring.free(0, tail)
          buf.copyWithin(0, start, end)
          ringBase += start
          scan -= start
          start = 0
          end = tail
          reading = startRead(end)
        }
        const n = await reading
        reading = undefined
        end += n
        const eof = n < READ_SIZE
        // Read ahead while this block is chunked, where there is room behind it.
        if (!eof && end + READ_SIZE <= RING_SIZE) reading = startRead(end)
        if (!here && !this.#chunkingHere) {
          here = this.#chunkingHere = true
          if (state !== null) chunker.restoreState(state)
        }
        for (;;) {
          if (guide?.active) {
            await follow(eof)
            if (guide.active) break // it needs more of the file
            // Chunking starts afresh at the boundary the guide stopped at.
            chunker.reset()
            state = null
            scan = start
          }
          if (!(await chunkBlock())) break
        }
        if (eof) break
      }
      if (end > start) await emit(start, end)
      await ring.drain()
      ok = true
    } finally {
      if (here) this.#chunkingHere = false
      // Reuse the ring only once nothing reads or writes it any more.
      const busy: Array<Promise<unknown>> = [ring.idle()]
      if (reading) busy.push(reading.catch(() => 0))
      const reuse = () => {
        ring.reset()
        this.#rings.push(ring)
      }
      if (ok && !reading) reuse()
      else void Promise.all(busy).then(reuse)
    }
    return guide ? { content, size: total, added, followed } : { content, size: total, added }
  }
}

/**
 * Follows a changed file's earlier chunks through its new content, so that the unchanged parts
 * of a large file (a disk image written in place, a log that grew) are hashed, not chunked.
 *
 * restic's chunker starts afresh at every boundary, and where it cuts depends only on the bytes
 * since then. So from a boundary of the new content, an earlier chunk whose bytes come next,
 * unchanged, ends at a boundary of the new content too: the chunker would cut there again (if
 * the earlier chunk was cut by content, not by the end of the file: that is why the last chunk
 * is left out). Bytes being equal is checked by the chunk's hash, and the cut by couldEndChunk(),
 * which turns away chunks another chunker made, and chunks of MaxSize, which only a scan can
 * vouch for (runs of zeros are chunked as before). Where a candidate differs, the
 * file is chunked from that boundary on; where a cut of the chunker lands where an earlier chunk
 * ended (after an overwrite in place, content-defined cuts soon meet the earlier ones again), the
 * guide follows again. The chunks are those chunking the whole file would give.
 */
class ChunkGuide {
  readonly #chunks: ReadonlyArray<{ id: Id; size: number }>
  /** File offset where an earlier chunk ended → index of the chunk after it. */
  readonly #after = new Map<number, number>()
  #next = 0
  active = true

  constructor(chunks: ReadonlyArray<{ id: Id; size: number }>) {
    this.#chunks = chunks
    let offset = 0
    chunks.forEach((c, i) => {
      offset += c.size
      this.#after.set(offset, i + 1)
    })
  }

  /** No earlier chunk is left to try. */
  get exhausted(): boolean {
    return this.#next >= this.#chunks.length
  }

  /** The next earlier chunks that lie wholly in buf[from, to), where `from` is where chunk #next starts. */
  candidates(from: number, to: number): Array<{ from: number; to: number; id: Id }> {
    const out: Array<{ from: number; to: number; id: Id }> = []
    let at = from
    for (let k = this.#next; k < this.#chunks.length && at + this.#chunks[k].size <= to; k++) {
      out.push({ from: at, to: at + this.#chunks[k].size, id: this.#chunks[k].id })
      at += this.#chunks[k].size
    }
    return out
  }

  /** The first `n` candidates were chunks of the new content. */
  advance(n: number): void {
    this.#next += n
  }

  stop(): void {
    this.active = false
  }

  /** The chunker cut at file offset `offset`: follow again when an earlier chunk ended there. */
  resumeAt(offset: number): boolean {
    const k = this.#after.get(offset)
    if (k === undefined || k >= this.#chunks.length) return false
    this.#next = k
    this.active = true
    return true
  }
}

/**
 * A file opened for reading, on a raw descriptor: the callback API costs less per file than
 * FileHandle objects, which matters with tens of thousands of small files.
 */
/** What a file is read through: its next bytes, in order (`position` is always null). */
export interface FileHandleLike {
  read(buf: Buffer, offset: number, length: number, position: null): Promise<{ bytesRead: number }>
  close(): Promise<void>
}

function openFd(path: string | Buffer, flags: number): Promise<number> {
  return new Promise((resolve, reject) => open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd))))
}

async function openForReading(path: string | Buffer): Promise<FileHandleLike> {
  let fd: number | undefined
  if (O_NOATIME !== 0) {
    try {
      fd = await openFd(path, READ_FLAGS | O_NOATIME)
    } catch {
      // O_NOATIME needs ownership of the file; fall through
    }
  }
  fd ??= await openFd(path, READ_FLAGS)
  const handle = fd
  return {
    read: (buf, offset, length) =>
      new Promise((resolve, reject) => read(handle, buf, offset, length, null, (err, bytesRead) => (err ? reject(err) : resolve({ bytesRead })))),
    close: () => new Promise((resolve, reject) => close(handle, (err) => (err ? reject(err) : resolve()))),
  }
}
