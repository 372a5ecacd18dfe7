/**
 * "Unpacked" files (index, snapshots, locks): one sealed JSON document per file, named by the
 * SHA-256 of the stored bytes. In v2 the plaintext starts with an encoding byte: 2 = zstd frame
 * follows; `{` or `[` = the whole plaintext is raw JSON.
 */
import { AppError } from '../base/index.js'
import { MAC_SIZE, NONCE_SIZE, Sealable } from '../crypto/index.js'
import { DEFAULT_LEVEL, ZstdFrameWriter, zstdBound, zstdCompressInto, zstdDecompress } from './compression.js'

/** The plaintext of an unpacked file holding `json`, laid out to be sealed in place. */
export function frameUnpacked(json: Uint8Array, version: 1 | 2): Sealable {
  if (version === 1) return Sealable.of(json)
  const room = Sealable.withRoomFor(zstdBound(json.length) + 1)
  const framed = room.plaintext
  framed[0] = 2
  const n = zstdCompressInto(framed.subarray(1), json)
  return new Sealable(room.buffer.subarray(0, NONCE_SIZE + 1 + n + MAC_SIZE))
}

/** An unpacked file's plaintext built piece by piece: JSON in, framed bytes (as frameUnpacked gives) out. */
export interface FramedWriter {
  write(json: Uint8Array): void
  /** The framed plaintext, ready to seal in place; the writer must not be used afterwards. */
  end(): Sealable
}

/** A FramedWriter for the repository version: in v2 it compresses as it goes, holding only compressed bytes. */
export function framedWriter(version: 1 | 2): FramedWriter {
  if (version === 2) {
    const w = new ZstdFrameWriter(DEFAULT_LEVEL, Uint8Array.of(2))
    return { write: (json) => w.write(json), end: () => new Sealable(w.end(NONCE_SIZE, MAC_SIZE)) }
  }
  const parts: Buffer[] = []
  return {
    write: (json) => void parts.push(Buffer.from(json)),
    end: () => {
      const s = Sealable.withRoomFor(parts.reduce((n, p) => n + p.length, 0))
      const out = s.plaintext
      let at = 0
      for (const p of parts) at += p.copy(out, at)
      return s
    },
  }
}

export function unframeUnpacked(plain: Buffer, version: 1 | 2, what: string): Buffer {
  if (version === 1 || plain.length === 0) return plain
  const first = plain[0]
  if (first === 2) return zstdDecompress(plain.subarray(1))
  if (first === 0x7b || first === 0x5b) return plain
  throw new AppError('INVALID_DATA', `${what} has an unsupported encoding byte ${first}`)
}
