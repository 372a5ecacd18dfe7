// Worker extension for BackupWorkers (loaded by the repository's encoder worker): hashes and
// encodes chunks the main thread cut (read from shared memory, no copy), and reads, hashes and
// encodes whole small files, so the main thread does not pay an open/read/close round trip per
// small file. It imports no repository code at run time (the encoder comes through the API),
// which keeps each worker small and quick to start.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs'
import { hashId, type HandlerAnswer, type ReplyOutput } from '../base/index.js'
import { createChunker, type Chunker } from '../chunker/index.js'
import type { EncoderWorkerApi } from '../repository/index.js'
import type { SmallFileAnswer, WorkerRequest } from './backup-workers.js'
import { contentMarkText, READ_FLAGS } from './read-check.js'

// One read buffer per worker, reused: a fresh one per small file leaves the garbage collector
// with many external buffers to find, and the process with their memory meanwhile.
let readBuffer = Buffer.allocUnsafeSlow(64 * 1024)
const O_NOATIME = constants.O_NOATIME ?? 0
/** One chunker per polynomial, its state brought by each request. */
const chunkers = new Map<bigint, Chunker>()

function openRead(path: string | Uint8Array): number {
  const p = typeof path === 'string' ? path : Buffer.from(path.buffer, path.byteOffset, path.byteLength)
  if (O_NOATIME !== 0) {
    try {
      return openSync(p, READ_FLAGS | O_NOATIME)
    } catch {
      // O_NOATIME needs ownership of the file
    }
  }
  return openSync(p, READ_FLAGS)
}

export default function backupWorker(api: EncoderWorkerApi): (m: WorkerRequest, out: ReplyOutput) => HandlerAnswer {
  return (m, out) => {
    if (m.op === 'hash') return { result: hashId(m.data) }
    if (m.op === 'scan') {
      // A block of a large file, chunked here so that the main thread does not have to.
      const c = (chunkers.get(m.polynomial) ?? chunkers.set(m.polynomial, createChunker(m.polynomial)).get(m.polynomial))!
      if (m.state === null) c.reset()
      else c.restoreState(m.state)
      const cuts: number[] = []
      for (let s = 0; ; ) {
        const p = c.nextSplitPoint(m.data, s, m.data.length)
        if (p < 0) break
        cuts.push(p)
        s = p
      }
      return { result: { cuts, state: c.saveState() } }
    }
    if (m.op === 'chunk') {
      const id = hashId(m.data)
      const { output, uncompressedLength } = api.encode('data', m.data, m.level, out)
      return { result: { id, uncompressedLength }, output }
    }
    // A whole small file: read one byte more than expected to notice more content.
    const fd = openRead(m.path)
    if (readBuffer.length < m.size + 1) readBuffer = Buffer.allocUnsafeSlow(Math.max(m.size + 1, m.maxSize + 1))
    const buf = readBuffer.subarray(0, m.size + 1)
    let n = 0
    let readEnd: string
    try {
      while (n < buf.length) {
        const r = readSync(fd, buf, n, buf.length - n, null)
        if (r === 0) break
        n += r
      }
      // The state of the file read, for the caller's check that it did not change since its
      // stat: cheaper here (no path to walk) than an lstat on the caller's busy thread.
      readEnd = contentMarkText(fstatSync(fd, { bigint: true }))
    } finally {
      closeSync(fd)
    }
    // More than its stat said: a file that grew, or one whose stat does not tell its size (/proc,
    // /sys, some FUSE file systems). The caller reads it to its end.
    if (n > m.size) return { result: { grew: true, size: n } satisfies SmallFileAnswer }
    if (n === 0) return { result: { size: 0, readEnd } satisfies SmallFileAnswer }
    const plain = buf.subarray(0, n)
    const id = hashId(plain)
    if (id === m.unless) return { result: { id, size: n, same: true, readEnd } satisfies SmallFileAnswer }
    const { output, uncompressedLength } = api.encode('data', plain, m.level, out)
    return { result: { id, size: n, uncompressedLength, readEnd } satisfies SmallFileAnswer, output }
  }
}
