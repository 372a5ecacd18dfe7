/**
 * A streaming tar encoder: POSIX ustar headers, with a PAX extended header in front of an entry
 * only when ustar cannot hold it (a long or non-ASCII UTF-8 path, a long link target or owner
 * name, a size from 8 GiB, ids or times out of the octal range, extra records such as xattrs).
 * A long path that is not UTF-8 goes into a GNU long-name entry instead: PAX records are UTF-8
 * unless marked "hdrcharset=BINARY", which GNU tar does not understand; every common reader
 * takes GNU long names as raw bytes.
 */
import { isAscii, isUtf8 } from 'node:buffer'
import { AppError } from '../base/index.js'
import type { ByteSink } from './byte-sink.js'

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'chardev' | 'blockdev' | 'fifo'

export interface TarEntry {
  /** Path inside the archive: relative, '/'-separated, a directory's ending in '/'. Bytes are kept as they are. */
  name: Uint8Array | string
  type: TarEntryType
  /** Permission bits including setuid, setgid and sticky (0o7777). */
  mode: number
  uid: number
  gid: number
  uname?: string
  gname?: string
  /** Modification time, nanoseconds since the epoch (ustar keeps whole seconds). */
  mtimeNs: bigint
  /** Content length; files only. */
  size?: number
  /** Target of a symlink, or the archive path of the entry a hard link points to. */
  linkname?: Uint8Array | string
  devMajor?: number
  devMinor?: number
  /** Extra PAX records, e.g. ['SCHILY.xattr.user.note', value]. */
  pax?: ReadonlyArray<readonly [string, Uint8Array | string]>
}

const BLOCK = 512
const ZEROS = Buffer.alloc(2 * BLOCK)
const TYPE_FLAG: Record<TarEntryType | 'pax', number> = {
  file: 0x30,
  hardlink: 0x31,
  symlink: 0x32,
  chardev: 0x33,
  blockdev: 0x34,
  dir: 0x35,
  fifo: 0x36,
  pax: 0x78,
}
const GNU_LONG_NAME = 0x4c
const GNU_LONG_LINK = 0x4b
const MAX_OCTAL_7 = 0o7777777
const MAX_OCTAL_11 = 0o77777777777
const NS = 1_000_000_000n

function bytesOf(v: Uint8Array | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength)
}

/** Writes `value` as zero-padded octal with a terminating NUL into `width` bytes. */
function putOctal(h: Buffer, offset: number, width: number, value: number): void {
  h.write(value.toString(8).padStart(width - 1, '0'), offset, width - 1, 'latin1')
  h[offset + width - 1] = 0
}

/** One PAX record: "<length> <key>=<value>\n", where length counts the whole record. */
function paxRecord(key: string, value: Uint8Array | string): Buffer {
  const v = bytesOf(value)
  const base = Buffer.byteLength(key) + v.length + 3
  let size = base + String(base).length
  while (size !== base + String(size).length) size = base + String(size).length
  return Buffer.concat([Buffer.from(`${size} ${key}=`, 'utf8'), v, Buffer.from('\n')])
}

/** The ustar name and prefix for a path, or undefined when it does not fit them. */
function splitUstarPath(name: Buffer): { name: Buffer; prefix?: Buffer } | undefined {
  if (name.length <= 100) return { name }
  let end = Math.min(name.length, 156)
  if (end === name.length && name[end - 1] === 0x2f) end--
  const slash = name.lastIndexOf(0x2f, end - 1)
  if (slash <= 0 || slash > 155) return undefined
  const rest = name.subarray(slash + 1)
  if (rest.length === 0 || rest.length > 100) return undefined
  return { name: rest, prefix: name.subarray(0, slash) }
}

/** ASCII fits ustar as is; so do bytes that are not UTF-8, which a PAX record could only carry as "binary". */
function fitsUstarField(b: Buffer, width: number): boolean {
  return b.length <= width && (isAscii(b) || !isUtf8(b))
}

function secondsOf(ns: bigint): bigint {
  const s = ns / NS
  return ns < 0n && s * NS !== ns ? s - 1n : s
}

/** PAX time text: seconds with the fraction trimmed of zeros. */
function paxTime(ns: bigint): string {
  const s = secondsOf(ns)
  const frac = ns - s * NS
  if (frac === 0n) return s.toString()
  return `${s}.${frac.toString().padStart(9, '0').replace(/0+$/, '')}`
}

/**
 * Writes tar entries to a sink, one after another. Content is streamed: `add` writes the
 * header, then the chunks of `content` as they come, then the padding.
 *
 * @example
 * const tar = new TarWriter(sink)
 * await tar.add({ name: 'a.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n, size: 2 }, [Buffer.from('hi')])
 * await tar.close()
 */
export class TarWriter {
  #sink: ByteSink
  #closed = false

  constructor(sink: ByteSink) {
    this.#sink = sink
  }

  async add(entry: TarEntry, content?: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    if (this.#closed) throw new AppError('INTERNAL', 'Cannot add to a tar archive that was closed')
    const size = entry.type === 'file' ? (entry.size ?? 0) : 0
    const { header, pax, longName, longLink } = buildHeader(entry, size)
    for (const [flag, value] of [[GNU_LONG_LINK, longLink], [GNU_LONG_NAME, longName]] as const) {
      if (value === undefined) continue
      const data = Buffer.concat([value, ZEROS.subarray(0, 1)])
      await this.#sink.write(extensionHeader(entry, flag, data.length))
      await this.#sink.write(data)
      await this.#pad(data.length)
    }
    if (pax !== undefined) {
      await this.#sink.write(extensionHeader(entry, TYPE_FLAG.pax, pax.length))
      await this.#sink.write(pax)
      await this.#pad(pax.length)
    }
    await this.#sink.write(header)
    if (size === 0 && content === undefined) return
    let written = 0
    if (content !== undefined) {
      for await (const chunk of content) {
        written += chunk.length
        if (written > size) break
        if (chunk.length > 0) await this.#sink.write(chunk)
      }
    }
    if (written !== size) {
      throw new AppError('INVALID_DATA', `Content of "${bytesOf(entry.name).toString('utf8')}" is ${written > size ? 'longer' : 'shorter'} than its size of ${size} bytes`, {
        hint: 'The tar archive written so far is incomplete; run "cairn check --read-data" to find damaged data',
      })
    }
    await this.#pad(size)
  }

  /** Writes the two zero blocks that end an archive, and flushes. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#sink.write(ZEROS)
    await this.#sink.flush()
  }

  async #pad(size: number): Promise<void> {
    const rest = size % BLOCK
    if (rest !== 0) await this.#sink.write(ZEROS.subarray(0, BLOCK - rest))
  }
}

interface Headers {
  header: Buffer
  pax?: Buffer
  longName?: Buffer
  longLink?: Buffer
}

function buildHeader(e: TarEntry, size: number): Headers {
  const records: Buffer[] = []
  const out: Headers = { header: Buffer.alloc(BLOCK) }
  const h = out.header

  const name = bytesOf(e.name)
  const split = isAscii(name) || !isUtf8(name) ? splitUstarPath(name) : undefined
  if (split) {
    split.name.copy(h, 0)
    split.prefix?.copy(h, 345)
  } else {
    if (isUtf8(name)) records.push(paxRecord('path', name))
    else out.longName = name
    name.copy(h, 0, 0, Math.min(100, name.length))
  }

  if (e.linkname !== undefined) {
    const link = bytesOf(e.linkname)
    if (fitsUstarField(link, 100)) link.copy(h, 157)
    else {
      if (isUtf8(link)) records.push(paxRecord('linkpath', link))
      else out.longLink = link
      link.copy(h, 157, 0, Math.min(100, link.length))
    }
  }

  putOctal(h, 100, 8, e.mode & 0o7777)
  for (const [key, value, offset] of [['uid', e.uid, 108], ['gid', e.gid, 116]] as const) {
    if (value > MAX_OCTAL_7 || value < 0) {
      records.push(paxRecord(key, String(value)))
      putOctal(h, offset, 8, 0)
    } else putOctal(h, offset, 8, value)
  }
  if (size > MAX_OCTAL_11) {
    records.push(paxRecord('size', String(size)))
    putOctal(h, 124, 12, 0)
  } else putOctal(h, 124, 12, size)
  const seconds = secondsOf(e.mtimeNs)
  if (seconds < 0n || seconds > BigInt(MAX_OCTAL_11)) {
    records.push(paxRecord('mtime', paxTime(e.mtimeNs)))
    putOctal(h, 136, 12, 0)
  } else putOctal(h, 136, 12, Number(seconds))
  h[156] = TYPE_FLAG[e.type]
  h.write('ustar\x0000', 257, 8, 'latin1')

  for (const [key, value, offset] of [['uname', e.uname, 265], ['gname', e.gname, 297]] as const) {
    if (!value) continue
    const b = Buffer.from(value, 'utf8')
    if (b.length <= 32 && isAscii(b)) b.copy(h, offset)
    else records.push(paxRecord(key, b))
  }
  if (e.type === 'chardev' || e.type === 'blockdev') {
    putOctal(h, 329, 8, Math.min(e.devMajor ?? 0, MAX_OCTAL_7))
    putOctal(h, 337, 8, Math.min(e.devMinor ?? 0, MAX_OCTAL_7))
  }
  for (const [key, value] of e.pax ?? []) records.push(paxRecord(key, value))

  writeChecksum(h)
  if (records.length > 0) out.pax = Buffer.concat(records)
  return out
}

/**
 * The header of a PAX ('x') or GNU long-name ('L', 'K') block in front of an entry. Readers
 * that know the type ignore its name; GNU tar expects "././@LongLink" for the GNU ones.
 */
function extensionHeader(e: TarEntry, flag: number, size: number): Buffer {
  const h = Buffer.alloc(BLOCK)
  let label: Buffer
  if (flag === TYPE_FLAG.pax) {
    const name = bytesOf(e.name)
    const base = name.subarray(name.lastIndexOf(0x2f, name.length - 2) + 1)
    label = Buffer.from('PaxHeaders.0/' + base.toString('latin1').replace(/[^\x20-\x7e]/g, '_'), 'latin1')
  } else label = Buffer.from('././@LongLink')
  label.copy(h, 0, 0, Math.min(100, label.length))
  putOctal(h, 100, 8, 0o644)
  putOctal(h, 108, 8, 0)
  putOctal(h, 116, 8, 0)
  putOctal(h, 124, 12, size)
  const seconds = secondsOf(e.mtimeNs)
  putOctal(h, 136, 12, seconds < 0n || seconds > BigInt(MAX_OCTAL_11) ? 0 : Number(seconds))
  h[156] = flag
  h.write('ustar\x0000', 257, 8, 'latin1')
  writeChecksum(h)
  return h
}

/** The header checksum: the byte sum with the checksum field read as spaces. */
function writeChecksum(h: Buffer): void {
  h.fill(0x20, 148, 156)
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += h[i]
  h.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1')
  h[154] = 0
  h[155] = 0x20
}
