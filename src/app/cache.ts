import { homedir } from 'node:os'
import { isAbsolute, join } from 'node:path'
import { AppError } from '../base/index.js'
import { isOldCacheDir, listCacheDirs, parseRepositoryUrl, removeCacheDir, type CacheDirInfo } from '../backends/index.js'
import type { OpenOptions } from '../repository/index.js'

/** What decides where the cache is: `--cache-dir`, `--no-cache` and the environment. */
export interface CacheSettings {
  /** `--cache-dir`. */
  cacheDir?: string
  /** `--no-cache`. */
  noCache?: boolean
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv
}

/**
 * The cache base directory: `--cache-dir`, else $CAIRN_CACHE_DIR, else $RESTIC_CACHE_DIR (the
 * layout is restic's, so the two may share one), else $XDG_CACHE_HOME/cairn (when absolute, as
 * the XDG spec asks), else ~/.cache/cairn.
 *
 * @example
 * cacheBaseDir({ env: { HOME: '/home/me' } }) // → '/home/me/.cache/cairn'
 */
export function cacheBaseDir(s: CacheSettings = {}): string {
  const env = s.env ?? process.env
  const explicit = [s.cacheDir, env.CAIRN_CACHE_DIR, env.RESTIC_CACHE_DIR].find((d) => d !== undefined && d !== '')
  if (explicit !== undefined) return explicit
  const xdg = env.XDG_CACHE_HOME
  if (xdg !== undefined && isAbsolute(xdg)) return join(xdg, 'cairn')
  return join(env.HOME || homedir(), '.cache', 'cairn')
}

/**
 * The cache option for Repository.open/init: undefined with `--no-cache`, and for `memory:`
 * repositories (they live in this process; a disk copy would only cost). Cache problems are
 * reported through `onWarning` and never fail the command.
 */
export function repositoryCache(url: string, s: CacheSettings & { onWarning?: (message: string) => void }): OpenOptions['cache'] {
  if (s.noCache) return undefined
  if (parseRepositoryUrl(url).scheme === 'memory') return undefined
  return { dir: cacheBaseDir(s), ...(s.onWarning ? { onWarning: s.onWarning } : {}) }
}

/** One repository cache, as `cairn cache` shows it. */
export interface CacheEntry {
  /** The repository ID (the directory name). */
  id: string
  path: string
  lastUsed: Date
  /** Whole days since last use. */
  ageDays: number
  /** Last used longer ago than the maximum age. */
  old: boolean
  /** Bytes; undefined with `--no-size`. */
  size?: number
}

export interface CacheListing {
  /** The cache base directory looked at. */
  dir: string
  /** Least recently used first. */
  caches: CacheEntry[]
}

/** Refuses `cairn cache` with --no-cache, as restic does. */
function usableDir(s: CacheSettings): string {
  if (s.noCache) {
    throw new AppError('INVALID_ARGUMENT', 'Refusing to do anything, the cache is disabled', { hint: 'Leave out --no-cache' })
  }
  return cacheBaseDir(s)
}

/**
 * Lists the repository caches in the cache base directory (`cairn cache`). `maxAgeDays` (default
 * 30) decides which count as old; `size: false` skips measuring them.
 *
 * @example
 * const { dir, caches } = await listCaches({}, { maxAgeDays: 30 })
 */
export async function listCaches(s: CacheSettings, options: { maxAgeDays?: number; size?: boolean; now?: number } = {}): Promise<CacheListing> {
  const dir = usableDir(s)
  const maxAge = options.maxAgeDays ?? 30
  const now = options.now ?? Date.now()
  const dirs = await listCacheDirs(dir, { size: options.size !== false })
  return { dir, caches: dirs.map((d) => entry(d, maxAge, now)) }
}

export interface CacheCleanup {
  dir: string
  /** The caches removed. */
  removed: CacheEntry[]
  /** Caches that could not be removed, with why. */
  failed: { cache: CacheEntry; message: string }[]
}

/**
 * Removes the repository caches not used for more than `maxAgeDays` days (default 30), as
 * `restic cache --cleanup` does. Caches in use are touched on every open, so they stay.
 */
export async function cleanupCaches(s: CacheSettings, options: { maxAgeDays?: number; now?: number } = {}): Promise<CacheCleanup> {
  const dir = usableDir(s)
  const maxAge = options.maxAgeDays ?? 30
  const now = options.now ?? Date.now()
  const result: CacheCleanup = { dir, removed: [], failed: [] }
  for (const d of await listCacheDirs(dir)) {
    const e = entry(d, maxAge, now)
    if (!e.old) continue
    try {
      await removeCacheDir(d)
      result.removed.push(e)
    } catch (err) {
      result.failed.push({ cache: e, message: err instanceof Error ? err.message : String(err) })
    }
  }
  return result
}

function entry(d: CacheDirInfo, maxAgeDays: number, now: number): CacheEntry {
  return {
    id: d.id,
    path: d.path,
    lastUsed: d.lastUsed,
    ageDays: Math.max(0, Math.floor((now - d.lastUsed.getTime()) / (24 * 3600 * 1000))),
    old: isOldCacheDir(d.lastUsed, maxAgeDays, now),
    ...(d.size === undefined ? {} : { size: d.size }),
  }
}
