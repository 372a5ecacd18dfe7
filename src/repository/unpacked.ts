/**
 * "Unpacked" files (index, snapshots, locks): one sealed JSON document per file, named by the
 * SHA-256 of the stored bytes. In v2 the plaintext starts with an encoding byte: 2 = zstd frame
 * follows; `{` or `[` = the whole plaintext is raw JSON.
 */
import { AppError } from '../base/index.js'
import { DEFAULT_LEVEL, ZstdFrameWriter, zstdCompress, zstdDecompress } from './compression.js'

export function frameUnpacked(json: Uint8Array, version: 1 | 2): Buffer {
  if (version === 1) return Buffer.from(json)
  const z = zstdCompress(json)
  const out = Buffer.allocUnsafe(z.length + 1)
  out[0] = 2
  z.copy(out, 1)
  return out
}

/** An unpacked file's plaintext built piece by piece: JSON in, framed bytes (as frameUnpacked gives) out. */
export interface FramedWriter {
  write(json: Uint8Array): void
  /** The framed plaintext; the writer must not be used afterwards. */
  end(): Buffer
}

/** A FramedWriter for the repository version: in v2 it compresses as it goes, holding only compressed bytes. */
export function framedWriter(version: 1 | 2): FramedWriter {
  if (version === 2) return new ZstdFrameWriter(DEFAULT_LEVEL, Uint8Array.of(2))
  const parts: Buffer[] = []
  return {
    write: (json) => void parts.push(Buffer.from(json)),
    end: () => Buffer.concat(parts),
  }
}

export function unframeUnpacked(plain: Buffer, version: 1 | 2, what: string): Buffer {
  if (version === 1 || plain.length === 0) return plain
  const first = plain[0]
  if (first === 2) return zstdDecompress(plain.subarray(1))
  if (first === 0x7b || first === 0x5b) return plain
  throw new AppError('INVALID_DATA', `${what} has an unsupported encoding byte ${first}`)
}
