import { readFileSync } from 'node:fs'
import { AppError, errnoCode, isAppError, messageOf } from '../base/index.js'
import { openBackend, type Backend, type BackendOptions } from '../backends/index.js'
import { Lock, releaseAllLocks, Repository } from '../repository/index.js'
import { cleanupCaches, listCaches, repositoryCache } from './cache.js'
import { defaultRepository, ensureDefaultPassword, readDefaultPassword } from './default-repository.js'
import { resolvePassword, type PasswordSource } from './password.js'
import { compressionMode, packSizeFrom } from './write-options.js'

export interface RepositoryOptions extends PasswordSource {
  /** Repository URL; falls back to CAIRN_REPOSITORY, RESTIC_REPOSITORY, then the embedded default. */
  repo?: string
  /** `--repository-file`: a file whose first line is the URL (also CAIRN_/RESTIC_REPOSITORY_FILE). */
  repositoryFile?: string
  keyHint?: string
  noLock?: boolean
  /** `--retry-lock`: when the repository is locked, try again for up to this long (ms). */
  retryLockMs?: number
  /** Ends a wait for the lock (retryLockMs) early, with INTERRUPTED. */
  signal?: AbortSignal
  /** How to reach the backend: `-o` options, TLS, bandwidth limits. */
  backend?: BackendOptions
  /** `--no-cache`: do not use or fill the local cache of metadata. */
  noCache?: boolean
  /**
   * `--cache-dir`: where the local cache lives. Default: $CAIRN_CACHE_DIR, $RESTIC_CACHE_DIR,
   * $XDG_CACHE_HOME/cairn, then ~/.cache/cairn (see cacheBaseDir()).
   */
  cacheDir?: string
  /** Told when the embedded default repository is used or created. */
  onNotice?: (message: string) => void
  /**
   * restic's `--cleanup-cache`: once the repository is open, remove the caches of repositories
   * not used for 30 days. Without it, `tellOldCaches` has their number told through onNotice.
   */
  cleanupCache?: boolean
  tellOldCaches?: boolean
  /** `--compression`: auto, off or max; default from CAIRN_COMPRESSION or RESTIC_COMPRESSION, else auto. */
  compression?: string
  /** `--pack-size` in MiB (4 to 128); default from CAIRN_PACK_SIZE or RESTIC_PACK_SIZE, else 16. */
  packSizeMiB?: number
}

export type LockMode = 'none' | 'shared' | 'exclusive'

/** Where the repository is, and whether it is the embedded default (which is created on demand). */
export function repositoryLocation(o: RepositoryOptions): { url: string; isDefault: boolean } {
  const env = o.env ?? process.env
  // Flags first, then the environment; a URL and a file given at the same level conflict. (restic
  // also refuses a flag with the other from the environment; here the flag wins, so that a set's
  // repository is not refused because CAIRN_REPOSITORY_FILE is set where the daemon runs.)
  const flags = o.repo !== undefined || o.repositoryFile !== undefined
  const given = flags ? o.repo : nonEmpty(env.CAIRN_REPOSITORY) || nonEmpty(env.RESTIC_REPOSITORY)
  const file = flags ? o.repositoryFile : nonEmpty(env.CAIRN_REPOSITORY_FILE) || nonEmpty(env.RESTIC_REPOSITORY_FILE)
  if (given && file) {
    throw new AppError('INVALID_ARGUMENT', `Both a repository ("${given}") and a repository file ("${file}") are given`, {
      hint: 'Give only one of -r/--repo (CAIRN_REPOSITORY) and --repository-file (CAIRN_REPOSITORY_FILE)',
    })
  }
  const url = given || (file ? readRepositoryFile(file) : undefined)
  if (url !== undefined && url !== '') return { url, isDefault: false }
  // Given, but empty (`-r ""`, or a variable set from one that is not): backing up into the
  // default instead would put the data where nobody looks for it.
  const empty = flags ? (o.repo === '' ? '-r/--repo' : undefined) : ['CAIRN_REPOSITORY', 'RESTIC_REPOSITORY'].find((v) => env[v] === '')
  if (empty !== undefined) {
    throw new AppError('INVALID_ARGUMENT', `The repository given with ${empty} is empty`, {
      hint: `Give the repository's location, or leave ${empty} out to use the default repository`,
    })
  }
  return { url: defaultRepository(env).repository, isDefault: true }
}

const nonEmpty = (v: string | undefined): string | undefined => (v === '' ? undefined : v)

/** The repository URL a --repository-file names: its content, trimmed, as restic reads it. */
function readRepositoryFile(file: string): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new AppError('INVALID_ARGUMENT', `Cannot read the repository file "${file}": ${errnoCode(err) ?? messageOf(err)}`, { hint: 'Check the path given with --repository-file or CAIRN_REPOSITORY_FILE' })
  }
  const url = text.trim()
  if (url === '') throw new AppError('INVALID_ARGUMENT', `The repository file "${file}" is empty`, { hint: 'Write the repository URL on its first line' })
  return url
}

/**
 * The repository's password. The embedded default's comes from its own file, which is made (with
 * a random password) only when `mayCreate` says the repository is about to be created: a new
 * password for a repository that exists would open nothing.
 */
async function passwordFor(o: RepositoryOptions, isDefault: boolean, mayCreate: () => Promise<boolean>): Promise<string> {
  const env = o.env ?? process.env
  if (isDefault && o.passwordFile === undefined && o.passwordCommand === undefined) {
    // Only when no password is given in any way.
    const named = ['CAIRN_PASSWORD', 'RESTIC_PASSWORD', 'CAIRN_PASSWORD_FILE', 'RESTIC_PASSWORD_FILE', 'CAIRN_PASSWORD_COMMAND', 'RESTIC_PASSWORD_COMMAND'].some((v) => (env[v] ?? '') !== '')
    if (!named) {
      const file = defaultRepository(env).passwordFile
      const existing = await readDefaultPassword(file)
      if (existing !== undefined) return existing
      if (!(await mayCreate())) {
        throw new AppError('NO_PASSWORD', `The password file of the default repository, "${file}", is missing`, {
          hint: 'Put back the copy of it you kept, or give the password with CAIRN_PASSWORD or --password-file',
        })
      }
      const { password, created } = await ensureDefaultPassword(file)
      if (created) o.onNotice?.(`Created a random password for the default repository in "${file}": keep a copy somewhere safe, without it the backups cannot be read`)
      return password
    }
  }
  return resolvePassword(o)
}

/** Creates a repository (the default one or the one named in the options). */
export async function initRepository(o: RepositoryOptions, init: Parameters<typeof Repository.init>[2] = {}): Promise<Repository> {
  const { url, isDefault } = repositoryLocation(o)
  const backend = await openBackend(url, backendOptions(o))
  // A repository that is there already is not made anew: no new password for it either.
  const password = await closingOnError(backend, () => passwordFor(o, isDefault, async () => !(await hasConfig(backend))))
  return closingOnError(backend, () => Repository.init(backend, password, { cache: cacheFor(o, url), ...init }))
}

/**
 * Runs `fn` and closes `backend` when it throws: a remote backend holds a connection or a child
 * process that would otherwise keep the process alive after the error is reported.
 */
async function closingOnError<T>(backend: Backend, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    await backend.close().catch(() => {})
    throw err
  }
}

/**
 * The caches of other repositories not used for 30 days, as restic tends them on every open:
 * removed with `--cleanup-cache`, else counted for the user (on a terminal). Never fails the
 * command: a cache is only a copy.
 */
async function tendOldCaches(o: RepositoryOptions): Promise<void> {
  if (o.noCache || (!o.cleanupCache && !o.tellOldCaches)) return
  const settings = { cacheDir: o.cacheDir, env: o.env }
  try {
    if (o.cleanupCache) {
      const r = await cleanupCaches(settings)
      if (r.removed.length > 0) o.onNotice?.(`removed ${r.removed.length} old cache directories from ${r.dir}`)
      for (const f of r.failed) o.onNotice?.(`unable to remove old cache directory ${f.cache.path}: ${f.message}`)
      return
    }
    const { dir, caches } = await listCaches(settings, { size: false })
    const old = caches.filter((c) => c.old).length
    if (old > 0) o.onNotice?.(`found ${old} old cache directories in ${dir}, run "cairn cache --cleanup" to remove them`)
  } catch (err) {
    o.onNotice?.(`cannot look for old cache directories: ${messageOf(err)}`)
  }
}

/** The repository's cache option from --no-cache, --cache-dir and the environment. */
function cacheFor(o: RepositoryOptions, url: string) {
  return repositoryCache(url, { noCache: o.noCache, cacheDir: o.cacheDir, env: o.env, onWarning: o.onNotice })
}

/**
 * Opens the repository. The embedded default is created on first use when `createDefault` is set
 * (backup does that, so the first backup needs no setup).
 */
export async function openRepository(o: RepositoryOptions, createDefault = false): Promise<Repository> {
  const env = o.env ?? process.env
  const compression = compressionMode(o.compression, env)
  const packSize = packSizeFrom(o.packSizeMiB, env)
  const writing = (repo: Repository): Repository => {
    repo.writerDefaults = { ...(compression === undefined ? {} : { compression }), ...(packSize === undefined ? {} : { packSize }) }
    return repo
  }
  const { url, isDefault } = repositoryLocation(o)
  const backend: Backend = await openBackend(url, backendOptions(o))
  const password = await closingOnError(backend, () => passwordFor(o, isDefault, async () => createDefault && !(await hasConfig(backend))))
  try {
    // restic's --key-hint defaults to $RESTIC_KEY_HINT (CAIRN_KEY_HINT first)
    const keyHint = o.keyHint ?? (nonEmpty(env.CAIRN_KEY_HINT) || nonEmpty(env.RESTIC_KEY_HINT))
    const repo = writing(await Repository.open(backend, password, { keyHint, cache: cacheFor(o, url) }))
    await tendOldCaches(o)
    return repo
  } catch (err) {
    if (isDefault && createDefault && isAppError(err, 'NO_REPOSITORY')) {
      o.onNotice?.(`Creating the default repository in "${url}"`)
      return writing(await closingOnError(backend, () => Repository.init(backend, password, { cache: cacheFor(o, url) })))
    }
    await backend.close().catch(() => {})
    if (isDefault && isAppError(err, 'NO_REPOSITORY')) {
      throw new AppError('NO_REPOSITORY', `No repository given and the default repository "${url}" does not exist yet`, {
        hint: 'Give one with -r/--repo or CAIRN_REPOSITORY, or run "cairn backup PATH" once to create the default',
      })
    }
    throw err
  }
}

/**
 * The options of a command that changes the repository: `--no-lock` is for commands that only
 * read it (and for dry runs), so a writer locks all the same, as restic's backup and prune do.
 * Ignoring locks there lets prune delete what a running backup has just written.
 */
export function forWriting(o: RepositoryOptions, dryRun = false): RepositoryOptions {
  return dryRun || !o.noLock ? o : { ...o, noLock: false }
}

/**
 * Runs `fn` with an open repository and a lock of the given kind; the lock is released and the
 * backend closed whatever happens.
 */
export async function withRepository<T>(
  o: RepositoryOptions,
  mode: LockMode,
  fn: (repo: Repository) => Promise<T>,
  createDefault = false,
): Promise<T> {
  return usingRepository(await openRepository(o, createDefault), mode, o, fn)
}

/**
 * Runs `fn` with an open repository locked as `mode` asks (unless `noLock`; waiting up to
 * `retryLockMs` for a lock another process holds); the lock is released
 * and the repository closed whatever happens. Commits wait for the lock's confirmation
 * (Lock.confirmed), and a conflict found after the pause fails the run.
 */
export async function usingRepository<T>(repo: Repository, mode: LockMode, o: Pick<RepositoryOptions, 'noLock' | 'retryLockMs' | 'onNotice' | 'signal'>, fn: (repo: Repository) => Promise<T>): Promise<T> {
  let lock: Lock | undefined
  try {
    if (mode !== 'none' && !o.noLock) {
      lock = await Lock.acquire(repo, {
        exclusive: mode === 'exclusive',
        retryMs: o.retryLockMs,
        signal: o.signal ?? commandInterrupt,
        onWait: (err, ms) => o.onNotice?.(`${messageOf(err)}; trying again for up to ${formatWait(ms)}`),
        onWarning: (m) => o.onNotice?.(m),
      })
      const held = lock
      repo.commitAfter(lock.confirmed, () => held.throwIfLost())
    }
    const result = await fn(repo)
    await lock?.confirmed
    return result
  } finally {
    await lock?.release().catch(() => {})
    await repo.close().catch(() => {})
  }
}

/** The backend options of `o`, with the command's interruption, which stops retries. */
function backendOptions(o: RepositoryOptions): BackendOptions {
  const signal = o.signal ?? commandInterrupt
  return signal === undefined ? (o.backend ?? {}) : { ...o.backend, signal }
}

/** The signal of the command's interruptSignal(), if any: it also ends a wait for a lock and the retries of backend calls. */
let commandInterrupt: AbortSignal | undefined

/**
 * An AbortSignal fired by SIGINT or SIGTERM. SIGHUP is ignored: restic probes lock owners with
 * it, and it must not kill us. A second SIGINT exits at once, after removing our locks.
 */
export function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController()
  commandInterrupt = ac.signal
  let count = 0
  const onSignal = () => {
    count++
    ac.abort(new AppError('INTERRUPTED', 'Interrupted'))
    if (count > 1) void releaseAllLocks().finally(() => process.exit(130))
  }
  const onHup = () => {}
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGHUP', onHup)
  return {
    signal: ac.signal,
    dispose: () => {
      if (commandInterrupt === ac.signal) commandInterrupt = undefined
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      process.off('SIGHUP', onHup)
    },
  }
}

/** Whether a repository's config file is there. */
async function hasConfig(backend: Backend): Promise<boolean> {
  try {
    await backend.stat({ type: 'config', name: '' })
    return true
  } catch (err) {
    if (isAppError(err, 'NOT_FOUND')) return false
    throw err
  }
}

/** "5m", "1h30m" or "45s": how long a lock wait lasts, for messages. */
function formatWait(ms: number): string {
  const s = Math.round(ms / 1000)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  return `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${s % 60 > 0 || s === 0 ? `${s % 60}s` : ''}`
}
