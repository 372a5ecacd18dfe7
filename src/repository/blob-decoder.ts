/**
 * Decrypting, decompressing and verifying blobs, in one place for the repository and for worker
 * threads (restore decodes on workers): a blob is good only when its plaintext hashes to its ID.
 */
import { createHash } from 'node:crypto'
import { AppError, hashId, messageOf, type Id } from '../base/index.js'
import { CRYPTO_OVERHEAD, masterKeyFromJSON, masterKeyToJSON, NONCE_SIZE, open, openInOrder, openInto, type CiphertextReader, type MasterKey } from '../crypto/index.js'
import type { BlobType } from './blob.js'
import { zstdDecompress, zstdDecompressInto, zstdDecompressPieces } from './compression.js'

/** What decoding needs to know of a blob: its index entry's fields. */
export interface BlobToDecode {
  type: BlobType
  id: Id
  /** 0 when stored uncompressed. */
  uncompressedLength: number
}

/**
 * Decodes one sealed blob; throws INVALID_DATA naming the blob (and its pack) when it does not
 * decrypt, decompress or match its ID. With `scratch`, the plaintext is a view of it (or, in
 * place, of `sealed`), valid until the next use of the scratch, and nothing blob-sized is allocated.
 *
 * `where` 'in-place' decrypts the blob where it lies, overwriting `sealed`: for a caller that
 * owns those bytes and needs them no more. That spares the scratch buffer for decrypted bytes,
 * which for a large blob is megabytes per thread.
 */
export function decodeSealedBlob(key: MasterKey, b: BlobToDecode, sealed: Uint8Array, packId: Id, scratch?: Scratch, where: 'copy' | 'in-place' = 'copy'): Buffer {
  const compressed = b.uncompressedLength !== 0
  let plain: Buffer
  try {
    const length = sealed.length - CRYPTO_OVERHEAD
    plain =
      scratch === undefined || length < 0
        ? open(key, sealed)
        : openInto(key, sealed, where === 'in-place' ? ciphertextOf(sealed) : compressed ? scratch.compressed(length) : scratch.get(length))
  } catch (err) {
    throw damaged(b, packId, messageOf(err))
  }
  if (compressed) plain = scratch ? zstdDecompressInto(plain, b.uncompressedLength, scratch.get(b.uncompressedLength)) : zstdDecompress(plain, b.uncompressedLength)
  if (hashId(plain) !== b.id) throw notItsId(b, packId)
  return plain
}

/** Bytes decrypted at a time when a blob is hashed as it is decrypted (verifySealedBlob). */
const VERIFY_PIECE = 64 * 1024

/**
 * Checks a sealed blob as decodeSealedBlob() does (MAC, decompression, ID; the same errors),
 * for a caller that needs its plaintext no more than that: `check --read-data`. A blob stored
 * uncompressed (as cairn stores data that zstd does not shrink: photos, video, archives) is
 * hashed piece by piece as it is decrypted, with no copy of it.
 */
export function verifySealedBlob(key: MasterKey, b: BlobToDecode, sealed: Uint8Array, packId: Id, scratch: Scratch, where: 'copy' | 'in-place' = 'copy'): void {
  if (b.uncompressedLength !== 0 || sealed.length < CRYPTO_OVERHEAD) {
    decodeSealedBlob(key, b, sealed, packId, scratch, where)
    return
  }
  let reader: CiphertextReader
  try {
    reader = openInOrder(key, sealed)
  } catch (err) {
    throw damaged(b, packId, messageOf(err))
  }
  const hash = createHash('sha256')
  try {
    while (reader.position < reader.length) hash.update(reader.next(VERIFY_PIECE))
  } finally {
    reader.end()
  }
  if (hash.digest('hex') !== b.id) throw notItsId(b, packId)
}

function damaged(b: BlobToDecode, packId: Id, why: string): AppError {
  return new AppError('INVALID_DATA', `The ${b.type} blob ${b.id} in pack ${packId} is damaged: ${why}`)
}

function notItsId(b: BlobToDecode, packId: Id): AppError {
  return new AppError('INVALID_DATA', `The ${b.type} blob ${b.id} in pack ${packId} does not match its ID`)
}

/**
 * decodeSealedBlob() in place for a compressed blob, without a buffer for its whole plaintext:
 * `onPiece` gets it in parts of at most `piece.length` bytes as they are decompressed, with
 * their offsets. The MAC is checked before the first part, the ID only after the last: when this
 * throws, what was done with the parts must be treated as void.
 */
export function decodeSealedBlobInPieces(
  key: MasterKey,
  b: BlobToDecode,
  sealed: Uint8Array,
  packId: Id,
  piece: Buffer,
  onPiece: (bytes: Buffer, offset: number) => void,
): void {
  if (b.uncompressedLength === 0) throw new RangeError(`Blob ${b.id} is not compressed: decode it whole`)
  let compressed: Buffer
  try {
    if (sealed.length < CRYPTO_OVERHEAD) throw new RangeError(`${sealed.length} bytes are too few for a sealed blob`)
    compressed = openInto(key, sealed, ciphertextOf(sealed))
  } catch (err) {
    throw damaged(b, packId, messageOf(err))
  }
  const hash = createHash('sha256')
  let at = 0
  try {
    zstdDecompressPieces(compressed, b.uncompressedLength, piece, (bytes) => {
      hash.update(bytes)
      onPiece(bytes, at)
      at += bytes.length
    })
  } catch (err) {
    if (err instanceof AppError && err.code === 'INVALID_DATA') throw damaged(b, packId, err.message)
    throw err
  }
  if (hash.digest('hex') !== b.id) throw notItsId(b, packId)
}

/** The ciphertext of sealed bytes (after the IV, before the tag), as a Buffer over the same memory. */
function ciphertextOf(sealed: Uint8Array): Buffer {
  return Buffer.from(sealed.buffer, sealed.byteOffset + NONCE_SIZE, sealed.byteLength - CRYPTO_OVERHEAD)
}

/**
 * Buffers reused for plaintext that is only looked at briefly (hashed, written out). They grow
 * to the next power of two (1 MiB at least), so that blobs of ever larger sizes replace them a
 * few times, not once each: a buffer replaced lives on until a full collection of the thread's
 * heap, and restoring src left about 30 MiB of them per worker.
 */
export class Scratch {
  #buf = Buffer.alloc(0)
  #compressed = Buffer.alloc(0)

  /** For the final plaintext. */
  get(size: number): Buffer {
    if (this.#buf.length < size) this.#buf = Buffer.allocUnsafeSlow(scratchSize(size))
    return this.#buf
  }

  /** For a compressed blob's decrypted bytes, on their way to get(). */
  compressed(size: number): Buffer {
    if (this.#compressed.length < size) this.#compressed = Buffer.allocUnsafeSlow(scratchSize(size))
    return this.#compressed
  }
}

function scratchSize(size: number): number {
  let n = 1 << 20
  while (n < size) n *= 2
  return n
}

/** A master key as data for a worker thread (workerData), and back. */
export function keyForWorker(key: MasterKey): string {
  return masterKeyToJSON(key)
}

export function keyFromWorkerData(data: string): MasterKey {
  return masterKeyFromJSON(data)
}
