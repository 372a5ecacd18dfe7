/**
 * Index files (docs/design.md, "Index"): which blobs each pack holds. JSON, `supersedes`
 * omitted when empty, `uncompressed_length` only for compressed blobs. Old (≤ 0.7) index files
 * are a bare array of packs and are still read.
 */
import { AppError, isId, type Id } from '../../base/index.js'
import type { PackedBlob } from '../blob.js'
import { framedWriter, type FramedWriter } from '../unpacked.js'

export interface IndexPack {
  id: Id
  blobs: PackedBlob[]
}

export interface IndexFile {
  supersedes: Id[]
  packs: IndexPack[]
}

export function encodeIndex(index: IndexFile): Buffer {
  return Buffer.from(indexHead(index.supersedes) + index.packs.map(packJson).join(',') + INDEX_END)
}

function indexHead(supersedes: readonly Id[]): string {
  return supersedes.length > 0 ? `{"supersedes":[${supersedes.map((s) => `"${s}"`).join(',')}],"packs":[` : '{"packs":['
}

const INDEX_END = ']}\n'

/** One pack's entry in an index file's "packs" array. */
function packJson(pack: IndexPack): string {
  let s = `{"id":"${pack.id}","blobs":[`
  pack.blobs.forEach((b, j) => {
    const ul = b.uncompressedLength !== 0 ? `,"uncompressed_length":${b.uncompressedLength}` : ''
    s += `${j > 0 ? ',' : ''}{"id":"${b.id}","type":"${b.type}","offset":${b.offset},"length":${b.length}${ul}}`
  })
  return s + ']}'
}

/**
 * An index file built pack by pack as packs are stored. Each pack's entry is
 * encoded when it is added, and in repository v2 compressed at once, so packs waiting for their
 * index file cost their share of its compressed bytes (about 40 per blob), not blob objects
 * (about 200 per blob), and finishing makes no document-sized copies.
 */
export class IndexFileBuilder {
  #out: FramedWriter
  #packs = 0
  #blobs = 0

  constructor(version: 1 | 2, supersedes: readonly Id[] = []) {
    this.#out = framedWriter(version)
    this.#out.write(Buffer.from(indexHead(supersedes)))
  }

  get packCount(): number {
    return this.#packs
  }

  get blobCount(): number {
    return this.#blobs
  }

  add(pack: IndexPack): void {
    this.#out.write(Buffer.from((this.#packs > 0 ? ',' : '') + packJson(pack), 'latin1'))
    this.#packs++
    this.#blobs += pack.blobs.length
  }

  /** The index file's plaintext, framed for the repository version (for Repository.saveFramedUnpacked). */
  finish(): Buffer {
    this.#out.write(Buffer.from(INDEX_END))
    return this.#out.end()
  }
}

export function decodeIndex(bytes: Uint8Array, name = 'index'): IndexFile {
  let doc: unknown
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (err) {
    throw new AppError('INVALID_DATA', `Index "${name}" is not valid JSON: ${(err as Error).message}`)
  }
  const bad = (what: string) => new AppError('INVALID_DATA', `Index "${name}" is malformed: ${what}`)
  let packsRaw: unknown
  let supersedes: Id[] = []
  if (Array.isArray(doc)) {
    packsRaw = doc
  } else if (doc !== null && typeof doc === 'object') {
    const o = doc as { packs?: unknown; supersedes?: unknown }
    packsRaw = o.packs ?? []
    if (Array.isArray(o.supersedes)) supersedes = o.supersedes.filter((s): s is string => typeof s === 'string')
  } else {
    throw bad('expected an object')
  }
  if (!Array.isArray(packsRaw)) throw bad('"packs" is not an array')
  const packs: IndexPack[] = []
  for (const p of packsRaw as Array<{ id?: unknown; blobs?: unknown }>) {
    if (typeof p?.id !== 'string' || !isId(p.id)) throw bad('a pack has no valid "id"')
    const blobs: PackedBlob[] = []
    for (const b of (Array.isArray(p.blobs) ? p.blobs : []) as Array<Record<string, unknown>>) {
      const type = b.type
      if (type !== 'data' && type !== 'tree') throw bad(`blob type ${JSON.stringify(type)} in pack ${p.id}`)
      if (typeof b.id !== 'string' || !isId(b.id)) throw bad(`a blob in pack ${p.id} has no valid "id"`)
      const offset = Number(b.offset ?? 0)
      const length = Number(b.length ?? 0)
      const uncompressedLength = Number(b.uncompressed_length ?? 0)
      if (![offset, length, uncompressedLength].every((n) => Number.isInteger(n) && n >= 0)) throw bad(`blob ${b.id} has invalid sizes`)
      blobs.push({ type, id: b.id, offset, length, uncompressedLength })
    }
    packs.push({ id: p.id, blobs })
  }
  return { supersedes, packs }
}
