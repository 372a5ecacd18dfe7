import { randomBytes } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { AppError, errnoCode, makeDirectories } from '../../base/index.js'
import type { Backend, BackendProperties, FileInfo, FileType, Handle, ListOptions, StagedFile, TemporaryFiles } from '../backend.js'
import { FileExistsError, NotFoundError, shortReadError } from '../errors.js'
import { checkHandle, checkListType, checkRange } from '../handle.js'
import { ioError } from './io-error.js'
import { nodeFs, type LocalFs } from './local-fs.js'
import { listLocal } from './local-list.js'
import { repositoryModes, type RepositoryModes } from '../file-modes.js'

const TYPE_DIRS = ['keys', 'index', 'snapshots', 'locks', 'data'] as const
const DATA_SUBDIRS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

type Modes = RepositoryModes

/** Errors from link() that mean "this file system has no hard links", not "something is wrong". */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK', 'EXDEV'])
/** Errors from fsync on a directory or chmod that some file systems (FUSE, SMB, exFAT) give and restic ignores. */
const UNSUPPORTED_BY_FS = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EPERM', 'EBADF'])

/** What an interrupted save or staged pack leaves: `<id>-tmp-<hex>`, `config-tmp-<hex>`, `pack-<hex>-tmp`. */
/** A temporary file younger than this may belong to a write still under way. */
const TEMP_MIN_AGE_MS = 15 * 60 * 1000
const TEMP_NAME = /^(?:(?:[0-9a-f]{64}|config)-tmp-[0-9a-f]{12}|pack-[0-9a-f]+-tmp)$/

export interface LocalBackendOptions {
  /** The file system calls to use; tests wrap them to inject faults. */
  fs?: LocalFs
}

/**
 * A repository in a local directory, in restic's default layout (restic-format.md §1.1, §7.1):
 * `config`, `keys/<id>`, `index/<id>`, `snapshots/<id>`, `locks/<id>`, `data/<id[0:2]>/<id>`.
 * Files are written atomically and made read-only; the same directory can be used by restic.
 *
 * @example
 * const be = new LocalBackend('/srv/backup/repo')
 * await be.create()
 * await be.save({ type: 'keys', name: id }, bytes)
 */
export class LocalBackend implements Backend {
  readonly location: string
  readonly properties: BackendProperties = { connections: 2, local: true, listsAfterWrite: true }
  readonly #root: string
  readonly #fs: LocalFs
  #modes: Promise<Modes> | undefined

  /** `path` should be absolute; openBackend() resolves relative paths. */
  constructor(path: string, options: LocalBackendOptions = {}) {
    this.#root = path
    this.location = path
    this.#fs = options.fs ?? nodeFs
  }

  async create(): Promise<void> {
    const fs = this.#fs
    const config = this.#filename({ type: 'config', name: '' })
    let exists = true
    try {
      await fs.lstat(config)
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') throw ioError('create', config, err)
      exists = false
    }
    if (exists) {
      throw new AppError('REPOSITORY_EXISTS', `Cannot create a repository in "${this.#root}": a config file exists already`, {
        hint: 'Open the existing repository, or choose an empty directory',
      })
    }
    const mode = repositoryModes(undefined).dir
    const mkdirp = async (dir: string) => {
      try {
        await makeDirectories(dir, mode, fs)
      } catch (err) {
        throw ioError('create', dir, err)
      }
    }
    await mkdirp(this.#root)
    await Promise.all(TYPE_DIRS.map((t) => mkdirp(join(this.#root, t))))
    await Promise.all(DATA_SUBDIRS.map((x) => mkdirp(join(this.#root, 'data', x))))
  }

  /**
   * Writes `<name>-tmp-<random>` next to the final name, fsyncs it, hard-links it to the final
   * name (link fails when the target exists, so an existing file is never replaced, even by a
   * concurrent writer), removes the temp name and fsyncs the directory. The read-only mode is set
   * on the open file, so the file is read-only from the moment it has its real name. File
   * systems without hard links fall back to a check and rename().
   */
  async save(h: Handle, data: Uint8Array): Promise<void> {
    checkHandle(h)
    const fs = this.#fs
    const final = this.#filename(h)
    const dir = dirname(final)
    const tmp = `${final}-tmp-${randomBytes(6).toString('hex')}`
    const modes = await this.#getModes()

    let fd: FileHandle
    try {
      fd = await this.#openTemp(tmp, h.type, dir, modes)
    } catch (err) {
      throw ioError('write', final, err)
    }
    try {
      await Promise.all([writeAll(fd, data), chmodQuietly(fd, modes.file)])
      await fd.sync()
    } catch (err) {
      await fd.close().catch(() => {})
      await fs.unlink(tmp).catch(() => {})
      throw ioError('write', final, err)
    }
    try {
      await fd.close()
      await this.#publish(tmp, final, h)
    } catch (err) {
      await fs.unlink(tmp).catch(() => {})
      throw err instanceof AppError ? err : ioError('write', final, err)
    }
  }

  /**
   * A pack written in place: a temp file (`pack-<random>-tmp` in a data subdirectory, which
   * listing skips) receives the writes; commit() makes it read-only, fsyncs it and publishes it
   * under its name as save() does. The file is opened on the first write.
   */
  stage(type: 'data'): StagedFile {
    const fs = this.#fs
    const random = randomBytes(13).toString('hex')
    const tmp = join(this.#root, type, random.slice(0, 2), `pack-${random.slice(2)}-tmp`)
    const where = join(this.#root, type)
    let opened: Promise<FileHandle> | undefined
    let done = false
    const open = (): Promise<FileHandle> => {
      if (done) return Promise.reject(new Error('This staged pack was committed or dropped already'))
      opened ??= this.#getModes().then((modes) => this.#openTemp(tmp, type, dirname(tmp), modes))
      return opened
    }
    const drop = async (): Promise<void> => {
      done = true
      const fd = await opened?.catch(() => undefined)
      opened = undefined
      if (fd === undefined) return
      await fd.close().catch(() => {})
      await fs.unlink(tmp).catch(() => {})
    }
    return {
      write: async (data, position) => {
        try {
          await writeAllAt(await open(), data, position)
        } catch (err) {
          throw ioError('write', where, err)
        }
      },
      commit: async (name) => {
        const h: Handle = { type, name }
        checkHandle(h)
        const final = this.#filename(h)
        try {
          const fd = await open()
          await Promise.all([chmodQuietly(fd, (await this.#getModes()).file), fd.sync()])
          done = true
          await fd.close()
        } catch (err) {
          await drop()
          throw ioError('write', final, err)
        }
        try {
          // The temp file lies in another data/xx directory, and this one may be missing (rclone makes them on demand).
          await fs.mkdir(dirname(final), { mode: (await this.#getModes()).dir }).catch((err: unknown) => {
            if (errnoCode(err) !== 'EEXIST') throw err
          })
          await this.#publish(tmp, final, h)
        } catch (err) {
          await fs.unlink(tmp).catch(() => {})
          throw err instanceof AppError ? err : ioError('write', final, err)
        }
      },
      abort: drop,
    }
  }

  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    checkHandle(h)
    checkRange(offset, length)
    return this.#read(h, offset, length, (n) => Buffer.allocUnsafe(n))
  }

  async loadInto(h: Handle, into: (size: number) => Uint8Array, offset = 0, length?: number): Promise<Buffer> {
    checkHandle(h)
    checkRange(offset, length)
    return this.#read(h, offset, length, (n) => {
      const b = into(n)
      if (b.byteLength < n) throw new RangeError(`loadInto() was given ${b.byteLength} bytes for ${n} to read`)
      return Buffer.from(b.buffer, b.byteOffset, n)
    })
  }

  async #read(h: Handle, offset: number, length: number | undefined, alloc: (n: number) => Buffer): Promise<Buffer> {
    const file = this.#filename(h)
    let fd: FileHandle
    try {
      fd = await this.#fs.open(file, 'r')
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new NotFoundError(h, this.location)
      throw ioError('read', file, err)
    }
    try {
      let want = length
      if (want === undefined) {
        const size = (await fd.stat()).size
        if (offset > size) throw shortReadError(h, this.location, offset, undefined, size)
        want = size - offset
      }
      const buf = alloc(want)
      let got = 0
      while (got < want) {
        const { bytesRead } = await fd.read(buf, got, want - got, offset + got)
        if (bytesRead === 0) break
        got += bytesRead
      }
      if (got < want) throw shortReadError(h, this.location, offset, length, (await fd.stat()).size)
      return buf
    } catch (err) {
      throw err instanceof AppError || err instanceof RangeError ? err : ioError('read', file, err)
    } finally {
      await fd.close().catch(() => {})
    }
  }

  async stat(h: Handle): Promise<FileInfo> {
    checkHandle(h)
    const file = this.#filename(h)
    try {
      const st = await this.#fs.stat(file)
      if (!st.isFile()) throw new NotFoundError(h, this.location)
      return { name: h.type === 'config' ? 'config' : h.name, size: st.size }
    } catch (err) {
      if (err instanceof AppError) throw err
      if (errnoCode(err) === 'ENOENT') throw new NotFoundError(h, this.location)
      throw ioError('read', file, err)
    }
  }

  list(type: FileType, options: ListOptions = {}): AsyncIterable<FileInfo> {
    checkListType(type)
    return listLocal(this.#fs, this.#root, type, options.namesOnly === true)
  }

  /**
   * The temp files of saves and staged packs that a killed process left (`<name>-tmp-<hex>`,
   * `data/xx/pack-<hex>-tmp`): no listing shows them, so nothing else would ever remove them.
   */
  async removeTemporaryFiles(options: { dryRun?: boolean } = {}): Promise<TemporaryFiles> {
    const found: TemporaryFiles = { files: 0, bytes: 0 }
    // Nothing younger than a quarter of an hour: a file may be written while this runs (a lock
    // takes milliseconds, a pack seconds).
    const dirs = [this.#root, ...['index', 'snapshots', 'keys', 'locks'].map((t) => join(this.#root, t))]
    const before = Date.now() - TEMP_MIN_AGE_MS
    for (const sub of await this.#names(join(this.#root, 'data'))) if (/^[0-9a-f]{2}$/.test(sub)) dirs.push(join(this.#root, 'data', sub))
    for (const dir of dirs) {
      for (const name of await this.#names(dir)) {
        if (!TEMP_NAME.test(name)) continue
        const file = join(dir, name)
        try {
          const st = await this.#fs.stat(file)
          if (st.mtimeMs > before) continue
          if (!options.dryRun) await this.#fs.unlink(file)
          found.files++
          found.bytes += st.size
        } catch (err) {
          if (errnoCode(err) !== 'ENOENT') throw ioError('remove', file, err)
        }
      }
    }
    return found
  }

  async #names(dir: string): Promise<string[]> {
    try {
      return await this.#fs.readdir(dir)
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return []
      throw ioError('list', dir, err)
    }
  }

  /** Writes the new config next to the old one, fsyncs it and renames it over the old one. */
  async replaceConfig(data: Uint8Array): Promise<void> {
    const final = join(this.#root, 'config')
    const tmp = `${final}-tmp-${randomBytes(6).toString('hex')}`
    const modes = await this.#getModes()
    try {
      const fd = await this.#openTemp(tmp, 'config', this.#root, modes)
      try {
        await Promise.all([writeAll(fd, data), chmodQuietly(fd, modes.file)])
        await fd.sync()
      } finally {
        await fd.close()
      }
      await this.#fs.rename(tmp, final)
      await fsyncDir(this.#fs, this.#root)
    } catch (err) {
      await this.#fs.unlink(tmp).catch(() => {})
      throw ioError('write', final, err)
    }
  }

  /** Deleting needs write access to the directory only, so the read-only mode does not stand in the way. */
  async remove(h: Handle): Promise<void> {
    checkHandle(h)
    const file = this.#filename(h)
    try {
      await this.#fs.unlink(file)
    } catch (err) {
      const code = errnoCode(err)
      if (code === 'ENOENT') return
      // Some network file systems refuse to delete read-only files; restic makes them writable first.
      if (code === 'EPERM' || code === 'EACCES') {
        try {
          await this.#fs.chmod(file, 0o600)
          await this.#fs.unlink(file)
          return
        } catch {
          // report the original error
        }
      }
      throw ioError('remove', file, err)
    }
  }

  async close(): Promise<void> {}

  #filename(h: Handle): string {
    if (h.type === 'config') return join(this.#root, 'config')
    if (h.type === 'data') return join(this.#root, 'data', h.name.slice(0, 2), h.name)
    return join(this.#root, h.type, h.name)
  }

  /** Looked up once: restic decides group access by the mode of `config` when it opens a repository. */
  #getModes(): Promise<Modes> {
    this.#modes ??= this.#fs.stat(join(this.#root, 'config')).then(
      (st) => repositoryModes(st.mode),
      () => repositoryModes(undefined),
    )
    return this.#modes
  }

  /** Creates the temp file; makes a missing `data/xx` directory (rclone creates them lazily). */
  async #openTemp(tmp: string, type: FileType, dir: string, modes: Modes): Promise<FileHandle> {
    try {
      return await this.#fs.open(tmp, 'wx', 0o600)
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' || type !== 'data') throw err
    }
    try {
      await this.#fs.mkdir(dir, { mode: modes.dir })
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err
    }
    return await this.#fs.open(tmp, 'wx', 0o600)
  }

  async #publish(tmp: string, final: string, h: Handle): Promise<void> {
    const fs = this.#fs
    try {
      await fs.link(tmp, final)
    } catch (err) {
      const code = errnoCode(err)
      if (code === 'EEXIST') throw new FileExistsError(h, this.location)
      if (code === undefined || !NO_HARD_LINKS.has(code)) throw err
      await this.#renameIfAbsent(tmp, final, h)
      await fsyncDir(fs, dirname(final))
      return
    }
    // A leftover temp name after a crash is harmless (listing skips it); the new name must be durable.
    await Promise.all([fs.unlink(tmp).catch(() => {}), fsyncDir(fs, dirname(final))])
  }

  /** Not atomic against a concurrent writer of the same name, which link() is; restic only renames. */
  async #renameIfAbsent(tmp: string, final: string, h: Handle): Promise<void> {
    const exists = await this.#fs.lstat(final).then(
      () => true,
      (err: unknown) => {
        if (errnoCode(err) === 'ENOENT') return false
        throw err
      },
    )
    if (exists) throw new FileExistsError(h, this.location)
    await this.#fs.rename(tmp, final)
  }
}

async function writeAll(fd: FileHandle, data: Uint8Array): Promise<void> {
  await writeAllAt(fd, data, 0)
}

async function writeAllAt(fd: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0
  while (done < data.byteLength) {
    const { bytesWritten } = await fd.write(data, done, data.byteLength - done, position + done)
    if (bytesWritten === 0) throw new Error('write() made no progress')
    done += bytesWritten
  }
}

async function chmodQuietly(fd: FileHandle, mode: number): Promise<void> {
  try {
    await fd.chmod(mode)
  } catch (err) {
    const code = errnoCode(err)
    if (code === undefined || !UNSUPPORTED_BY_FS.has(code)) throw err
  }
}

async function fsyncDir(fs: LocalFs, dir: string): Promise<void> {
  const fd = await fs.open(dir, 'r')
  try {
    await fd.sync()
  } catch (err) {
    const code = errnoCode(err)
    if (code === undefined || !UNSUPPORTED_BY_FS.has(code)) throw err
  } finally {
    await fd.close().catch(() => {})
  }
}
