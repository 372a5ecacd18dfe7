import { randomBytes } from 'node:crypto'
import { promises as fs, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { AppError, errnoCode, isId, makeDirectories } from '../../base/index.js'
import type { FileType, Handle } from '../backend.js'

/** The file types a cache holds, and their folders (restic's names). Never config, keys or locks. */
const FOLDERS: Partial<Record<FileType, string>> = { data: 'data', index: 'index', snapshots: 'snapshots' }

/** The layout version in `<repository ID>/version`, as restic writes it. */
const CACHE_VERSION = 1

/** https://bford.info/cachedir/: backup tools skip a directory holding this file. */
export const CACHEDIR_TAG = 'Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by cairn.\n# For information about cache directory tags, see https://bford.info/cachedir/\n'

const DIR_MODE = 0o700
const FILE_MODE = 0o644

/**
 * One repository's local cache: `<baseDir>/<repository ID>/{data,index,snapshots}/<xx>/<id>`,
 * with `version` beside the folders and `CACHEDIR.TAG` in `baseDir`, the same layout restic
 * uses. Files are written atomically (temp file, then rename), so several processes may share a
 * cache. This class stores and reads bytes only; withCache() decides what to cache and checks
 * content against names.
 *
 * @example
 * const cache = await Cache.open('/home/me/.cache/cairn', config.id)
 * await cache.write({ type: 'snapshots', name: id }, bytes)
 */
export class Cache {
  /** The directory holding every repository's cache. */
  readonly baseDir: string
  /** This repository's cache directory. */
  readonly dir: string
  /** True when this open created the repository's directory (the cache was cold). */
  readonly created: boolean

  private constructor(baseDir: string, dir: string, created: boolean) {
    this.baseDir = baseDir
    this.dir = dir
    this.created = created
  }

  /**
   * Opens (creating when needed) the cache of repository `repositoryId` under `baseDir`, and
   * marks it used now (its directory's mtime is its "last used" time). Throws AppError IO when
   * the directory cannot be created, or the cache was written by a newer version.
   */
  static async open(baseDir: string, repositoryId: string): Promise<Cache> {
    if (!/^[0-9a-fA-F]{64}$/.test(repositoryId)) throw new TypeError(`Invalid repository ID "${repositoryId}": expected 64 hex characters`)
    const dir = join(baseDir, repositoryId)
    let created = false
    try {
      await makeDirectories(baseDir, DIR_MODE, fs)
      await writeCachedirTag(baseDir)
      const version = await readVersion(dir)
      if (version !== undefined && version > CACHE_VERSION) {
        throw new AppError('IO', `Cannot use the cache in "${dir}": it was written by a newer version (layout ${version})`, {
          hint: 'Use --cache-dir to choose another directory, or --no-cache',
        })
      }
      if (version === undefined) {
        created = await fs.mkdir(dir, { mode: DIR_MODE }).then(
          () => true,
          (err: unknown) => {
            if (errnoCode(err) === 'EEXIST') return false
            throw err
          },
        )
        await fs.writeFile(join(dir, 'version'), String(CACHE_VERSION), { mode: FILE_MODE })
      }
      for (const folder of Object.values(FOLDERS)) await fs.mkdir(join(dir, folder), { recursive: true, mode: DIR_MODE })
      const now = new Date()
      await fs.utimes(dir, now, now)
    } catch (err) {
      if (err instanceof AppError) throw err
      throw new AppError('IO', `Cannot create the cache directory "${dir}": ${(err as Error).message}`, {
        hint: 'Check the permissions of the cache directory, or choose another with --cache-dir (or --no-cache)',
        cause: err,
      })
    }
    return new Cache(baseDir, dir, created)
  }

  /** True for the file types a cache may hold: data, index and snapshots. */
  static holds(type: FileType): boolean {
    return FOLDERS[type] !== undefined
  }

  /** Where the file for `h` lives (whether or not it is there). */
  path(h: Handle): string {
    const folder = FOLDERS[h.type]
    if (folder === undefined || !isId(h.name)) throw new TypeError(`Cannot cache "${h.type}/${h.name}": only data, index and snapshots files with ID names are cached`)
    return join(this.dir, folder, h.name.slice(0, 2), h.name)
  }

  /** The whole cached file, or undefined when it is not cached. */
  async read(h: Handle): Promise<Buffer | undefined> {
    try {
      // A snapshot file is a few hundred bytes, read by the thousand (every listing reads them
      // all): at once, not through four trips to the thread pool each (open, stat, read, close).
      if (h.type === 'snapshots') return readFileSync(this.path(h))
      return await fs.readFile(this.path(h))
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined
      throw err
    }
  }

  /**
   * `length` bytes at `offset` of the cached file (to the end when `length` is undefined);
   * undefined when the file is not cached or is too short for the range.
   */
  async readRange(h: Handle, offset: number, length?: number): Promise<Buffer | undefined> {
    let file: fs.FileHandle
    try {
      file = await fs.open(this.path(h), 'r')
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined
      throw err
    }
    try {
      const size = (await file.stat()).size
      const want = length ?? size - offset
      if (offset > size || want < 0 || offset + want > size) return undefined
      const buf = Buffer.allocUnsafe(want)
      let done = 0
      while (done < want) {
        const { bytesRead } = await file.read(buf, done, want - done, offset + done)
        if (bytesRead === 0) return undefined
        done += bytesRead
      }
      return buf
    } finally {
      await file.close()
    }
  }

  /** Stores a file atomically: readers see the old state or the whole new file, never a part. */
  async write(h: Handle, data: Uint8Array): Promise<void> {
    const final = this.path(h)
    await fs.mkdir(dirname(final), { recursive: true, mode: DIR_MODE })
    const tmp = join(dirname(final), `tmp-${randomBytes(8).toString('hex')}`)
    try {
      await fs.writeFile(tmp, data, { mode: FILE_MODE, flag: 'wx' })
      await fs.rename(tmp, final)
    } catch (err) {
      await fs.rm(tmp, { force: true }).catch(() => {})
      throw err
    }
  }

  /** Removes a cached file; true when there was one. */
  async remove(h: Handle): Promise<boolean> {
    try {
      await fs.unlink(this.path(h))
      return true
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false
      throw err
    }
  }

  /** The IDs of the cached files of a type (temp files and junk are skipped). */
  async names(type: FileType): Promise<string[]> {
    const folder = FOLDERS[type]
    if (folder === undefined) return []
    const top = join(this.dir, folder)
    const subs = (await readdirOrEmpty(top)).filter((sub) => /^[0-9a-f]{2}$/.test(sub)).sort()
    // Up to 256 folders, listed at once: one after the other they cost a backup 80 ms at start.
    const lists = await Promise.all(subs.map((sub) => readdirOrEmpty(join(top, sub))))
    const out: string[] = []
    subs.forEach((sub, i) => {
      for (const name of lists[i]) if (isId(name) && name.startsWith(sub)) out.push(name)
    })
    return out
  }

  /** Removes every cached file of `type` whose ID is not in `keep`; returns the IDs removed. */
  async clear(type: FileType, keep: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = []
    for (const name of await this.names(type)) {
      if (keep.has(name)) continue
      if (await this.remove({ type, name })) removed.push(name)
    }
    return removed
  }
}

async function writeCachedirTag(baseDir: string): Promise<void> {
  try {
    await fs.writeFile(join(baseDir, 'CACHEDIR.TAG'), CACHEDIR_TAG, { flag: 'wx', mode: FILE_MODE })
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err
  }
}

/** The layout version of a repository's cache; undefined when there is no cache yet. */
async function readVersion(dir: string): Promise<number | undefined> {
  let text: string
  try {
    text = await fs.readFile(join(dir, 'version'), 'utf8')
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined
    throw err
  }
  const v = Number(text.trim())
  if (!Number.isInteger(v) || v < 0) return undefined // damaged: written again below
  return v
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir)
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return []
    throw err
  }
}
