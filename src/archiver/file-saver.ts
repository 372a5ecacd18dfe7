import { open } from 'node:fs/promises'
import { constants } from 'node:fs'
import { createLimit, hashId, type Id } from '../base/index.js'
import { createChunker, MAX_SIZE, MIN_SIZE } from '../chunker/index.js'
import type { SaveResult } from '../repository/index.js'

/** What the file saver needs of a blob writer. */
export interface DataSink {
  saveBlob(type: 'data', data: Uint8Array, id?: Id): Promise<SaveResult>
}

export interface SavedFile {
  content: Id[]
  /** Bytes read from the file. */
  size: number
  /** Bytes of new blobs (plaintext) this file added to the repository. */
  added: number
}

const BUFFER_SIZE = 2 * MAX_SIZE
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

  constructor(polynomial: bigint) {
    this.#polynomial = polynomial
  }

  async save(path: string | Buffer, expectedSize: number, sink: DataSink, onBytes?: (n: number) => void): Promise<SavedFile> {
    const fh = await openForReading(path)
    try {
      if (expectedSize <= MIN_SIZE) return await this.#saveSmall(fh, expectedSize, sink, onBytes)
      return await this.#largeLimit(() => this.#saveLarge(fh, sink, onBytes))
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

  async #saveLarge(fh: FileHandleLike, sink: DataSink, onBytes?: (n: number) => void, prefix?: Buffer): Promise<SavedFile> {
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
    const emit = async (from: number, to: number) => {
      const data = buf.subarray(from, to)
      const r = await sink.saveBlob('data', data, hashId(data))
      content.push(r.id)
      if (!r.known) added += data.length
      total += data.length
      onBytes?.(data.length)
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
    } finally {
      this.#buffers.push(buf)
    }
    return { content, size: total, added }
  }
}

type FileHandleLike = Awaited<ReturnType<typeof open>>

async function openForReading(path: string | Buffer): Promise<FileHandleLike> {
  if (O_NOATIME !== 0) {
    try {
      return await open(path, constants.O_RDONLY | O_NOATIME)
    } catch {
      // O_NOATIME needs ownership of the file; fall through
    }
  }
  return open(path, constants.O_RDONLY)
}
