import { promises as fs, type Dirent } from 'node:fs'
import { join } from 'node:path'
import { errnoCode } from '../../base/index.js'

/** One repository's cache directory under a cache base directory. */
export interface CacheDirInfo {
  /** The directory name: a repository ID (or restic's `restic-check-cache-N`). */
  id: string
  path: string
  /** When a repository last opened this cache (the directory's mtime, as restic keeps it). */
  lastUsed: Date
  /** Bytes of all files below it; undefined unless asked for. */
  size?: number
}

/** restic's rule for names in a cache base directory; anything else there is not ours to touch. */
const CACHE_DIR_NAME = /^[a-fA-F0-9]{64}$|^(restic|cairn)-check-cache-[0-9]+$/

/**
 * The repository cache directories under `baseDir`, least recently used first; [] when
 * `baseDir` does not exist. With `size`, each entry carries the bytes of its files.
 *
 * @example
 * for (const d of await listCacheDirs('/home/me/.cache/cairn')) console.log(d.id, d.lastUsed)
 */
export async function listCacheDirs(baseDir: string, options: { size?: boolean } = {}): Promise<CacheDirInfo[]> {
  let entries: Dirent[]
  try {
    entries = await fs.readdir(baseDir, { withFileTypes: true })
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return []
    throw err
  }
  const out: CacheDirInfo[] = []
  for (const e of entries) {
    if (!e.isDirectory() || !CACHE_DIR_NAME.test(e.name)) continue
    const path = join(baseDir, e.name)
    const st = await fs.stat(path).catch(() => undefined)
    if (st === undefined) continue // removed by another process meanwhile
    const info: CacheDirInfo = { id: e.name, path, lastUsed: st.mtime }
    if (options.size) info.size = await dirSize(path)
    out.push(info)
  }
  return out.sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime() || (a.id < b.id ? -1 : 1))
}

/** True when a cache last used at `lastUsed` is older than `maxAgeDays` days at `now`. */
export function isOldCacheDir(lastUsed: Date, maxAgeDays: number, now = Date.now()): boolean {
  return lastUsed.getTime() < now - maxAgeDays * 24 * 3600 * 1000
}

/** Deletes a repository cache directory and everything below it. */
export async function removeCacheDir(dir: CacheDirInfo): Promise<void> {
  await fs.rm(dir.path, { recursive: true, force: true })
}

async function dirSize(dir: string): Promise<number> {
  let total = 0
  let entries: Dirent[]
  try {
    entries = await fs.readdir(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  for (const e of entries) {
    const p = join(dir, e.name)
    if (e.isDirectory()) total += await dirSize(p)
    else if (e.isFile()) total += (await fs.stat(p).catch(() => ({ size: 0 }))).size
  }
  return total
}
