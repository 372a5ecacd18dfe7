/**
 * Index files (docs/design.md, "Index"): which blobs each pack holds. JSON, `supersedes`
 * omitted when empty, `uncompressed_length` only for compressed blobs. Old (≤ 0.7) index files
 * are a bare array of packs and are still read.
 */
import { AppError, isId, type Id } from '../../base/index.js'
import type { Sealable } from '../../crypto/index.js'
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

  /** The index file's plaintext, framed for the repository version, ready to seal in place (Repository.saveFramedUnpacked). */
  finish(): Sealable {
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

/**
 * An index file's blobs as columns, for loading into the in-memory index without an object
 * per blob: blob `i` is in pack `packIds[pack[i]]`, its ID the 32 bytes at `ids[32 i]`. A pack
 * listed twice in the file has two entries in `packIds`.
 */
export interface IndexTable {
  supersedes: Id[]
  packIds: Id[]
  count: number
  pack: Uint32Array
  /** 0 for data, 1 for tree. */
  type: Uint8Array
  ids: Uint8Array
  offset: Uint32Array
  length: Uint32Array
  uncompressedLength: Uint32Array
}

/**
 * decodeIndex as an IndexTable. Index files as restic and cairn write them (compact JSON, fields
 * in restic's order) are read byte by byte, 5-8 times faster than JSON.parse and with nothing
 * for the garbage collector; any other valid index file goes through decodeIndex.
 *
 * @throws AppError INVALID_DATA as decodeIndex does
 */
export function decodeIndexTable(bytes: Uint8Array, name = 'index'): IndexTable {
  return scanIndex(bytes) ?? tableOf(decodeIndex(bytes, name))
}

function tableOf(file: IndexFile): IndexTable {
  const count = file.packs.reduce((n, p) => n + p.blobs.length, 0)
  const t = emptyTable(count)
  t.supersedes = file.supersedes
  const digest = Buffer.alloc(32)
  for (const p of file.packs) {
    const pn = t.packIds.push(p.id) - 1
    for (const b of p.blobs) {
      const i = t.count++
      digest.write(b.id, 'hex')
      t.ids.set(digest, i * 32)
      t.pack[i] = pn
      t.type[i] = b.type === 'tree' ? 1 : 0
      t.offset[i] = b.offset
      t.length[i] = b.length
      t.uncompressedLength[i] = b.uncompressedLength
    }
  }
  return t
}

function emptyTable(capacity: number): IndexTable {
  return {
    supersedes: [],
    packIds: [],
    count: 0,
    pack: new Uint32Array(capacity),
    type: new Uint8Array(capacity),
    ids: new Uint8Array(capacity * 32),
    offset: new Uint32Array(capacity),
    length: new Uint32Array(capacity),
    uncompressedLength: new Uint32Array(capacity),
  }
}

/** Value of each lowercase hex digit's byte, else -1. */
const HEX_VALUE = (() => {
  const v = new Int8Array(256).fill(-1)
  for (let i = 0; i < 16; i++) v['0123456789abcdef'.charCodeAt(i)] = i
  return v
})()

const ascii = (s: string): Uint8Array => Buffer.from(s, 'latin1')
const SUPERSEDES = ascii('{"supersedes":[')
const PACKS = ascii('"packs":[')
const PACK_ID = ascii('{"id":"')
const BLOBS = ascii('","blobs":[')
const BLOB_TYPE = ascii('","type":"')
const OFFSET = ascii('","offset":')
const LENGTH = ascii(',"length":')
const ULEN = ascii(',"uncompressed_length":')
const DATA = ascii('data')
const TREE = ascii('tree')

/**
 * The fast path of decodeIndexTable: undefined as soon as the bytes are not in the compact
 * form, whether or not they are valid JSON. Each step takes the position and gives the one
 * after what it read, or -1.
 */
function scanIndex(b: Uint8Array): IndexTable | undefined {
  const text = Buffer.from(b.buffer, b.byteOffset, b.byteLength)
  // Each blob's entry takes more than 100 bytes of the file: room for all of them.
  const t = emptyTable(Math.ceil(b.length / 100) + 1)
  const digest = new Uint8Array(32)
  let p = literal(b, 0, SUPERSEDES)
  if (p >= 0) {
    for (;;) {
      const start = p + 1
      if (b[p] !== 0x22 || (p = hexDigest(b, start, digest, 0)) < 0 || b[p++] !== 0x22) return undefined
      t.supersedes.push(text.toString('latin1', start, start + 64))
      if (b[p] === 0x2c) p++
      else if (b[p++] === 0x5d && b[p++] === 0x2c) break
      else return undefined
    }
  } else if (b[0] === 0x7b) p = 1
  else return undefined
  if ((p = literal(b, p, PACKS)) < 0) return undefined
  if (b[p] === 0x5d) p++
  else {
    for (;;) {
      if ((p = literal(b, p, PACK_ID)) < 0) return undefined
      const idAt = p
      if ((p = hexDigest(b, p, digest, 0)) < 0 || (p = literal(b, p, BLOBS)) < 0) return undefined
      const pn = t.packIds.push(text.toString('latin1', idAt, idAt + 64)) - 1
      if (b[p] === 0x5d) p++
      else {
        for (;;) {
          const i = t.count
          if ((p = literal(b, p, PACK_ID)) < 0 || (p = hexDigest(b, p, t.ids, i * 32)) < 0 || (p = literal(b, p, BLOB_TYPE)) < 0) return undefined
          let q = literal(b, p, DATA)
          if (q >= 0) t.type[i] = 0
          else if ((q = literal(b, p, TREE)) >= 0) t.type[i] = 1
          else return undefined
          if ((p = literal(b, q, OFFSET)) < 0 || (p = unsigned(b, p)) < 0) return undefined
          t.offset[i] = lastNumber
          if ((p = literal(b, p, LENGTH)) < 0 || (p = unsigned(b, p)) < 0) return undefined
          t.length[i] = lastNumber
          q = literal(b, p, ULEN)
          if (q >= 0) {
            if ((p = unsigned(b, q)) < 0) return undefined
            t.uncompressedLength[i] = lastNumber
          } else t.uncompressedLength[i] = 0
          if (b[p++] !== 0x7d) return undefined
          t.pack[i] = pn
          t.count++
          if (b[p] === 0x2c) p++
          else if (b[p++] === 0x5d) break
          else return undefined
        }
      }
      if (b[p++] !== 0x7d) return undefined
      if (b[p] === 0x2c) p++
      else if (b[p++] === 0x5d) break
      else return undefined
    }
  }
  if (b[p++] !== 0x7d) return undefined
  while (p < b.length && (b[p] === 0x0a || b[p] === 0x0d || b[p] === 0x20 || b[p] === 0x09)) p++
  return p === b.length ? t : undefined
}

/** The position after `lit` when the bytes at `p` are `lit`, else -1. */
function literal(b: Uint8Array, p: number, lit: Uint8Array): number {
  const n = lit.length
  if (p + n > b.length) return -1
  for (let i = 0; i < n; i++) if (b[p + i] !== lit[i]) return -1
  return p + n
}

/** Reads 64 lowercase hex digits at `p` into 32 bytes of `out` at `off`; -1 when they are not. */
function hexDigest(b: Uint8Array, p: number, out: Uint8Array, off: number): number {
  if (p + 64 > b.length) return -1
  for (let i = 0; i < 32; i++) {
    const hi = HEX_VALUE[b[p + 2 * i]]
    const lo = HEX_VALUE[b[p + 2 * i + 1]]
    if (hi < 0 || lo < 0) return -1
    out[off + i] = (hi << 4) | lo
  }
  return p + 64
}

/** The value unsigned() read last. */
let lastNumber = 0

/** Reads an unsigned 32-bit integer without leading zeros at `p` into lastNumber; -1 when there is none. */
function unsigned(b: Uint8Array, p: number): number {
  const start = p
  let n = 0
  while (p < b.length && p - start < 10 && b[p] >= 0x30 && b[p] <= 0x39) n = n * 10 + (b[p++] - 0x30)
  if (p === start || (b[start] === 0x30 && p - start > 1) || n > 0xffffffff) return -1
  lastNumber = n
  return p
}
