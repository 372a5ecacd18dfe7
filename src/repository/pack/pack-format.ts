/**
 * The pack file format (docs/design.md, "Pack files"):
 *   [sealed blob 0]…[sealed blob n-1][sealed header][LE32 length of the sealed header]
 * Header entries are fixed size, in file order, so offsets are a running sum.
 */
import { AppError, ID_SIZE, idFromBytes, idToBytes } from '../../base/index.js'
import type { BlobType, PackedBlob } from '../blob.js'

export const ENTRY_SIZE_PLAIN = 1 + 4 + ID_SIZE // 37
export const ENTRY_SIZE_COMPRESSED = 1 + 4 + 4 + ID_SIZE // 41
/** Header bytes restic reads eagerly with the trailer: 15 compressed entries + overhead + length. */
export const EAGER_TAIL_SIZE = 15 * ENTRY_SIZE_COMPRESSED + 32 + 4
export const MAX_HEADER_SIZE = 16 * 1024 * 1024

export function entrySize(b: Pick<PackedBlob, 'uncompressedLength'>): number {
  return b.uncompressedLength !== 0 ? ENTRY_SIZE_COMPRESSED : ENTRY_SIZE_PLAIN
}

/** The size a pack must have, derived from its blobs alone (what `check` compares). */
export function packSize(blobs: Iterable<Pick<PackedBlob, 'length' | 'uncompressedLength'>>): number {
  let size = 32 + 4
  for (const b of blobs) size += b.length + entrySize(b)
  return size
}

/** Encodes the plaintext header for blobs in file order. */
export function encodeHeader(blobs: readonly PackedBlob[]): Buffer {
  let size = 0
  for (const b of blobs) size += entrySize(b)
  const out = Buffer.allocUnsafe(size)
  let p = 0
  for (const b of blobs) {
    const compressed = b.uncompressedLength !== 0
    out[p] = (b.type === 'tree' ? 1 : 0) | (compressed ? 2 : 0)
    out.writeUInt32LE(b.length, p + 1)
    p += 5
    if (compressed) {
      out.writeUInt32LE(b.uncompressedLength, p)
      p += 4
    }
    idToBytes(b.id).copy(out, p)
    p += ID_SIZE
  }
  return out
}

/** Parses a plaintext header; offsets are assigned in order from 0. */
export function parseHeader(plain: Uint8Array, packName = 'pack'): PackedBlob[] {
  const buf = Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength)
  const blobs: PackedBlob[] = []
  let p = 0
  let offset = 0
  while (p < buf.length) {
    const t = buf[p]
    if (t > 3) throw new AppError('INVALID_DATA', `Pack "${packName}" has an invalid header: unknown blob type ${t}`)
    const compressed = (t & 2) !== 0
    const need = compressed ? ENTRY_SIZE_COMPRESSED : ENTRY_SIZE_PLAIN
    if (p + need > buf.length) throw new AppError('INVALID_DATA', `Pack "${packName}" has a truncated header`)
    const length = buf.readUInt32LE(p + 1)
    p += 5
    let uncompressedLength = 0
    if (compressed) {
      uncompressedLength = buf.readUInt32LE(p)
      p += 4
    }
    const type: BlobType = (t & 1) !== 0 ? 'tree' : 'data'
    blobs.push({ type, id: idFromBytes(buf, p), offset, length, uncompressedLength })
    p += ID_SIZE
    offset += length
  }
  return blobs
}
