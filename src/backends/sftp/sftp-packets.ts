/**
 * SFTP version 3 wire format (draft-ietf-secsh-filexfer-02, the version OpenSSH speaks):
 * message numbers, status codes, open flags, and encoding and decoding of packets and
 * attributes. Every packet is `uint32 length, byte type, payload`; integers are big-endian,
 * strings are `uint32 length, bytes`.
 */

/** Message types. */
export const FXP = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const

/** Status codes of SSH_FXP_STATUS. */
export const FX = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const

/** pflags of SSH_FXP_OPEN. */
export const OPEN = { READ: 0x01, WRITE: 0x02, APPEND: 0x04, CREAT: 0x08, TRUNC: 0x10, EXCL: 0x20 } as const

const ATTR_SIZE = 0x1
const ATTR_UIDGID = 0x2
const ATTR_PERMISSIONS = 0x4
const ATTR_ACMODTIME = 0x8
const ATTR_EXTENDED = 0x80000000

const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000

/** File attributes; each field is present only when the server sent it. */
export interface Attrs {
  size?: number
  uid?: number
  gid?: number
  /** Type and permission bits, as in st_mode. */
  permissions?: number
  atime?: number
  mtime?: number
}

export type EntryKind = 'file' | 'dir' | 'symlink' | 'other' | 'unknown'

/** What the mode bits say the entry is (`unknown` when the server sent no permissions). */
export function kindOf(a: Attrs): EntryKind {
  if (a.permissions === undefined) return 'unknown'
  switch (a.permissions & S_IFMT) {
    case S_IFREG:
      return 'file'
    case S_IFDIR:
      return 'dir'
    case S_IFLNK:
      return 'symlink'
    default:
      return 'other'
  }
}

/** A field of an outgoing packet: numbers are uint32 unless wrapped. */
export type Field = number | { u64: number } | { byte: number } | string | Buffer | Uint8Array | { attrs: Attrs }

/**
 * Encodes one packet as a list of buffers: a header holding everything up to the last field,
 * and the last field's bytes (a WRITE's data) uncopied when it is large.
 */
export function encodePacket(type: number, fields: readonly Field[]): Buffer[] {
  const parts: Buffer[] = []
  let small: Buffer[] = []
  let size = 1
  const pushSmall = (b: Buffer) => {
    small.push(b)
    size += b.length
  }
  for (const f of fields) {
    if (typeof f === 'number') pushSmall(u32(f))
    else if (typeof f === 'string') {
      const b = Buffer.from(f, 'utf8')
      pushSmall(u32(b.length))
      pushSmall(b)
    } else if (f instanceof Uint8Array) {
      pushSmall(u32(f.byteLength))
      const b = Buffer.isBuffer(f) ? f : Buffer.from(f.buffer, f.byteOffset, f.byteLength)
      if (b.length >= 4096) {
        parts.push(Buffer.concat(small))
        small = []
        parts.push(b)
        size += b.length
      } else pushSmall(b)
    } else if ('u64' in f) pushSmall(u64(f.u64))
    else if ('byte' in f) pushSmall(Buffer.from([f.byte]))
    else pushSmall(encodeAttrs(f.attrs))
  }
  if (small.length > 0) parts.push(Buffer.concat(small))
  const head = Buffer.allocUnsafe(5)
  head.writeUInt32BE(size, 0)
  head.writeUInt8(type, 4)
  parts.unshift(head)
  return parts
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(n >>> 0, 0)
  return b
}

function u64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8)
  b.writeBigUInt64BE(BigInt(n), 0)
  return b
}

function encodeAttrs(a: Attrs): Buffer {
  let flags = 0
  const rest: Buffer[] = []
  if (a.size !== undefined) {
    flags |= ATTR_SIZE
    rest.push(u64(a.size))
  }
  if (a.uid !== undefined && a.gid !== undefined) {
    flags |= ATTR_UIDGID
    rest.push(u32(a.uid), u32(a.gid))
  }
  if (a.permissions !== undefined) {
    flags |= ATTR_PERMISSIONS
    rest.push(u32(a.permissions))
  }
  if (a.atime !== undefined && a.mtime !== undefined) {
    flags |= ATTR_ACMODTIME
    rest.push(u32(a.atime), u32(a.mtime))
  }
  return Buffer.concat([u32(flags), ...rest])
}

/** Thrown when a packet from the server is shorter than its fields say. */
export class BadPacketError extends Error {
  constructor(what: string) {
    super(`Malformed SFTP packet from the server: ${what}`)
    this.name = 'BadPacketError'
  }
}

/** Reads the fields of one packet payload in order. */
export class PacketReader {
  readonly #buf: Buffer
  #pos: number

  constructor(buf: Buffer, pos = 0) {
    this.#buf = buf
    this.#pos = pos
  }

  get remaining(): number {
    return this.#buf.length - this.#pos
  }

  #need(n: number, what: string): void {
    if (this.#pos + n > this.#buf.length) throw new BadPacketError(`${what} runs past the end`)
  }

  byte(): number {
    this.#need(1, 'a byte')
    return this.#buf[this.#pos++]
  }

  u32(): number {
    this.#need(4, 'a uint32')
    const v = this.#buf.readUInt32BE(this.#pos)
    this.#pos += 4
    return v
  }

  u64(): number {
    this.#need(8, 'a uint64')
    const v = this.#buf.readBigUInt64BE(this.#pos)
    this.#pos += 8
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BadPacketError(`the value ${v} is too large`)
    return Number(v)
  }

  /** A string field as bytes: a view into the packet, not a copy. */
  bytes(): Buffer {
    const n = this.u32()
    this.#need(n, 'a string')
    const b = this.#buf.subarray(this.#pos, this.#pos + n)
    this.#pos += n
    return b
  }

  text(): string {
    return this.bytes().toString('utf8')
  }

  attrs(): Attrs {
    const flags = this.u32()
    const a: Attrs = {}
    if (flags & ATTR_SIZE) a.size = this.u64()
    if (flags & ATTR_UIDGID) {
      a.uid = this.u32()
      a.gid = this.u32()
    }
    if (flags & ATTR_PERMISSIONS) a.permissions = this.u32()
    if (flags & ATTR_ACMODTIME) {
      a.atime = this.u32()
      a.mtime = this.u32()
    }
    if (flags & ATTR_EXTENDED) {
      const count = this.u32()
      for (let i = 0; i < count; i++) {
        this.bytes()
        this.bytes()
      }
    }
    return a
  }
}

/**
 * Cuts a byte stream into packets. Chunks are kept as they arrive and joined only once a
 * whole packet is there, so a 256 KiB DATA packet arriving in 32 KiB pieces is copied once.
 */
export class PacketSplitter {
  #chunks: Buffer[] = []
  #buffered = 0
  readonly #maxPacket: number

  constructor(maxPacket: number) {
    this.#maxPacket = maxPacket
  }

  /** Adds bytes; returns the payloads (type byte first) of the packets now complete. */
  push(chunk: Buffer): Buffer[] {
    this.#chunks.push(chunk)
    this.#buffered += chunk.length
    const out: Buffer[] = []
    for (;;) {
      if (this.#buffered < 4) return out
      const len = this.#peekLength()
      if (len < 1 || len > this.#maxPacket) throw new BadPacketError(`a packet claims ${len} bytes`)
      if (this.#buffered < 4 + len) return out
      const all = this.#take(4 + len)
      out.push(all.subarray(4))
    }
  }

  #peekLength(): number {
    const first = this.#chunks[0]
    if (first.length >= 4) return first.readUInt32BE(0)
    return Buffer.concat(this.#chunks).readUInt32BE(0)
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]
    if (first.length === n) {
      this.#chunks.shift()
      this.#buffered -= n
      return first
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n)
      this.#buffered -= n
      return first.subarray(0, n)
    }
    const out = Buffer.allocUnsafe(n)
    let filled = 0
    while (filled < n) {
      const c = this.#chunks[0]
      const want = n - filled
      if (c.length <= want) {
        c.copy(out, filled)
        filled += c.length
        this.#chunks.shift()
      } else {
        c.copy(out, filled, 0, want)
        this.#chunks[0] = c.subarray(want)
        filled += want
      }
    }
    this.#buffered -= n
    return out
  }
}
