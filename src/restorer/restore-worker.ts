// Worker thread body for restore: decodes the blobs of one piece of a pack (decrypt,
// decompress, check the ID) and writes each where it goes, so that decoding and writing run on
// every core while the main thread walks trees and finishes files. A file that is one blob is
// finished here too (owner, mode, times), on the descriptor that wrote it.
import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs'
import { errnoCode, serveWorker } from '../base/index.js'
import { applyMetadataToFd, type BasicMetadata } from './fs-metadata.js'
import { clearTheWay } from './in-the-way.js'
// The decoder's own module, not the repository's index: a worker loads only what it uses.
import { decodeSealedBlob, decodeSealedBlobInPieces, keyFromWorkerData, Scratch, type BlobToDecode } from '../repository/blob-decoder.js'

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
  /** A folder with content in the way of a file is removed (restore --delete). */
  removeFolders?: boolean
}

export interface RestorePiece {
  packId: string
  /**
   * The sealed bytes of consecutive blobs of the pack: shared memory the main thread reads into
   * again once this piece is done, or a buffer transferred here.
   */
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
const CREATE = WRITE | constants.O_CREAT | constants.O_EXCL

let key: ReturnType<typeof keyFromWorkerData> | undefined
let owner = false
let removeFolders = false
const scratch = new Scratch()

serveWorker<RestorePiece>((m, data) => {
  if (key === undefined) {
    const setup = data as RestoreWorkerSetup
    key = keyFromWorkerData(setup.key)
    owner = setup.owner
    removeFolders = setup.removeFolders === true
  }
  const sealed = Buffer.from(m.sealed.buffer, m.sealed.byteOffset, m.sealed.byteLength)
  const result: RestorePieceResult = { damaged: [], failed: [], warnings: [] }
  // A piece in shared memory is reused by the main thread; one transferred here is garbage after.
  let garbage = sealed.buffer instanceof SharedArrayBuffer ? 0 : sealed.length
  m.blobs.forEach((b, i) => {
    // The piece is not needed after: blobs are decrypted where they lie.
    const blob = sealed.subarray(b.offset, b.offset + b.length)
    garbage += b.length // decrypted in short-lived pieces
    if (b.uncompressedLength > PART_SIZE) {
      writeInParts(b, blob, m.packId, i, result)
      return
    }
    let plain: Buffer
    try {
      plain = decodeSealedBlob(key!, b, blob, m.packId, scratch, 'in-place')
    } catch (err) {
      result.damaged.push([i, (err as Error).message])
      return
    }
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

/**
 * Plaintext above this size is written part by part as it is decompressed, through one buffer
 * of this size: a buffer for a whole blob (up to 8 MiB) per worker, and the smaller ones it
 * replaced until the next full collection, were the largest items of a restore's peak memory.
 */
const PART_SIZE = 1024 * 1024
const part = Buffer.allocUnsafeSlow(PART_SIZE)

/**
 * Decodes a large compressed blob and writes it part by part into each of its targets. Its ID
 * is checked only after the last part: a damaged blob leaves bytes in its files that the main
 * thread then reports as failed, as it does any file with a damaged blob.
 */
function writeInParts(b: RestorePiece['blobs'][number], blob: Buffer, packId: string, i: number, result: RestorePieceResult): void {
  const files = b.targets.map((t) => new PartWriter(t))
  try {
    decodeSealedBlobInPieces(key!, b, blob, packId, part, (bytes, offset) => {
      for (const f of files) f.write(bytes, offset)
    })
  } catch (err) {
    for (const f of files) f.drop()
    result.damaged.push([i, (err as Error).message])
    return
  }
  files.forEach((f, k) => {
    const r = f.finish()
    if (r.error !== undefined) result.failed.push([i, k, r.error])
    for (const w of r.warnings) result.warnings.push([i, k, w])
  })
}

/** One target of a blob written part by part: opened at the first part written, closed by finish() or drop(). */
class PartWriter {
  #t: WriteTarget
  #fd: number | undefined
  #error: string | undefined

  constructor(t: WriteTarget) {
    this.#t = t
  }

  write(bytes: Buffer, offset: number): void {
    if (this.#error !== undefined || (this.#t.sparse && isAllZero(bytes))) return
    try {
      this.#fd ??= openTarget(this.#t)
      writeFully(this.#fd, bytes, this.#t.offset + offset)
    } catch (err) {
      this.#error = (err as Error).message
      this.drop()
    }
  }

  /**
   * Gives the file its metadata when it is complete with this blob, and closes it. Any failure,
   * closing included (a write error may only show there), is this target's alone.
   */
  finish(): { error?: string; warnings: string[] } {
    if (this.#error !== undefined) return { error: this.#error, warnings: NONE }
    // Every part was zero and left as a hole of a file created beforehand: nothing to do.
    if (this.#fd === undefined && !this.#t.create && this.#t.meta === undefined) return { warnings: NONE }
    let warnings = NONE
    try {
      const fd = (this.#fd ??= openTarget(this.#t))
      if (this.#t.meta) warnings = applyMetadataToFd(fd, targetPath(this.#t), this.#t.meta, owner)
      this.#fd = undefined
      closeSync(fd)
    } catch (err) {
      this.drop()
      return { error: (err as Error).message, warnings: NONE }
    }
    return { warnings }
  }

  /** Closes the file, if open, without a word: its failure is reported already. */
  drop(): void {
    if (this.#fd === undefined) return
    const fd = this.#fd
    this.#fd = undefined
    try {
      closeSync(fd)
    } catch {
      // nothing more to report
    }
  }
}

function targetPath(t: WriteTarget): Buffer {
  return Buffer.from(t.path.buffer, t.path.byteOffset, t.path.byteLength)
}

function openTarget(t: WriteTarget): number {
  if (t.create) return openReplacing(targetPath(t))
  // The file was made (or found) a regular file of one link; something else put at its path
  // since (a hard link to a file outside the target) is never written into.
  const fd = openSync(targetPath(t), WRITE)
  const st = fstatSync(fd)
  if (!st.isFile() || st.nlink !== 1) {
    closeSync(fd)
    throw new Error('it was replaced by something else while it was restored (a link, or not a file)')
  }
  return fd
}

function writeFully(fd: number, bytes: Buffer, position: number): void {
  let done = 0
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done)
}

/** Writes a blob into its file; returns the warnings of finishing the file (when `t.meta` says to). */
function writeAt(t: WriteTarget, plain: Buffer): string[] {
  const fd = openTarget(t)
  try {
    writeFully(fd, plain, t.offset)
    return t.meta ? applyMetadataToFd(fd, targetPath(t), t.meta, owner) : NONE
  } finally {
    closeSync(fd)
  }
}

const NONE: string[] = []

/**
 * Creates a new file, removing what is in the way first (clearTheWay: never a folder with
 * content; a symlink is never followed). An existing file is never written into: it may be a
 * hard link of a file outside the target.
 */
function openReplacing(path: Buffer): number {
  try {
    return openSync(path, CREATE, 0o600)
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err
    clearTheWay(path, removeFolders)
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
