import type { Dirent } from 'node:fs'
import { join } from 'node:path'
import { errnoCode, isId, settle, type Settled } from '../../base/index.js'
import type { FileInfo, FileType } from '../backend.js'
import { ioError } from './io-error.js'
import type { LocalFs } from './local-fs.js'

/**
 * Stats in flight at once while listing. Sizes need one stat per file; keeping a window open
 * hides their latency (a large repository has 100k packs) without flooding the thread pool.
 */
const STATS_IN_FLIGHT = 16
const DATA_SUBDIR = /^[0-9a-f]{2}$/

/**
 * Lists the files of one type under a repository in restic's default layout. For `data` it
 * walks the two-hex subdirectories, and only yields files whose name starts with their
 * directory's name, since only those can be loaded by name. With `namesOnly`, a regular file
 * is listed without a stat (size -1): 8,000 snapshot files cost 8,000 stats otherwise.
 */
export async function* listLocal(fs: LocalFs, root: string, type: FileType, namesOnly = false): AsyncGenerator<FileInfo> {
  const window: Array<Promise<Settled<FileInfo | undefined>>> = []
  try {
    for await (const [dir, e] of candidates(fs, root, type)) {
      if (namesOnly && e.isFile()) {
        yield { name: e.name, size: -1 }
        continue
      }
      window.push(settle(statFile(fs, dir, e.name)))
      if (window.length >= STATS_IN_FLIGHT) {
        const info = unwrap(await window.shift()!)
        if (info) yield info
      }
    }
    while (window.length > 0) {
      const info = unwrap(await window.shift()!)
      if (info) yield info
    }
  } finally {
    window.length = 0
  }
}

function unwrap<T>(r: Settled<T>): T {
  if (!r.ok) throw r.error
  return r.value
}

async function statFile(fs: LocalFs, dir: string, name: string): Promise<FileInfo | undefined> {
  const path = join(dir, name)
  try {
    const st = await fs.stat(path)
    return st.isFile() ? { name, size: st.size } : undefined
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined // removed after readdir saw it
    throw ioError('list', path, err)
  }
}

/** Directory entries that may be repository files: [directory, entry]. */
async function* candidates(fs: LocalFs, root: string, type: FileType): AsyncGenerator<[string, Dirent]> {
  if (type !== 'data') {
    const dir = join(root, type)
    for (const e of await readDir(fs, dir)) {
      if (isId(e.name) && mayBeFile(e)) yield [dir, e]
    }
    return
  }
  const dataDir = join(root, 'data')
  const subdirs = (await readDir(fs, dataDir))
    .filter((e) => DATA_SUBDIR.test(e.name) && (e.isDirectory() || e.isSymbolicLink()))
    .map((e) => e.name)
  // Read the next subdirectory while the consumer works through the current one.
  let next = subdirs.length > 0 ? settle(readDir(fs, join(dataDir, subdirs[0]))) : undefined
  for (let i = 0; i < subdirs.length; i++) {
    const entries = unwrap(await next!)
    next = i + 1 < subdirs.length ? settle(readDir(fs, join(dataDir, subdirs[i + 1]))) : undefined
    const prefix = subdirs[i]
    const dir = join(dataDir, prefix)
    for (const e of entries) {
      if (isId(e.name) && e.name.startsWith(prefix) && mayBeFile(e)) yield [dir, e]
    }
  }
}

function mayBeFile(e: Dirent): boolean {
  return e.isFile() || e.isSymbolicLink()
}

/** A missing directory lists as empty: restic does not create `data/xx` everywhere (rclone). */
async function readDir(fs: LocalFs, dir: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true })
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return []
    throw ioError('list', dir, err)
  }
}
