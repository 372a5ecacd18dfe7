// Worker thread body for BackupWorkers: encodes blobs, and reads, hashes and encodes whole small
// files, so the main thread does not pay an open/read/close round trip per small file.
import { closeSync, constants, openSync, readSync } from 'node:fs'
import { hashId, ownBuffer, serveWorker } from '../base/index.js'
import { masterKeyFromJSON, type MasterKey } from '../crypto/index.js'
import { encodeBlob, type BlobType } from '../repository/index.js'
import type { WorkerRequest } from './backup-workers.js'

let key: MasterKey | undefined
// One read buffer per worker, reused: a fresh one per small file leaves the garbage collector
// with many external buffers to find, and the process with their memory meanwhile.
let readBuffer = Buffer.allocUnsafeSlow(64 * 1024)
const O_NOATIME = constants.O_NOATIME ?? 0

function openRead(path: string | Uint8Array): number {
  const p = typeof path === 'string' ? path : Buffer.from(path.buffer, path.byteOffset, path.byteLength)
  if (O_NOATIME !== 0) {
    try {
      return openSync(p, constants.O_RDONLY | O_NOATIME)
    } catch {
      // O_NOATIME needs ownership of the file
    }
  }
  return openSync(p, constants.O_RDONLY)
}

serveWorker<WorkerRequest>((m, data) => {
  key ??= masterKeyFromJSON((data as { key: string }).key)
  if (m.kind === 'blob') {
    const { sealed, uncompressedLength } = encodeBlob(key, m.type as BlobType, m.data, m.level)
    const out = ownBuffer(sealed)
    return { result: { sealed: out, uncompressedLength }, transfer: [out.buffer as ArrayBuffer] }
  }
  if (m.kind === 'chunk') {
    const id = hashId(m.data)
    const { sealed, uncompressedLength } = encodeBlob(key, 'data', m.data, m.level)
    const out = ownBuffer(sealed)
    return { result: { id, sealed: out, uncompressedLength }, transfer: [out.buffer as ArrayBuffer] }
  }
  // A whole small file: read one byte more than expected to notice growth.
  const fd = openRead(m.path)
  if (readBuffer.length < m.size + 1) readBuffer = Buffer.allocUnsafeSlow(Math.max(m.size + 1, m.maxSize + 1))
  const buf = readBuffer.subarray(0, m.size + 1)
  let n = 0
  try {
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, null)
      if (r === 0) break
      n += r
    }
  } finally {
    closeSync(fd)
  }
  if (n > m.maxSize) return { result: { grew: true, size: n } }
  if (n === 0) return { result: { size: 0 } }
  const plain = buf.subarray(0, n)
  const id = hashId(plain)
  const { sealed, uncompressedLength } = encodeBlob(key, 'data', plain, m.level)
  const out = ownBuffer(sealed)
  return { result: { id, size: n, sealed: out, uncompressedLength }, transfer: [out.buffer as ArrayBuffer] }
})
