import type { Id } from '../../base/index.js'
import type { BlobLocation, BlobType, PackedBlob } from '../blob.js'
import type { IndexTable } from './index-file.js'

const EMPTY = -1
/** The most of the table that may be used. */
const MAX_LOAD = 0.75

/**
 * The in-memory index of every blob in the repository: (type, id) → pack, offset, lengths.
 *
 * Entries live in typed arrays (32 bytes of ID plus 17 bytes of numbers each) behind an
 * open-addressing hash table keyed by the ID's first four bytes, which are uniformly random
 * because IDs are SHA-256 digests. That is 49 bytes per entry, plus the table (4 bytes per slot,
 * at most 3/4 full) and the spare room of the last growth step. compact(), once the index files
 * are loaded, gives the spare room back and shrinks the table: about 55 bytes per blob measured
 * at 2 million, instead of several hundred for a Map of objects. A blob stored in several packs
 * has several entries; lookups return the first, `lookupAll` every one.
 */
export class MasterIndex {
  #ids = new Uint8Array(0)
  #pack = new Uint32Array(0)
  #offset = new Uint32Array(0)
  #length = new Uint32Array(0)
  #ulen = new Uint32Array(0)
  #type = new Uint8Array(0)
  #count = 0
  #table = new Int32Array(0)
  #packIds: Id[] = []
  #packNumbers = new Map<Id, number>()
  #scratch = Buffer.alloc(32)
  /** A Buffer view of #ids, for hex conversion without a view per call. */
  #idText = Buffer.alloc(0)

  /** Number of entries (a blob in two packs counts twice). */
  get size(): number {
    return this.#count
  }

  get packCount(): number {
    return this.#packIds.length
  }

  /** The IDs of every pack with a blob in the index. */
  packIdSet(): Set<Id> {
    return new Set(this.#packIds)
  }

  /** Adds every blob of a pack. Adding the same (pack, blob) twice keeps one entry. */
  addPack(packId: Id, blobs: readonly PackedBlob[]): void {
    const known = this.#packNumbers.has(packId)
    const pn = this.#packNumber(packId)
    this.#reserve(this.#count + blobs.length)
    const key = this.#scratch
    for (const b of blobs) {
      key.write(b.id, 'hex')
      const t = typeCode(b.type)
      if (known && this.#findKey(t, key, 0, pn, 0) !== EMPTY) continue
      this.#insert(pn, t, key, 0, b.offset, b.length, b.uncompressedLength)
    }
  }

  /** Adds every blob of an index file (decodeIndexTable), as addPack does for each of its packs. */
  addTable(t: IndexTable): void {
    // Known before: by an earlier file, or earlier in this one (a pack listed twice).
    const known: boolean[] = []
    const numbers: number[] = []
    for (const id of t.packIds) {
      known.push(this.#packNumbers.has(id))
      numbers.push(this.#packNumber(id))
    }
    this.#reserve(this.#count + t.count)
    for (let i = 0; i < t.count; i++) {
      const pn = numbers[t.pack[i]]
      if (known[t.pack[i]] && this.#findKey(t.type[i], t.ids, i * 32, pn, 0) !== EMPTY) continue
      this.#insert(pn, t.type[i], t.ids, i * 32, t.offset[i], t.length[i], t.uncompressedLength[i])
    }
  }

  /** The number of a pack, given one when it is new. */
  #packNumber(packId: Id): number {
    let pn = this.#packNumbers.get(packId)
    if (pn === undefined) {
      pn = this.#packIds.length
      this.#packIds.push(packId)
      this.#packNumbers.set(packId, pn)
    }
    return pn
  }

  has(type: BlobType, id: Id): boolean {
    return this.#find(type, id, -1, 0) !== EMPTY
  }

  lookup(type: BlobType, id: Id): BlobLocation | undefined {
    const e = this.#find(type, id, -1, 0)
    return e === EMPTY ? undefined : this.#entry(e, id)
  }

  lookupAll(type: BlobType, id: Id): BlobLocation[] {
    const out: BlobLocation[] = []
    for (let e = this.#find(type, id, -1, 0); e !== EMPTY; e = this.#find(type, id, -1, e + 1)) out.push(this.#entry(e, id))
    return out
  }

  /** Every pack with its blobs (for check, prune and rewriting the index). */
  *packs(): Generator<{ id: Id; blobs: PackedBlob[] }> {
    const byPack: PackedBlob[][] = this.#packIds.map(() => [])
    for (let e = 0; e < this.#count; e++) byPack[this.#pack[e]].push(this.#entry(e))
    for (let pn = 0; pn < this.#packIds.length; pn++) yield { id: this.#packIds[pn], blobs: byPack[pn] }
  }

  /** Every entry; `type` filters. */
  *blobs(type?: BlobType): Generator<BlobLocation> {
    for (let e = 0; e < this.#count; e++) {
      if (type !== undefined && this.#type[e] !== typeCode(type)) continue
      yield this.#entry(e)
    }
  }

  #entry(e: number, id?: Id): BlobLocation {
    return {
      packId: this.#packIds[this.#pack[e]],
      type: this.#type[e] === 1 ? 'tree' : 'data',
      id: id ?? this.#idText.toString('hex', e * 32, e * 32 + 32),
      offset: this.#offset[e],
      length: this.#length[e],
      uncompressedLength: this.#ulen[e],
    }
  }

  /**
   * The first entry for (type, id) with an index of at least `from` (entries of one ID sit in
   * the probe run in insertion order), in pack `pn` unless it is -1; EMPTY when there is none.
   */
  #find(type: BlobType, id: Id, pn: number, from: number): number {
    // Buffer.write stops at the first character that is not hex: a shorter or damaged ID would
    // otherwise be looked up with the rest of the previous key, and might find its entry.
    if (this.#count === 0 || id.length !== 64 || this.#scratch.write(id, 'hex') !== 32) return EMPTY
    return this.#findKey(typeCode(type), this.#scratch, 0, pn, from)
  }

  /** #find for the ID whose 32 bytes are at `key[at]`, of type code `t`. */
  #findKey(t: number, key: Uint8Array, at: number, pn: number, from: number): number {
    if (this.#count === 0) return EMPTY
    const ids = this.#ids
    const table = this.#table
    const size = table.length
    let slot = ((key[at] | (key[at + 1] << 8) | (key[at + 2] << 16) | (key[at + 3] << 24)) >>> 0) % size
    for (;;) {
      const e = table[slot]
      if (e === EMPTY) return EMPTY
      if (e >= from && this.#type[e] === t && (pn < 0 || this.#pack[e] === pn) && equal32(ids, e * 32, key, at)) return e
      if (++slot === size) slot = 0
    }
  }

  /** Adds an entry for the ID whose 32 bytes are at `key[at]`; room must have been reserved. */
  #insert(pn: number, type: number, key: Uint8Array, at: number, offset: number, length: number, uncompressedLength: number): void {
    const e = this.#count++
    this.#ids.set(key.subarray(at, at + 32), e * 32)
    this.#pack[e] = pn
    this.#offset[e] = offset
    this.#length[e] = length
    this.#ulen[e] = uncompressedLength
    this.#type[e] = type
    this.#place(e)
  }

  #place(e: number): void {
    const ids = this.#ids
    const h = (ids[e * 32] | (ids[e * 32 + 1] << 8) | (ids[e * 32 + 2] << 16) | (ids[e * 32 + 3] << 24)) >>> 0
    const table = this.#table
    const size = table.length
    let slot = h % size
    while (table[slot] !== EMPTY) if (++slot === size) slot = 0
    table[slot] = e
  }

  #reserve(n: number): void {
    if (n > this.#type.length) {
      const cap = Math.max(1024, n, Math.ceil(this.#type.length * 1.5))
      const grow = <T extends Uint8Array | Uint32Array>(old: T, make: (n: number) => T, width = 1): T => {
        const a = make(cap * width)
        a.set(old.subarray(0, this.#count * width))
        return a
      }
      this.#ids = grow(this.#ids, (k) => new Uint8Array(k), 32)
      this.#idText = Buffer.from(this.#ids.buffer, this.#ids.byteOffset, this.#ids.byteLength)
      this.#pack = grow(this.#pack, (k) => new Uint32Array(k))
      this.#offset = grow(this.#offset, (k) => new Uint32Array(k))
      this.#length = grow(this.#length, (k) => new Uint32Array(k))
      this.#ulen = grow(this.#ulen, (k) => new Uint32Array(k))
      this.#type = grow(this.#type, (k) => new Uint8Array(k))
    }
    // At most 3/4 full, so probe runs stay short; while growing, half full after each rebuild.
    if (n > this.#table.length * MAX_LOAD) this.#rebuildTable(Math.max(2048, 2 * n))
  }

  /**
   * Gives back the room kept for growth: the entry arrays shrink to the entries there are, and a
   * table less than half full is rebuilt 3/4 full (growth leaves it between the two, so that
   * rebuild, 0.3 s per million entries, is rare). For after loading the index files; adding
   * blobs later grows the arrays again as usual.
   */
  compact(): void {
    const n = this.#count
    const trim = <T extends Uint8Array | Uint32Array>(a: T, width = 1): T => a.slice(0, n * width) as T
    this.#ids = trim(this.#ids, 32)
    this.#idText = Buffer.from(this.#ids.buffer, this.#ids.byteOffset, this.#ids.byteLength)
    this.#pack = trim(this.#pack)
    this.#offset = trim(this.#offset)
    this.#length = trim(this.#length)
    this.#ulen = trim(this.#ulen)
    this.#type = trim(this.#type)
    if (n < this.#table.length / 2) this.#rebuildTable(Math.max(2048, Math.ceil(n / MAX_LOAD) + 1))
  }

  #rebuildTable(size: number): void {
    this.#table = new Int32Array(size).fill(EMPTY)
    // In entry order, so the entries of one ID stay in insertion order along their probe run.
    for (let e = 0; e < this.#count; e++) this.#place(e)
  }
}

function typeCode(t: BlobType): number {
  return t === 'tree' ? 1 : 0
}

function equal32(a: Uint8Array, off: number, b: Uint8Array, at: number): boolean {
  for (let i = 0; i < 32; i++) if (a[off + i] !== b[at + i]) return false
  return true
}
