import { randomBytes } from 'node:crypto'
import { posix } from 'node:path'
import { AppError, createLimit } from '../../base/index.js'
import type { Backend, BackendProperties, FileInfo, FileType, Handle, TemporaryFiles } from '../backend.js'
import { FileExistsError, NotFoundError, shortReadError } from '../errors.js'
import { checkHandle, checkListType, checkRange } from '../handle.js'
import type { BackendOptions } from '../registry.js'
import { startCommand } from './command-transport.js'
import { formatSftpLocation, sftpSettings, type SftpLocation, type SftpSettings } from './config.js'
import type { SftpConnection } from './connection.js'
import { isStatus, sftpError, type SftpAction } from './sftp-errors.js'
import { listSftp } from './sftp-list.js'
import { FX, OPEN, kindOf } from './sftp-packets.js'
import type { DirEntry, SftpSession } from './sftp-session.js'
import { readRange, writeAll } from './sftp-transfer.js'
import { connectSsh } from './ssh-transport.js'
import { repositoryModes, type RepositoryModes } from '../file-modes.js'

const TYPE_DIRS = ['keys', 'index', 'snapshots', 'locks', 'data'] as const
const DATA_SUBDIRS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/**
 * A repository in a directory on an SFTP server, in restic's default layout (`config`,
 * `keys/`, `index/`, `snapshots/`, `locks/`, `data/<id[0:2]>/<id>`), so restic's sftp backend
 * opens the same directory.
 *
 * It connects on first use: with ssh2 by default (agent and ~/.ssh keys, known_hosts checked
 * strictly), or by running `-o sftp.command` / ssh with `-o sftp.args` and speaking SFTP over
 * its stdin and stdout, as restic does. All requests share one SFTP session and are
 * pipelined. When the connection drops, requests in flight fail with NETWORK and the next
 * call connects again.
 *
 * Saves write `<name>-tmp-<random>` in the target directory, fsync it (`fsync@openssh.com`),
 * and rename it with SSH_FXP_RENAME, which fails when the target exists (OpenSSH links the new
 * name, then unlinks the old): an existing file is never replaced, even by a concurrent saver.
 *
 * @example
 * const be = new SftpBackend({ scheme: 'sftp', user: 'alice', host: 'nas', path: '/srv/restic' })
 * await be.create()
 */
export class SftpBackend implements Backend {
  readonly location: string
  readonly properties: BackendProperties
  readonly #settings: SftpSettings
  readonly #root: string
  readonly #onMessage: ((m: string) => void) | undefined
  #conn: Promise<SftpConnection> | undefined
  #modes: Promise<RepositoryModes> | undefined

  /** Throws AppError INVALID_ARGUMENT for bad `-o sftp.*` options; does not connect. */
  constructor(loc: SftpLocation, options: BackendOptions = {}) {
    this.#settings = sftpSettings(loc, options)
    this.#root = this.#settings.path
    this.#onMessage = options.onMessage
    this.location = formatSftpLocation(loc)
    this.properties = { connections: this.#settings.connections, local: false, listsAfterWrite: true }
  }

  async create(): Promise<void> {
    const root = this.#root
    await this.#op('create', root, async (s) => {
      if (await this.#exists(s, posix.join(root, 'config'))) {
        throw new AppError('REPOSITORY_EXISTS', `Cannot create a repository in "${this.location}": a config file exists already`, {
          hint: 'Open the existing repository, or choose an empty directory',
        })
      }
      await this.#mkdirAll(s, root)
      await Promise.all(TYPE_DIRS.map((t) => this.#mkdir(s, posix.join(root, t))))
      await Promise.all(DATA_SUBDIRS.map((x) => this.#mkdir(s, posix.join(root, 'data', x))))
    })
  }

  async save(h: Handle, data: Uint8Array): Promise<void> {
    checkHandle(h)
    const final = this.#filename(h)
    const tmp = `${final}-tmp-${randomBytes(8).toString('hex')}`
    await this.#op('write', final, async (s) => {
      let handle: Buffer
      try {
        handle = await s.open(tmp, OPEN.WRITE | OPEN.CREAT | OPEN.EXCL)
      } catch (err) {
        if (!isStatus(err, FX.NO_SUCH_FILE)) throw err
        await this.#mkdirBelowRoot(s, posix.dirname(final)) // data/xx made lazily, as by rclone
        handle = await s.open(tmp, OPEN.WRITE | OPEN.CREAT | OPEN.EXCL)
      }
      let open = true
      try {
        // Read-only from the start, as restic makes its files; servers that refuse chmod are fine.
        const chmod = this.#getModes(s).then((m) => s.fsetstat(handle, { permissions: m.file })).catch(() => {})
        await Promise.all([writeAll(s, handle, data), chmod])
        if (s.extensions.has('fsync@openssh.com')) await s.fsync(handle)
        open = false
        await s.close(handle)
        await this.#publish(s, tmp, final, h)
      } catch (err) {
        if (open) s.close(handle).catch(() => {})
        s.remove(tmp).catch(() => {})
        throw err
      }
    })
  }

  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    checkHandle(h)
    checkRange(offset, length)
    const path = this.#filename(h)
    return this.#op('read', path, async (s) => {
      let handle: Buffer
      try {
        handle = await s.open(path, OPEN.READ)
      } catch (err) {
        if (isStatus(err, FX.NO_SUCH_FILE)) throw new NotFoundError(h, this.location)
        throw err
      }
      try {
        let want = length
        if (want === undefined) {
          const size = await sizeOf(s, handle)
          if (offset > size) throw shortReadError(h, this.location, offset, undefined, size)
          want = size - offset
        }
        const { data, short } = await readRange(s, handle, offset, want)
        if (short) throw shortReadError(h, this.location, offset, length, await sizeOf(s, handle))
        return data
      } finally {
        s.close(handle).catch(() => {})
      }
    })
  }

  async stat(h: Handle): Promise<FileInfo> {
    checkHandle(h)
    const path = this.#filename(h)
    return this.#op('stat', path, async (s) => {
      let attrs
      try {
        attrs = await s.stat(path)
      } catch (err) {
        if (isStatus(err, FX.NO_SUCH_FILE)) throw new NotFoundError(h, this.location)
        throw err
      }
      const kind = kindOf(attrs)
      if (kind !== 'file' && kind !== 'unknown') throw new NotFoundError(h, this.location)
      return { name: h.type === 'config' ? 'config' : h.name, size: attrs.size ?? 0 }
    })
  }

  list(type: FileType): AsyncIterable<FileInfo> {
    checkListType(type)
    const fail = (path: string, err: unknown) => sftpError('list', path, this.location, this.#settings.user, err)
    const session = () => this.#session()
    const root = this.#root
    return {
      async *[Symbol.asyncIterator]() {
        let s: SftpSession
        try {
          s = await session()
        } catch (err) {
          throw fail(posix.join(root, type), err)
        }
        yield* listSftp(s, root, type, fail)
      },
    }
  }

  async remove(h: Handle): Promise<void> {
    checkHandle(h)
    const path = this.#filename(h)
    await this.#op('remove', path, async (s) => {
      try {
        await s.remove(path)
      } catch (err) {
        if (!isStatus(err, FX.NO_SUCH_FILE)) throw err
      }
    })
  }

  /** The temp files of saves a killed process left (`<name>-tmp-<hex>`), which no listing shows. */
  async removeTemporaryFiles(options: { dryRun?: boolean } = {}): Promise<TemporaryFiles> {
    const found: TemporaryFiles = { files: 0, bytes: 0 }
    const names = async (s: SftpSession, dir: string): Promise<DirEntry[]> => {
      try {
        return await s.readdirAll(dir)
      } catch (err) {
        if (isStatus(err, FX.NO_SUCH_FILE)) return []
        throw err
      }
    }
    await this.#op('list', this.#root, async (s) => {
      // Nothing younger than a quarter of an hour: a file may be written while this runs.
      const dirs = [this.#root, ...['index', 'snapshots', 'keys', 'locks'].map((t) => posix.join(this.#root, t))]
      const before = Date.now() / 1000 - 15 * 60
      for (const e of await names(s, posix.join(this.#root, 'data'))) if (/^[0-9a-f]{2}$/.test(e.name)) dirs.push(posix.join(this.#root, 'data', e.name))
      // Several folders at a time: one after another, 261 of them took 16 s at 20 ms a round trip.
      const limit = createLimit(16)
      await Promise.all(
        dirs.map((dir) =>
          limit(async () => {
            for (const e of await names(s, dir)) {
              if (!/^(?:[0-9a-f]{64}|config)-tmp-[0-9a-f]{16}$/.test(e.name) || (e.attrs.mtime ?? 0) > before) continue
              if (!options.dryRun) await s.remove(posix.join(dir, e.name)).catch((err: unknown) => (isStatus(err, FX.NO_SUCH_FILE) ? undefined : Promise.reject(err)))
              found.files++
              found.bytes += Number(e.attrs.size ?? 0)
            }
          }),
        ),
      )
    })
    return found
  }

  /** Ends the session (and the ssh child); a later call connects again. */
  async close(): Promise<void> {
    const conn = this.#conn
    this.#conn = undefined
    if (conn === undefined) return
    const c = await conn.catch(() => undefined)
    await c?.close()
  }

  #filename(h: Handle): string {
    if (h.type === 'config') return posix.join(this.#root, 'config')
    if (h.type === 'data') return posix.join(this.#root, 'data', h.name.slice(0, 2), h.name)
    return posix.join(this.#root, h.type, h.name)
  }

  /** Runs `fn` on the session; whatever it throws becomes an AppError naming `path`. */
  async #op<T>(action: SftpAction, path: string, fn: (s: SftpSession) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.#session())
    } catch (err) {
      throw sftpError(action, path, this.location, this.#settings.user, err)
    }
  }

  /** The live session, connecting when there is none (first use, or after the last one dropped). */
  async #session(): Promise<SftpSession> {
    for (;;) {
      let p = this.#conn
      if (p === undefined) {
        const started = this.#connect()
        p = started
        this.#conn = started
        started.then(
          (c) => c.session.onClose(() => this.#forget(started)),
          () => this.#forget(started),
        )
      }
      const c = await p
      if (c.session.closed === undefined) return c.session
      this.#forget(p)
    }
  }

  #forget(p: Promise<SftpConnection>): void {
    if (this.#conn === p) this.#conn = undefined
  }

  #connect(): Promise<SftpConnection> {
    const s = this.#settings
    return s.command !== undefined ? startCommand(s.command, this.#onMessage) : connectSsh(s, this.#onMessage)
  }

  /** Renames the finished temp file to its name; SSH_FXP_RENAME fails when that exists. */
  async #publish(s: SftpSession, tmp: string, final: string, h: Handle): Promise<void> {
    try {
      await s.rename(tmp, final)
    } catch (err) {
      if (isStatus(err, FX.FAILURE) && (await this.#exists(s, final))) throw new FileExistsError(h, this.location)
      throw err
    }
  }

  async #exists(s: SftpSession, path: string): Promise<boolean> {
    try {
      await s.lstat(path)
      return true
    } catch (err) {
      if (isStatus(err, FX.NO_SUCH_FILE)) return false
      throw err
    }
  }

  /**
   * Looked up once, as LocalBackend does: restic widens file and folder modes for the group
   * when `config` is group-readable, and group members could not read files made 0400.
   */
  #getModes(s: SftpSession): Promise<RepositoryModes> {
    this.#modes ??= s.stat(posix.join(this.#root, 'config')).then(
      (a) => repositoryModes(a.permissions),
      () => repositoryModes(undefined),
    )
    return this.#modes
  }

  /** mkdir that accepts an existing directory; errors name the directory. */
  async #mkdir(s: SftpSession, dir: string): Promise<void> {
    try {
      const { dir: mode } = await this.#getModes(s)
      await s.mkdir(dir, { permissions: mode })
      // The server's umask takes bits off (0770 became 0750); restic sets the mode after, too.
      await s.setstat(dir, { permissions: mode }).catch(() => {})
    } catch (err) {
      if (!isStatus(err, FX.NO_SUCH_FILE)) {
        const isDir = await s.stat(dir).then(
          (a) => kindOf(a) === 'dir',
          () => false,
        )
        if (isDir) return
      }
      throw sftpError('create', dir, this.location, this.#settings.user, err)
    }
  }

  /**
   * mkdir -p for a folder inside the repository, which never makes the repository's own folder:
   * when that is gone (its disk unmounted on the server, the folder moved), a backup would go
   * on into a new folder of that name on the server's other disk and call itself a success.
   */
  async #mkdirBelowRoot(s: SftpSession, dir: string): Promise<void> {
    return this.#mkdirAll(s, dir, this.#root)
  }

  /** mkdir -p; `.` and `/` exist already. With `within`, only folders strictly below it are made. */
  async #mkdirAll(s: SftpSession, dir: string, within?: string): Promise<void> {
    if (within !== undefined && (dir === within || !dir.startsWith(within.endsWith('/') ? within : `${within}/`))) {
      throw new AppError('NO_REPOSITORY', `The repository folder "${within}" is gone from ${this.location} (its disk unmounted, or the folder moved or removed): nothing was written`, {
        hint: 'Mount the disk or put the folder back on the server, then run the command again',
      })
    }
    if (dir === '.' || dir === '/' || dir === '') return
    try {
      await this.#mkdir(s, dir)
    } catch (err) {
      if (!(err instanceof AppError) || !isStatus(err.cause, FX.NO_SUCH_FILE)) throw err
      await this.#mkdirAll(s, posix.dirname(dir), within)
      await this.#mkdir(s, dir)
    }
  }
}

async function sizeOf(s: SftpSession, handle: Buffer): Promise<number> {
  const a = await s.fstat(handle)
  if (a.size === undefined) throw new Error('the server did not say how large the file is')
  return a.size
}
