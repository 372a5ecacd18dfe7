import type { Readable, Writable } from 'node:stream'
import { FX, FXP, PacketReader, PacketSplitter, encodePacket, type Attrs, type Field } from './sftp-packets.js'

/** The largest packet we accept from a server (OpenSSH sends at most 256 KiB plus headers). */
const MAX_INCOMING_PACKET = 4 * 1024 * 1024
/** Read and write sizes every server must take (the draft's 32768 plus headers). */
const SAFE_CHUNK = 32 * 1024
/** We never ask for more than this per request, whatever the server allows. */
const MAX_CHUNK = 256 * 1024

/** An SFTP status other than OK, with the path or handle the request was about. */
export class SftpStatusError extends Error {
  /** An FX status code. */
  readonly status: number
  readonly serverMessage: string
  constructor(status: number, serverMessage: string, request: string) {
    super(`${request}: ${describeStatus(status)}${serverMessage === '' ? '' : ` (${serverMessage})`}`)
    this.name = 'SftpStatusError'
    this.status = status
    this.serverMessage = serverMessage
  }
}

/** The SFTP stream ended or broke: every request in flight and every later one fails with it. */
export class SftpClosedError extends Error {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(detail, options)
    this.name = 'SftpClosedError'
  }
}

export function describeStatus(status: number): string {
  switch (status) {
    case FX.EOF:
      return 'end of file'
    case FX.NO_SUCH_FILE:
      return 'no such file or directory'
    case FX.PERMISSION_DENIED:
      return 'permission denied'
    case FX.FAILURE:
      return 'failure'
    case FX.BAD_MESSAGE:
      return 'bad message'
    case FX.NO_CONNECTION:
      return 'no connection'
    case FX.CONNECTION_LOST:
      return 'connection lost'
    case FX.OP_UNSUPPORTED:
      return 'operation not supported'
    default:
      return `status ${status}`
  }
}

export interface DirEntry {
  name: string
  attrs: Attrs
}

export interface SftpSessionOptions {
  /** Says why the stream ended, for the error every pending request then gets (ssh's stderr, …). */
  closeDetail?: () => string | undefined
}

interface Pending {
  resolve: (r: { type: number; reader: PacketReader }) => void
  reject: (err: Error) => void
}

/**
 * An SFTP version 3 client over any pair of byte streams: an ssh2 channel (`subsys('sftp')`),
 * or the stdin/stdout of an `ssh … -s sftp` child. Requests are pipelined: every method sends
 * its request at once and resolves when the matching reply arrives, so callers keep many in
 * flight. OpenSSH's `fsync@openssh.com`, `posix-rename@openssh.com` and `limits@openssh.com`
 * are used when the server offers them.
 *
 * Once the stream ends or fails, every request in flight and every later one rejects with
 * SftpClosedError; a session is never reused after that.
 */
export class SftpSession {
  readonly #input: Readable
  readonly #output: Writable
  readonly #options: SftpSessionOptions
  readonly #pending = new Map<number, Pending>()
  readonly #splitter = new PacketSplitter(MAX_INCOMING_PACKET)
  readonly #closeListeners: Array<(err: SftpClosedError) => void> = []
  #nextId = 1
  #closed: SftpClosedError | undefined
  #drain: Promise<void> | undefined
  #onVersion: ((reader: PacketReader) => void) | undefined
  /** Extension name → data, from the server's VERSION packet. */
  extensions: ReadonlyMap<string, string> = new Map()
  /** Bytes per READ request: the server's limit (up to 256 KiB), else 32 KiB. Tests may change it. */
  readChunk = SAFE_CHUNK
  /** Bytes of data per WRITE request, chosen the same way. */
  writeChunk = SAFE_CHUNK

  private constructor(input: Readable, output: Writable, options: SftpSessionOptions) {
    this.#input = input
    this.#output = output
    this.#options = options
    input.on('data', (chunk: Buffer) => this.#onData(chunk))
    input.on('end', () => this.#fail(this.#closedError('the server closed the SFTP stream')))
    input.on('close', () => this.#fail(this.#closedError('the SFTP stream was closed')))
    input.on('error', (err) => this.#fail(this.#closedError(`the SFTP stream failed: ${err.message}`, err)))
    output.on('error', (err) => this.#fail(this.#closedError(`the SFTP stream failed: ${err.message}`, err)))
    output.on('close', () => this.#fail(this.#closedError('the SFTP stream was closed')))
  }

  /**
   * Sends INIT, waits for VERSION, and asks for the server's limits when it offers them.
   * Rejects with SftpClosedError when the stream ends first.
   */
  static async start(input: Readable, output: Writable, options: SftpSessionOptions = {}): Promise<SftpSession> {
    const s = new SftpSession(input, output, options)
    const version = new Promise<PacketReader>((resolve, reject) => {
      s.#onVersion = resolve
      s.onClose(reject)
    })
    s.#send(encodePacket(FXP.INIT, [3]))
    const reader = await version
    const serverVersion = reader.u32()
    if (serverVersion < 3) {
      s.end()
      throw new SftpClosedError(`the server speaks SFTP version ${serverVersion}; version 3 is needed`)
    }
    const ext = new Map<string, string>()
    while (reader.remaining > 0) ext.set(reader.text(), reader.text())
    s.extensions = ext
    if (ext.has('limits@openssh.com')) await s.#readLimits()
    return s
  }

  /** Set once the stream has ended: the reason every request fails with. */
  get closed(): SftpClosedError | undefined {
    return this.#closed
  }

  /** Calls `fn` once when the stream ends (at once if it has). */
  onClose(fn: (err: SftpClosedError) => void): void {
    if (this.#closed !== undefined) fn(this.#closed)
    else this.#closeListeners.push(fn)
  }

  /** Ends the stream; requests still in flight fail. */
  end(): void {
    this.#output.end()
    this.#fail(new SftpClosedError('the SFTP session was closed'))
  }

  async open(path: string, pflags: number, attrs: Attrs = {}): Promise<Buffer> {
    return this.#handle(await this.#call(FXP.OPEN, [path, pflags, { attrs }]), `open "${path}"`)
  }

  async close(handle: Buffer): Promise<void> {
    this.#status(await this.#call(FXP.CLOSE, [handle]), 'close')
  }

  /** Up to `length` bytes at `offset`; fewer when the server sends fewer; null at end of file. */
  async read(handle: Buffer, offset: number, length: number): Promise<Buffer | null> {
    const what = `read at offset ${offset}`
    const r = await this.#call(FXP.READ, [handle, { u64: offset }, length])
    if (r.type === FXP.DATA) return r.reader.bytes()
    if (r.type === FXP.STATUS) {
      const status = r.reader.u32()
      if (status === FX.EOF) return null
      throw new SftpStatusError(status, readMessage(r.reader), what)
    }
    throw unexpected(r.type, what)
  }

  async write(handle: Buffer, offset: number, data: Uint8Array): Promise<void> {
    const what = `write at offset ${offset}`
    this.#status(await this.#call(FXP.WRITE, [handle, { u64: offset }, data]), what)
  }

  stat(path: string): Promise<Attrs> {
    return this.#attrsCall(FXP.STAT, [path], `stat "${path}"`)
  }

  lstat(path: string): Promise<Attrs> {
    return this.#attrsCall(FXP.LSTAT, [path], `lstat "${path}"`)
  }

  fstat(handle: Buffer): Promise<Attrs> {
    return this.#attrsCall(FXP.FSTAT, [handle], 'fstat')
  }

  async setstat(path: string, attrs: Attrs): Promise<void> {
    this.#status(await this.#call(FXP.SETSTAT, [path, { attrs }]), `setstat "${path}"`)
  }

  async fsetstat(handle: Buffer, attrs: Attrs): Promise<void> {
    this.#status(await this.#call(FXP.FSETSTAT, [handle, { attrs }]), 'fsetstat')
  }

  async opendir(path: string): Promise<Buffer> {
    return this.#handle(await this.#call(FXP.OPENDIR, [path]), `opendir "${path}"`)
  }

  /** The next batch of entries, or null at the end of the directory. */
  async readdir(handle: Buffer): Promise<DirEntry[] | null> {
    const r = await this.#call(FXP.READDIR, [handle])
    if (r.type === FXP.NAME) {
      const count = r.reader.u32()
      const out: DirEntry[] = []
      for (let i = 0; i < count; i++) {
        const name = r.reader.text()
        r.reader.bytes() // longname, as `ls -l` shows it
        out.push({ name, attrs: r.reader.attrs() })
      }
      return out
    }
    if (r.type === FXP.STATUS) {
      const status = r.reader.u32()
      if (status === FX.EOF) return null
      throw new SftpStatusError(status, readMessage(r.reader), 'readdir')
    }
    throw unexpected(r.type, 'readdir')
  }

  /** Every entry of a directory, `.` and `..` included. */
  async readdirAll(path: string): Promise<DirEntry[]> {
    const handle = await this.opendir(path)
    const out: DirEntry[] = []
    try {
      for (let batch = await this.readdir(handle); batch !== null; batch = await this.readdir(handle)) out.push(...batch)
    } finally {
      this.close(handle).catch(() => {})
    }
    return out
  }

  async mkdir(path: string, attrs: Attrs = {}): Promise<void> {
    this.#status(await this.#call(FXP.MKDIR, [path, { attrs }]), `mkdir "${path}"`)
  }

  async remove(path: string): Promise<void> {
    this.#status(await this.#call(FXP.REMOVE, [path]), `remove "${path}"`)
  }

  /**
   * SSH_FXP_RENAME. Version 3 says it fails when `to` exists, and OpenSSH does exactly that
   * (it links the new name, then unlinks the old), so it never replaces a file.
   */
  async rename(from: string, to: string): Promise<void> {
    const what = `rename "${from}" to "${to}"`
    this.#status(await this.#call(FXP.RENAME, [from, to]), what)
  }

  /** rename(2) on the server: atomic, and replaces `to`. Only when the server offers it. */
  async posixRename(from: string, to: string): Promise<void> {
    const what = `posix-rename "${from}" to "${to}"`
    this.#status(await this.#call(FXP.EXTENDED, ['posix-rename@openssh.com', from, to]), what)
  }

  /** fsync(2) of an open file on the server; only when the server offers `fsync@openssh.com`. */
  async fsync(handle: Buffer): Promise<void> {
    this.#status(await this.#call(FXP.EXTENDED, ['fsync@openssh.com', handle]), 'fsync')
  }

  async #readLimits(): Promise<void> {
    const r = await this.#call(FXP.EXTENDED, ['limits@openssh.com'])
    if (r.type !== FXP.EXTENDED_REPLY) return
    r.reader.u64() // max packet length
    const maxRead = r.reader.u64()
    const maxWrite = r.reader.u64()
    if (maxRead > 0) this.readChunk = Math.min(maxRead, MAX_CHUNK)
    if (maxWrite > 0) this.writeChunk = Math.min(maxWrite, MAX_CHUNK)
  }

  async #attrsCall(type: number, fields: Field[], what: string): Promise<Attrs> {
    const r = await this.#call(type, fields)
    if (r.type === FXP.ATTRS) return r.reader.attrs()
    if (r.type === FXP.STATUS) throw new SftpStatusError(r.reader.u32(), readMessage(r.reader), what)
    throw unexpected(r.type, what)
  }

  #handle(r: { type: number; reader: PacketReader }, what: string): Buffer {
    if (r.type === FXP.HANDLE) return Buffer.from(r.reader.bytes())
    if (r.type === FXP.STATUS) throw new SftpStatusError(r.reader.u32(), readMessage(r.reader), what)
    throw unexpected(r.type, what)
  }

  #status(r: { type: number; reader: PacketReader }, what: string): void {
    if (r.type !== FXP.STATUS) throw unexpected(r.type, what)
    const status = r.reader.u32()
    if (status !== FX.OK) throw new SftpStatusError(status, readMessage(r.reader), what)
  }

  /** Sends one request and waits for its reply; waits first while the stream is backed up. */
  async #call(type: number, fields: Field[]): Promise<{ type: number; reader: PacketReader }> {
    while (this.#drain !== undefined && this.#closed === undefined) await this.#drain
    if (this.#closed !== undefined) throw this.#closed
    const id = this.#nextId
    this.#nextId = (this.#nextId + 1) >>> 0 || 1
    const reply = new Promise<{ type: number; reader: PacketReader }>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
    })
    this.#send(encodePacket(type, [id, ...fields]))
    return reply
  }

  #send(parts: Buffer[]): void {
    let ok = true
    for (const p of parts) ok = this.#output.write(p)
    if (!ok && this.#drain === undefined) {
      this.#drain = new Promise<void>((resolve) => {
        const done = () => {
          this.#output.off('drain', done)
          this.#drain = undefined
          resolve()
        }
        this.#output.on('drain', done)
        this.onClose(done)
      })
    }
  }

  #onData(chunk: Buffer): void {
    let packets: Buffer[]
    try {
      packets = this.#splitter.push(chunk)
    } catch (err) {
      this.#fail(new SftpClosedError((err as Error).message, { cause: err }))
      this.#output.end()
      return
    }
    for (const p of packets) this.#dispatch(p)
  }

  #dispatch(payload: Buffer): void {
    const type = payload[0]
    const reader = new PacketReader(payload, 1)
    try {
      if (type === FXP.VERSION) {
        const on = this.#onVersion
        this.#onVersion = undefined
        on?.(reader)
        return
      }
      const id = reader.u32()
      const p = this.#pending.get(id)
      if (p === undefined) throw new Error(`a reply to request ${id}, which is not pending`)
      this.#pending.delete(id)
      p.resolve({ type, reader })
    } catch (err) {
      this.#fail(new SftpClosedError(`Malformed SFTP packet from the server: ${(err as Error).message}`, { cause: err }))
      this.#output.end()
    }
  }

  #closedError(what: string, cause?: unknown): SftpClosedError {
    const detail = this.#options.closeDetail?.()
    const msg = detail === undefined || detail === '' ? what : `${what}: ${detail}`
    return new SftpClosedError(msg, cause === undefined ? undefined : { cause })
  }

  #fail(err: SftpClosedError): void {
    if (this.#closed !== undefined) return
    this.#closed = err
    for (const p of this.#pending.values()) p.reject(err)
    this.#pending.clear()
    for (const fn of this.#closeListeners.splice(0)) fn(err)
  }
}

function readMessage(r: PacketReader): string {
  try {
    return r.remaining >= 4 ? r.text() : ''
  } catch {
    return ''
  }
}

function unexpected(type: number, what: string): SftpClosedError {
  return new SftpClosedError(`${what}: the server answered with unexpected packet type ${type}`)
}
