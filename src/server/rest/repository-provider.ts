import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { errnoCode } from '../../base/index.js'
import { LocalBackend, openBackend, stripPassword, type Backend, type BackendOptions } from '../../backends/index.js'
import { isValidSegment } from '../auth/account.js'
import { MAX_REPO_DEPTH } from './request-path.js'

/**
 * Maps a validated repository path (0 to 2 segments, each checked by the request parser) to the
 * Backend that stores that repository. The server never builds file names itself: every byte
 * goes through the Backend, whose own handle checks are a second line of defence.
 */
export interface RepositoryProvider {
  /** Where the repositories live, safe to print. */
  readonly location: string
  /** The backend for one repository. Called often: implementations cache. */
  backend(repo: readonly string[]): Promise<Backend>
  /**
   * Bytes stored at or below a repository path (all files of all repositories there), for
   * quotas. Providers that cannot see below a path count the repository at that path only.
   */
  usage(prefix: readonly string[]): Promise<number>
  close(): Promise<void>
}

/** Keeps at most this many backends open; the oldest unused are closed first. */
const CACHE_SIZE = 256

abstract class CachingProvider implements RepositoryProvider {
  abstract readonly location: string
  /** Backends being opened or open, so that concurrent requests for a repository share one. */
  readonly #cache = new Map<string, Promise<Backend>>()

  backend(repo: readonly string[]): Promise<Backend> {
    checkRepo(repo)
    const key = repo.join('/')
    let be = this.#cache.get(key)
    if (be !== undefined) {
      this.#cache.delete(key)
      this.#cache.set(key, be)
      return be
    }
    be = this.open(repo)
    // A backend that fails to open is not kept: the next request tries again.
    be.catch(() => this.#cache.get(key) === be && this.#cache.delete(key))
    this.#cache.set(key, be)
    if (this.#cache.size > CACHE_SIZE) {
      const [oldKey, old] = this.#cache.entries().next().value as [string, Promise<Backend>]
      this.#cache.delete(oldKey)
      void old.then((b) => b.close()).catch(() => {})
    }
    return be
  }

  protected abstract open(repo: readonly string[]): Promise<Backend>
  abstract usage(prefix: readonly string[]): Promise<number>

  async close(): Promise<void> {
    const all = [...this.#cache.values()]
    this.#cache.clear()
    await Promise.all(all.map((b) => b.then((be) => be.close()).catch(() => {})))
  }
}

/**
 * Repositories in a local directory tree, in restic's local layout: `/alice/laptop/` is
 * `<root>/alice/laptop` with `config`, `keys/`, `data/xx/…`, so the same tree can be served and
 * used directly by restic or cairn at once (as with rest-server).
 *
 * @example
 * const provider = new LocalRepositoryProvider('/srv/restic')
 * await provider.backend(['alice']) // LocalBackend at /srv/restic/alice
 */
export class LocalRepositoryProvider extends CachingProvider {
  readonly location: string
  readonly #root: string

  /** `root` must be an absolute path. */
  constructor(root: string) {
    super()
    this.#root = root
    this.location = root
  }

  protected async open(repo: readonly string[]): Promise<Backend> {
    return new LocalBackend(join(this.#root, ...repo))
  }

  /** Sums the sizes of the regular files below the path, without following symbolic links. */
  async usage(prefix: readonly string[]): Promise<number> {
    checkRepo(prefix)
    return tally(join(this.#root, ...prefix))
  }
}

/**
 * Repositories below any backend location (`s3:host/bucket/prefix`, `sftp:host:/srv`, …): the
 * repository `/alice/laptop/` is the backend opened at `<base>/alice/laptop`.
 */
export class BackendUrlProvider extends CachingProvider {
  readonly location: string
  readonly #base: string
  readonly #options: BackendOptions

  constructor(baseUrl: string, options: BackendOptions = {}) {
    super()
    this.#base = baseUrl.replace(/\/+$/, '')
    // Printed and logged: a password in the URL must not be.
    this.location = stripPassword(baseUrl)
    this.#options = options
  }

  protected open(repo: readonly string[]): Promise<Backend> {
    const url = repo.length === 0 ? this.#base : `${this.#base}/${repo.join('/')}`
    return openBackend(url.startsWith('rest:') ? `${url}/` : url, this.#options)
  }

  /** Counts the repository at the path only: a generic backend cannot list what lies below it. */
  async usage(prefix: readonly string[]): Promise<number> {
    const be = await this.backend(prefix)
    let total = 0
    for (const type of ['keys', 'locks', 'snapshots', 'index', 'data'] as const) {
      for await (const f of be.list(type)) total += f.size
    }
    try {
      total += (await be.stat({ type: 'config', name: '' })).size
    } catch {
      // no config: nothing more to count
    }
    return total
  }
}

function checkRepo(repo: readonly string[]): void {
  if (repo.length > MAX_REPO_DEPTH || !repo.every(isValidSegment)) {
    throw new TypeError(`Invalid repository path "${repo.join('/')}": expected up to ${MAX_REPO_DEPTH} valid segments`)
  }
}

async function tally(dir: string): Promise<number> {
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    const code = errnoCode(err)
    if (code === 'ENOENT' || code === 'ENOTDIR') return 0
    throw err
  }
  let total = 0
  for (const e of entries) {
    const p = join(dir, e.name)
    if (e.isDirectory()) total += await tally(p)
    else if (e.isFile()) total += await lstat(p).then((st) => st.size, () => 0)
  }
  return total
}
