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

const BUFFER_SIZE = MAX_SIZE + 4 * 1024 * 1024
/** Chunk bytes of one file handed to workers and not yet stored. */
const MAX_IN_FLIGHT = 3 * MAX_SIZE
const O_NOATIME = constants.O_NOATIME ?? 0

/**
 * Reads a file once, cuts it into content-defined chunks and saves each as a data blob.
 * Small files (at most MIN_SIZE, always one chunk) skip the chunker. Large files stream
 * through one reusable buffer, so memory does not grow with file size.
 */
export class FileSaver {
  #polynomial: bigint
  #buffers: Buffer[] = []
  // Each large file holds a 16 MiB buffer while it is read; two at a time keep both cores busy.
  #largeLimit = createLimit(2)

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
  async save(path: string | Buffer, expectedSize: number, sink: DataSink, onBytes?: (n: number) => void, mostlyKnown = false): Promise<SavedFile> {
    if (expectedSize <= MIN_SIZE && this.#workers && sink.saveEncodedBlob) {
      // A small file is one chunk: a worker reads, hashes and encodes it in one go.
      const r = await this.#workers.readSmallFile(path, expectedSize, MIN_SIZE, sink.compressionLevel ?? 0)
      if (r.kind === 'empty') return { content: [], size: 0, added: 0 }
      if (r.kind === 'blob') {
        const saved = await sink.saveEncodedBlob('data', r.id, r.size, r.blob)
        onBytes?.(r.size)
        return { content: [r.id], size: r.size, added: saved.known ? 0 : r.size }
      }
      // it grew past one chunk while read: chunk it as a large file
    }
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
    const buf = this.#buffers.pop() ?? Buffer.allocUnsafe(BUFFER_SIZE)
    // One chunker per file: files are saved concurrently and a chunker carries state.
    const chunker = createChunker(this.#polynomial)
    const content: Id[] = []
    let added = 0
    let total = 0
    let start = 0
    let scan = 0
    let end = 0
    if (prefix) {
      prefix.copy(buf, 0)
      end = prefix.length
    }
    // With workers, chunks are hashed, compressed and sealed there while this thread goes on
    // chunking; results are awaited in order, with at most MAX_IN_FLIGHT bytes outstanding.
    const workers = sink.saveEncodedBlob && !mostlyKnown ? this.#workers : undefined
    const inFlight: Array<{ size: number; done: Promise<void> }> = []
    let inFlightBytes = 0
    const record = (id: Id, known: boolean, size: number) => {
      if (!known) added += size
      total += size
      onBytes?.(size)
      return id
    }
    const emit = async (from: number, to: number) => {
      const data = buf.subarray(from, to)
      if (!workers) {
        const r = await sink.saveBlob('data', data, hashId(data))
        content.push(record(r.id, r.known, data.length))
        return
      }
      const slot = content.length
      content.push('')
      const size = data.length
      const done = workers.encodeChunk(data, sink.compressionLevel ?? 0).then(async (c) => {
        const r = await sink.saveEncodedBlob!('data', c.id, size, c.blob)
        content[slot] = record(r.id, r.known, size)
      })
      done.catch(() => {})
      inFlight.push({ size, done })
      inFlightBytes += size
      while (inFlightBytes > MAX_IN_FLIGHT) {
        const first = inFlight.shift()!
        inFlightBytes -= first.size
        await first.done
      }
    }
    try {
      for (;;) {
        // scan what we have
        for (;;) {
          const p = scan < end ? chunker.nextSplitPoint(buf, scan, end) : -1
          if (p < 0) {
            scan = end
            break
          }
          await emit(start, p)
          start = scan = p
        }
        if (end === buf.length) {
          buf.copyWithin(0, start, end)
          end -= start
          scan -= start
          start = 0
        }
        const { bytesRead } = await fh.read(buf, end, buf.length - end, null)
        if (bytesRead === 0) break
        end += bytesRead
      }
      if (end > start) await emit(start, end)
      await Promise.all(inFlight.map((f) => f.done))
    } finally {
      // Chunks still in flight hold copies, not views of the buffer: it can be reused now.
      this.#buffers.push(buf)
    }
    return { content, size: total, added }
  }
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
