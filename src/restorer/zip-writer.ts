/**
 * A streaming zip encoder (APPNOTE 6.3): entries stored or deflated (node:zlib), file sizes and
 * CRC-32 in a data descriptor after the content so nothing has to be read twice, Unix modes and
 * owners (the "ux" extra field), UTC modification times (the extended-timestamp field), and Zip64
 * records when an entry, an offset or the entry count outgrows the classic 32/16-bit fields.
 */
import { isAscii, isUtf8 } from 'node:buffer'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import * as zlib from 'node:zlib'
import { AppError } from '../base/index.js'
import type { ByteSink } from './byte-sink.js'

export type ZipMethod = 'store' | 'deflate'

export interface ZipEntry {
  /** Path inside the archive: relative, '/'-separated, a directory's ending in '/'. */
  name: Uint8Array | string
  type: 'file' | 'dir' | 'symlink'
  /** Permission bits including setuid, setgid and sticky (0o7777). */
  mode: number
  mtimeNs: bigint
  uid?: number
  gid?: number
  /** Content length of a file, known before its content is written. */
  size?: number
  /** Target of a symlink (stored as the entry's content, as Info-ZIP does). */
  linkname?: Uint8Array | string
}

export interface ZipWriterOptions {
  /** How file contents are stored; default 'store', as restic does. */
  method?: ZipMethod
  /** zlib level for 'deflate' (default 6). */
  level?: number
  /** Writes Zip64 records for every entry and the end record (for tests of readers). */
  forceZip64?: boolean
}

interface CentralRecord {
  name: Buffer
  flags: number
  method: number
  dosTime: number
  dosDate: number
  crc: number
  csize: number
  usize: number
  offset: number
  externalAttrs: number
  extra: Buffer
  zip64: boolean
}

const U32 = 0xffffffff
const U16 = 0xffff
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000
const FLAG_DESCRIPTOR = 1 << 3
const FLAG_UTF8 = 1 << 11
const UNIX_MADE_BY = 3 << 8
// Deflate can grow incompressible data a little; entries this large get Zip64 sizes up front.
const DEFLATE_ZIP64_FROM = 0xf0000000

const crc32: (data: Uint8Array, value?: number) => number = typeof zlib.crc32 === 'function' ? zlib.crc32 : crc32Fallback

/**
 * Writes zip entries to a sink, then the central directory on `close`.
 *
 * @example
 * const zip = new ZipWriter(sink, { method: 'deflate' })
 * await zip.add({ name: 'a.txt', type: 'file', mode: 0o644, mtimeNs: 0n, size: 2 }, [Buffer.from('hi')])
 * await zip.close()
 */
export class ZipWriter {
  #sink: ByteSink
  #method: ZipMethod
  #level: number
  #force: boolean
  #offset = 0
  #central: CentralRecord[] = []
  #closed = false

  constructor(sink: ByteSink, options: ZipWriterOptions = {}) {
    this.#sink = sink
    this.#method = options.method ?? 'store'
    this.#level = options.level ?? 6
    this.#force = options.forceZip64 === true
  }

  async add(entry: ZipEntry, content?: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    if (this.#closed) throw new AppError('INTERNAL', 'Cannot add to a zip archive that was closed')
    const name = toBytes(entry.name)
    let flags = !isAscii(name) && isUtf8(name) ? FLAG_UTF8 : 0
    const { time: dosTime, date: dosDate } = dosDateTime(entry.mtimeNs)
    const typeBits = entry.type === 'dir' ? S_IFDIR : entry.type === 'symlink' ? S_IFLNK : S_IFREG
    const externalAttrs = (((typeBits | (entry.mode & 0o7777)) << 16) >>> 0) + (entry.type === 'dir' ? 0x10 : 0)
    const common = timeAndOwnerExtra(entry)
    const offset = this.#offset

    if (entry.type !== 'file') {
      // Directories and symlinks: everything is known up front, so no data descriptor.
      const data = entry.type === 'symlink' ? toBytes(entry.linkname ?? '') : Buffer.alloc(0)
      const crc = crc32(data)
      const zip64 = this.#force
      const extra = zip64 ? Buffer.concat([zip64Extra([data.length, data.length]), common]) : common
      const sizeField = zip64 ? U32 : data.length
      await this.#write(localHeader(flags, 0, dosTime, dosDate, crc, sizeField, sizeField, name, extra, zip64))
      if (data.length > 0) await this.#write(data)
      this.#central.push({ name, flags, method: 0, dosTime, dosDate, crc, csize: data.length, usize: data.length, offset, externalAttrs, extra: common, zip64 })
      return
    }

    const size = entry.size ?? 0
    const method = this.#method === 'deflate' && size > 0 ? 8 : 0
    const zip64 = this.#force || size >= (method === 8 ? DEFLATE_ZIP64_FROM : U32)
    flags |= FLAG_DESCRIPTOR
    const extra = zip64 ? Buffer.concat([zip64Extra([0, 0]), common]) : common
    await this.#write(localHeader(flags, method, dosTime, dosDate, 0, zip64 ? U32 : 0, zip64 ? U32 : 0, name, extra, zip64))

    let crc = 0
    let usize = 0
    let csize = 0
    const source = content ?? []
    if (method === 0) {
      for await (const chunk of source) {
        crc = crc32(chunk, crc)
        usize += chunk.length
        if (chunk.length > 0) await this.#write(chunk)
      }
      csize = usize
    } else {
      const input = async function* () {
        for await (const chunk of source) {
          crc = crc32(chunk, crc)
          usize += chunk.length
          yield chunk
        }
      }
      await pipeline(Readable.from(input(), { objectMode: false }), zlib.createDeflateRaw({ level: this.#level }), async (deflated: AsyncIterable<Buffer>) => {
        for await (const chunk of deflated) {
          csize += chunk.length
          await this.#write(chunk)
        }
      })
    }
    if (usize !== size) {
      throw new AppError('INVALID_DATA', `Content of "${name.toString('utf8')}" is ${usize} bytes, not the ${size} bytes announced`, {
        hint: 'The zip archive written so far is incomplete; run "cairn check --read-data" to find damaged data',
      })
    }
    if (!zip64 && csize >= U32) throw new AppError('INTERNAL', `Compressed size of "${name.toString('utf8')}" outgrew a zip entry without Zip64`)

    const descriptor = Buffer.alloc(zip64 ? 24 : 16)
    descriptor.writeUInt32LE(0x08074b50, 0)
    descriptor.writeUInt32LE(crc >>> 0, 4)
    if (zip64) {
      descriptor.writeBigUInt64LE(BigInt(csize), 8)
      descriptor.writeBigUInt64LE(BigInt(usize), 16)
    } else {
      descriptor.writeUInt32LE(csize, 8)
      descriptor.writeUInt32LE(usize, 12)
    }
    await this.#write(descriptor)
    this.#central.push({ name, flags, method, dosTime, dosDate, crc: crc >>> 0, csize, usize, offset, externalAttrs, extra: common, zip64 })
  }

  /** Writes the central directory and the end records, and flushes. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const cdStart = this.#offset
    for (const r of this.#central) await this.#write(centralHeader(r, this.#force))
    const cdSize = this.#offset - cdStart
    const count = this.#central.length
    if (this.#force || count >= U16 || cdSize >= U32 || cdStart >= U32) {
      const eocd64At = this.#offset
      const rec = Buffer.alloc(56)
      rec.writeUInt32LE(0x06064b50, 0)
      rec.writeBigUInt64LE(44n, 4)
      rec.writeUInt16LE(UNIX_MADE_BY | 45, 12)
      rec.writeUInt16LE(45, 14)
      rec.writeBigUInt64LE(BigInt(count), 24)
      rec.writeBigUInt64LE(BigInt(count), 32)
      rec.writeBigUInt64LE(BigInt(cdSize), 40)
      rec.writeBigUInt64LE(BigInt(cdStart), 48)
      const locator = Buffer.alloc(20)
      locator.writeUInt32LE(0x07064b50, 0)
      locator.writeBigUInt64LE(BigInt(eocd64At), 8)
      locator.writeUInt32LE(1, 16)
      await this.#write(Buffer.concat([rec, locator]))
    }
    const end = Buffer.alloc(22)
    end.writeUInt32LE(0x06054b50, 0)
    end.writeUInt16LE(Math.min(count, U16), 8)
    end.writeUInt16LE(Math.min(count, U16), 10)
    end.writeUInt32LE(Math.min(cdSize, U32), 12)
    end.writeUInt32LE(Math.min(cdStart, U32), 16)
    await this.#write(end)
    await this.#sink.flush()
  }

  async #write(chunk: Uint8Array): Promise<void> {
    this.#offset += chunk.length
    await this.#sink.write(chunk)
  }
}

function toBytes(v: Uint8Array | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength)
}

function localHeader(flags: number, method: number, time: number, date: number, crc: number, csize: number, usize: number, name: Buffer, extra: Buffer, zip64: boolean): Buffer {
  const h = Buffer.alloc(30)
  h.writeUInt32LE(0x04034b50, 0)
  h.writeUInt16LE(zip64 ? 45 : 20, 4)
  h.writeUInt16LE(flags, 6)
  h.writeUInt16LE(method, 8)
  h.writeUInt16LE(time, 10)
  h.writeUInt16LE(date, 12)
  h.writeUInt32LE(crc >>> 0, 14)
  h.writeUInt32LE(csize, 18)
  h.writeUInt32LE(usize, 22)
  h.writeUInt16LE(name.length, 26)
  h.writeUInt16LE(extra.length, 28)
  return Buffer.concat([h, name, extra])
}

function centralHeader(r: CentralRecord, force: boolean): Buffer {
  const big: number[] = []
  if (force || r.usize >= U32) big.push(r.usize)
  if (force || r.csize >= U32) big.push(r.csize)
  if (force || r.offset >= U32) big.push(r.offset)
  const zip64 = big.length > 0 || r.zip64
  const extra = big.length > 0 ? Buffer.concat([zip64Extra(big), r.extra]) : r.extra
  const h = Buffer.alloc(46)
  h.writeUInt32LE(0x02014b50, 0)
  h.writeUInt16LE(UNIX_MADE_BY | (zip64 ? 45 : 20), 4)
  h.writeUInt16LE(zip64 ? 45 : 20, 6)
  h.writeUInt16LE(r.flags, 8)
  h.writeUInt16LE(r.method, 10)
  h.writeUInt16LE(r.dosTime, 12)
  h.writeUInt16LE(r.dosDate, 14)
  h.writeUInt32LE(r.crc, 16)
  h.writeUInt32LE(force || r.csize >= U32 ? U32 : r.csize, 20)
  h.writeUInt32LE(force || r.usize >= U32 ? U32 : r.usize, 24)
  h.writeUInt16LE(r.name.length, 28)
  h.writeUInt16LE(extra.length, 30)
  h.writeUInt32LE(r.externalAttrs, 38)
  h.writeUInt32LE(force || r.offset >= U32 ? U32 : r.offset, 42)
  return Buffer.concat([h, r.name, extra])
}

/** The Zip64 extended-information field with the given 64-bit values, in APPNOTE order. */
function zip64Extra(values: number[]): Buffer {
  const b = Buffer.alloc(4 + 8 * values.length)
  b.writeUInt16LE(0x0001, 0)
  b.writeUInt16LE(8 * values.length, 2)
  values.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 4 + 8 * i))
  return b
}

/** Extended timestamp (UTC mtime) and Info-ZIP Unix owner fields. */
function timeAndOwnerExtra(e: ZipEntry): Buffer {
  const parts: Buffer[] = []
  const seconds = Number(e.mtimeNs / 1_000_000_000n)
  if (seconds >= -0x80000000 && seconds <= 0x7fffffff) {
    const ut = Buffer.alloc(9)
    ut.writeUInt16LE(0x5455, 0)
    ut.writeUInt16LE(5, 2)
    ut.writeUInt8(1, 4)
    ut.writeInt32LE(seconds, 5)
    parts.push(ut)
  }
  if (e.uid !== undefined && e.gid !== undefined) {
    const ux = Buffer.alloc(15)
    ux.writeUInt16LE(0x7875, 0)
    ux.writeUInt16LE(11, 2)
    ux.writeUInt8(1, 4)
    ux.writeUInt8(4, 5)
    ux.writeUInt32LE(e.uid >>> 0, 6)
    ux.writeUInt8(4, 10)
    ux.writeUInt32LE(e.gid >>> 0, 11)
    parts.push(ux)
  }
  return Buffer.concat(parts)
}

/** MS-DOS date and time fields in the local zone, clamped to what they can hold (1980–2107). */
function dosDateTime(ns: bigint): { time: number; date: number } {
  const ms = Number(ns / 1_000_000n)
  const d = new Date(ms)
  let year = d.getFullYear()
  if (Number.isNaN(year) || year < 1980) return { time: 0, date: (1 << 5) | 1 }
  if (year > 2107) return { time: (23 << 11) | (59 << 5) | 29, date: (127 << 9) | (12 << 5) | 31 }
  year -= 1980
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
    date: (year << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  }
}

let crcTable: Int32Array | undefined

/** CRC-32 (IEEE) for Node versions before zlib.crc32 (20.15). */
function crc32Fallback(data: Uint8Array, value = 0): number {
  if (!crcTable) {
    crcTable = new Int32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      crcTable[n] = c
    }
  }
  let c = ~value
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}
