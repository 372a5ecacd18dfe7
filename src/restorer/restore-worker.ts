// Worker thread body for restore: decodes the blobs of one piece of a pack (decrypt,
// decompress, check the ID) and writes each where it goes, so that decoding and writing run on
// every core while the main thread walks trees and finishes files. A file that is one blob is
// finished here too (owner, mode, times), on the descriptor that wrote it.
import { closeSync, constants, openSync, rmSync, writeSync } from 'node:fs'
import { errnoCode, serveWorker } from '../base/index.js'
import { applyMetadataToFd, type BasicMetadata } from './fs-metadata.js'
// The decoder's own module, not the repository's index: a worker loads only what it uses.
import { decodeSealedBlob, keyFromWorkerData, Scratch, type BlobToDecode } from '../repository/blob-decoder.js'

/** Where a blob goes: a file, an offset, and how the file is opened. */
export interface WriteTarget {
  path: Uint8Array
  offset: number
  /** The file has only this blob and does not exist yet: create (or replace) it. */
  create: boolean
  /** The file was sized beforehand, so an all-zero blob can be left as a hole. */
  sparse: boolean
  /** The file is complete with this blob: give it this metadata before closing it. */
  meta?: BasicMetadata
}

/** What restore workers are set up with. */
export interface RestoreWorkerSetup {
  key: string
  /** Set owners (fchown) of the files finished here. */
  owner: boolean
}

export interface RestorePiece {
  packId: string
  /** The sealed bytes of consecutive blobs of the pack. */
  sealed: Uint8Array
  blobs: Array<BlobToDecode & { offset: number; length: number; targets: WriteTarget[] }>
}

export interface RestorePieceResult {
  /** Blobs that could not be decoded: [index into blobs, message]. */
  damaged: Array<[number, string]>
  /** Writes that failed: [blob index, target index, message]. */
  failed: Array<[number, number, string]>
  /** Metadata steps that failed on files finished here: [blob index, target index, message]. */
  warnings: Array<[number, number, string]>
}

const WRITE = constants.O_WRONLY | constants.O_NOFOLLOW
const CREATE = WRITE | constants.O_CREAT | constants.O_TRUNC

let key: ReturnType<typeof keyFromWorkerData> | undefined
let owner = false
const scratch = new Scratch()

serveWorker<RestorePiece>((m, data) => {
  if (key === undefined) {
    const setup = data as RestoreWorkerSetup
    key = keyFromWorkerData(setup.key)
    owner = setup.owner
  }
  const sealed = Buffer.from(m.sealed.buffer, m.sealed.byteOffset, m.sealed.byteLength)
  const result: RestorePieceResult = { damaged: [], failed: [], warnings: [] }
  let garbage = sealed.length
  m.blobs.forEach((b, i) => {
    let plain: Buffer
    try {
      // The piece was sent here and is not needed after: blobs are decrypted where they lie.
      plain = decodeSealedBlob(key!, b, sealed.subarray(b.offset, b.offset + b.length), m.packId, scratch, 'in-place')
    } catch (err) {
      result.damaged.push([i, (err as Error).message])
      return
    }
    garbage += b.length // decrypted in short-lived pieces
    b.targets.forEach((t, k) => {
      try {
        if (t.sparse && isAllZero(plain)) return
        for (const w of writeAt(t, plain)) result.warnings.push([i, k, w])
      } catch (err) {
        result.failed.push([i, k, (err as Error).message])
      }
    })
  })
  return { result, garbage }
})

/** Writes a blob into its file; returns the warnings of finishing the file (when `t.meta` says to). */
function writeAt(t: WriteTarget, plain: Buffer): string[] {
  const path = Buffer.from(t.path.buffer, t.path.byteOffset, t.path.byteLength)
  const fd = t.create ? openReplacing(path) : openSync(path, WRITE)
  try {
    let done = 0
    while (done < plain.length) done += writeSync(fd, plain, done, plain.length - done, t.offset + done)
    return t.meta ? applyMetadataToFd(fd, path, t.meta, owner) : NONE
  } finally {
    closeSync(fd)
  }
}

const NONE: string[] = []

/** Creates a file, removing what is in the way (a symlink is never followed, nor a directory written into). */
function openReplacing(path: Buffer): number {
  try {
    return openSync(path, CREATE, 0o600)
  } catch (err) {
    const code = errnoCode(err)
    if (code !== 'ELOOP' && code !== 'EISDIR' && code !== 'ENXIO' && code !== 'ETXTBSY') throw err
    rmSync(path, { recursive: true, force: true })
    return openSync(path, CREATE, 0o600)
  }
}

function isAllZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i += ZERO.length) {
    const n = Math.min(ZERO.length, b.length - i)
    if (b.compare(ZERO, 0, n, i, i + n) !== 0) return false
  }
  return true
}

const ZERO = Buffer.alloc(64 * 1024)
