import type { Id } from '../base/index.js'

/** Blobs are either file content ("data") or directory listings ("tree"); they never share a pack. */
export type BlobType = 'data' | 'tree'

/** Where a blob lives inside a pack. `uncompressedLength` is 0 for blobs stored uncompressed. */
export interface PackedBlob {
  type: BlobType
  id: Id
  offset: number
  length: number
  uncompressedLength: number
}

/** A blob's location in the repository: its pack plus its place in it. */
export interface BlobLocation extends PackedBlob {
  packId: Id
}

/** Plaintext size of a stored blob. */
export function plaintextLength(b: Pick<PackedBlob, 'length' | 'uncompressedLength'>): number {
  return b.uncompressedLength !== 0 ? b.uncompressedLength : b.length - 32
}
