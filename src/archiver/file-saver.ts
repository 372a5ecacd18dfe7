import { close, constants, open, read } from 'node:fs'
import { createLimit, hashId, type Id } from '../base/index.js'
import { createChunker, MAX_SIZE, MIN_SIZE } from '../chunker/index.js'
import type { EncodedBlob, SaveResult } from '../repository/index.js'
import type { BackupWorkers } from './backup-workers.js'

/** What the file saver needs of a blob writer. */
export interface DataSink {
  saveBlob(type: 'data', data: Uint8Array, id?: Id): Promise<SaveResult>
  saveEncodedBlob?(type: 'data', id: Id, plainSize: number, enc: EncodedBlob): Promise<SaveResult>
  readonly compressionLevel?: number
}

export interface SavedFile {
  content: Id[]
  /** Bytes read from the file. */
  size: number
  /** Bytes of new blobs (plaintext) this file added to the repository. */
  added: number
}

/** Bytes read from a large file at once. */
const READ_SIZE = 2 * 1024 * 1024
/** Where a block is read to in a read buffer; before it goes the unchunked end of the previous block. */
const HEAD = MAX_SIZE
const BUFFER_SIZE = HEAD + READ_SIZE
const O_NOATIME = constants.O_NOATIME ?? 0

/**
 * A buffer a large file is read into, in shared memory: workers hash and encode chunks right
 * there, so no chunk is copied. `pending` are the chunks cut from it that are not stored yet;
 * the buffer is overwritten only once they are.
 */
interface ReadBuffer {
  buf: Buffer
  pending: Array<Promise<void>>
}

/**
 * Reads a file once, cuts it into content-defined chunks and saves each as a data blob.
 * Small files (at most MIN_SIZE, always one chunk) skip the chunker and go to a worker whole.
 * Large files stream through two reusable read buffers in shared memory, so memory does not
 * grow with file size and no chunk is copied on its way to a worker.
 */
export class FileSaver {
  #polynomial: bigint
  #buffers: ReadBuffer[] = []
  // One large file at a time: its next block is read while the current one is chunked (so
  // this thread does not wait for the disk), and the chunks go to every worker. A second file
  // at once cost two more read buffers and measured no faster. Small files go on meanwhile.
  #largeLimit = createLimit(1)

  #workers: BackupWorkers | undefined

  constructor(polynomial: bigint, workers?: BackupWorkers) {
    this.#polynomial = polynomial
    this.#workers = workers
  }

  /**
   * `mostlyKnown` says the file had an earlier version (it changed since the parent snapshot):
   * its chunks are then hashed here first and only new ones are compressed, instead of
   * compressing every chunk speculatively on a worker.
   */
  save(path: string | Buffer, expectedSize: number, sink: DataSink, onBytes?: (n: number) => void, mostlyKnown = false): Promise<SavedFile> {
    if (expectedSize <= MIN_SIZE && this.#workers && sink.saveEncodedBlob) return this.#saveOnWorker(path, expectedSize, sink, onBytes, mostlyKnown)
    return this.#saveHere(path, expectedSize, sink, onBytes, mostlyKnown)
  }

  // Small and separate from #saveHere: an async function's suspended state is as big as the
  // whole function, and this one runs for every small file.
  async #saveOnWorker(path: string | Buffer, expectedSize: number, sink: DataSink, onBytes: ((n: number) => void) | undefined, mostlyKnown: boolean): Promise<SavedFile> {
    // A small file is one chunk: a worker reads, hashes and encodes it in one go.
    const r = await this.#workers!.readSmallFile(path, expectedSize, MIN_SIZE, sink.compressionLevel ?? 0)
    if (r.kind === 'empty') return { content: [], size: 0, added: 0 }
    if (r.kind === 'grew') return this.#saveHere(path, expectedSize, sink, onBytes, mostlyKnown) // chunk it as a large file
    const saved = await sink.saveEncodedBlob!('data', r.id, r.size, r.blob)
    onBytes?.(r.size)
    return { content: [r.id], size: r.size, added: saved.known ? 0 : r.size }
  }

  async #saveHere(path: string | Buffer, expectedSize: number, sink: DataSink, onBytes: ((n: number) => void) | undefined, mostlyKnown: boolean): Promise<SavedFile> {
    const fh = await openForReading(path)
    try {
      if (expectedSize <= MIN_SIZE) return await this.#saveSmall(fh, expectedSize, sink, onBytes)
      return await this.#largeLimit(() => this.#saveLarge(fh, sink, onBytes, undefined, mostlyKnown))
    } finally {
      await fh.close()
    }
  }

  async #saveSmall(fh: FileHandleLike, expectedSize: number, sink: DataSink, onBytes?: (n: number) => void): Promise<SavedFile> {
    // Read one byte more than expected to notice a file that grew; fall back to chunking then.
    const buf = Buffer.allocUnsafe(expectedSize + 1)
    let n = 0
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null)
      if (bytesRead === 0) break
      n += bytesRead
    }
    if (n > expectedSize && n > MIN_SIZE) return this.#saveLarge(fh, sink, onBytes, buf.subarray(0, n))
    if (n === 0) return { content: [], size: 0, added: 0 }
    const data = buf.subarray(0, n)
    const r = await sink.saveBlob('data', data, hashId(data))
    onBytes?.(n)
    return { content: [r.id], size: n, added: r.known ? 0 : n }
  }

  async #saveLarge(fh: FileHandleLike, sink: DataSink, onBytes?: (n: number) => void, prefix?: Buffer, mostlyKnown = false): Promise<SavedFile> {
    // One chunker per file: files are saved concurrently and a chunker carries state.
    const chunker = createChunker(this.#polynomial)
    const content: Id[] = []
    let added = 0
    let total = 0
    // Two buffers take turns: while one is chunked, the next block of the file is read into the
    // other (once the chunks cut from it are stored). The unchunked end of one buffer moves in
    // front of the next block in the other, so every chunk lies in one piece in one buffer.
    let cur = this.#takeBuffer()
    let other: ReadBuffer | undefined
    let start = HEAD
    if (prefix) {
      prefix.copy(cur.buf, HEAD - prefix.length)
      start = HEAD - prefix.length
    }
    let scan = start
    let end = HEAD
    const workers = sink.saveEncodedBlob && !mostlyKnown ? this.#workers : undefined
    const record = (id: Id, known: boolean, size: number) => {
      if (!known) added += size
      total += size
      onBytes?.(size)
      return id
    }
    const emit = async (from: number, to: number) => {
      const data = cur.buf.subarray(from, to)
      if (!workers) {
        const r = await sink.saveBlob('data', data, hashId(data))
        content.push(record(r.id, r.known, data.length))
        return
      }
      // Hashed, compressed and sealed on a worker, in place in the shared read buffer.
      const slot = content.length
      content.push('')
      const size = data.length
      const done = workers.encodeChunk(data, sink.compressionLevel ?? 0).then(async (c) => {
        const r = await sink.saveEncodedBlob!('data', c.id, size, c.blob)
        content[slot] = record(r.id, r.known, size)
      })
      done.catch(() => {})
      cur.pending.push(done)
    }
    let reading: Promise<number> | undefined = readBlock(fh, cur)
    try {
      for (;;) {
        const n = await reading
        reading = undefined
        end += n
        const eof = n < READ_SIZE
        if (!eof) {
          other ??= this.#takeBuffer()
          reading = readBlock(fh, other)
        }
        for (;;) {
          const p = scan < end ? chunker.nextSplitPoint(cur.buf, scan, end) : -1
          if (p < 0) break
          await emit(start, p)
          start = scan = p
        }
        if (eof) break
        // The next block is in `other` at HEAD (its old chunks are stored): the rest goes before it.
        const next = other!
        const nextBytes = await reading!
        reading = Promise.resolve(nextBytes)
        const tail = end - start
        cur.buf.copy(next.buf, HEAD - tail, start, end)
        other = cur
        cur = next
        start = HEAD - tail
        scan = HEAD
        end = HEAD
      }
      if (end > start) await emit(start, end)
      await settle(cur)
      if (other) await settle(other)
    } finally {
      // Reuse the buffers only once nothing reads or writes them any more.
      const bufs = other ? [cur, other] : [cur]
      const busy: Array<Promise<unknown>> = bufs.flatMap((b) => b.pending)
      if (reading) busy.push(reading)
      const reuse = () => {
        for (const b of bufs) {
          b.pending = []
          this.#buffers.push(b)
        }
      }
      // At once when all went well, so that the next file takes these and no new ones.
      if (busy.length === 0) reuse()
      else void Promise.allSettled(busy).then(reuse)
    }
    return { content, size: total, added }
  }

  #takeBuffer(): ReadBuffer {
    return this.#buffers.pop() ?? { buf: Buffer.from(new SharedArrayBuffer(BUFFER_SIZE)), pending: [] }
  }
}

/**
 * Reads the next block of the file into `rb` at HEAD, once the chunks cut from `rb` before are
 * stored; returns the bytes read (less than READ_SIZE only at the end of the file).
 */
async function readBlock(fh: FileHandleLike, rb: ReadBuffer): Promise<number> {
  await settle(rb)
  let n = 0
  while (n < READ_SIZE) {
    const { bytesRead } = await fh.read(rb.buf, HEAD + n, READ_SIZE - n, null)
    if (bytesRead === 0) break
    n += bytesRead
  }
  return n
}

/** Waits until every chunk cut from `rb` is stored or failed, then throws the first failure. */
async function settle(rb: ReadBuffer): Promise<void> {
  const results = await Promise.allSettled(rb.pending)
  rb.pending = []
  for (const r of results) if (r.status === 'rejected') throw r.reason
}

/**
 * A file opened for reading, on a raw descriptor: the callback API costs less per file than
 * FileHandle objects, which matters with tens of thousands of small files.
 */
interface FileHandleLike {
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
      fd = await openFd(path, constants.O_RDONLY | O_NOATIME)
    } catch {
      // O_NOATIME needs ownership of the file; fall through
    }
  }
  fd ??= await openFd(path, constants.O_RDONLY)
  const handle = fd
  return {
    read: (buf, offset, length) =>
      new Promise((resolve, reject) => read(handle, buf, offset, length, null, (err, bytesRead) => (err ? reject(err) : resolve({ bytesRead })))),
    close: () => new Promise((resolve, reject) => close(handle, (err) => (err ? reject(err) : resolve()))),
  }
}
