/**
 * Index files (docs/design.md, "Index"): which blobs each pack holds. JSON, `supersedes`
 * omitted when empty, `uncompressed_length` only for compressed blobs. Old (≤ 0.7) index files
 * are a bare array of packs and are still read.
 */
import { AppError, isId, type Id } from '../../base/index.js'
import type { PackedBlob } from '../blob.js'

export interface IndexPack {
  id: Id
  blobs: PackedBlob[]
}

export interface IndexFile {
  supersedes: Id[]
  packs: IndexPack[]
}

export function encodeIndex(index: IndexFile): Buffer {
  const parts: string[] = []
  parts.push('{')
  if (index.supersedes.length > 0) parts.push(`"supersedes":[${index.supersedes.map((s) => `"${s}"`).join(',')}],`)
  parts.push('"packs":[')
  index.packs.forEach((pack, i) => {
    if (i > 0) parts.push(',')
    parts.push(`{"id":"${pack.id}","blobs":[`)
    pack.blobs.forEach((b, j) => {
      const ul = b.uncompressedLength !== 0 ? `,"uncompressed_length":${b.uncompressedLength}` : ''
      parts.push(`${j > 0 ? ',' : ''}{"id":"${b.id}","type":"${b.type}","offset":${b.offset},"length":${b.length}${ul}}`)
    })
    parts.push(']}')
  })
  parts.push(']}\n')
  return Buffer.from(parts.join(''))
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
