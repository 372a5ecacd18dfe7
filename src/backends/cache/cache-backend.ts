import { hashId, messageOf } from '../../base/index.js'
import type { Backend, FileInfo, FileType, Handle, ListOptions, StagedFile } from '../backend.js'
import { NotFoundError, handleToString, shortReadError } from '../errors.js'
import { checkHandle, checkRange } from '../handle.js'
import { Cache } from './cache.js'

export interface CacheWrapperOptions {
  /** Told when the cache misbehaves (a damaged entry, a failed write); the operation goes on. */
  onWarning?: (message: string) => void
}

/**
 * A Backend → Backend wrapper that keeps a local copy of repository metadata, as restic's cache
 * does, so listing and browsing a remote repository does not download it again:
 *
 * - **Read-through.** Loads of `index` and `snapshots` files, and of `data` packs whose handle is
 *   flagged `isMetadata` (tree packs), are served from the cache when the file is there; else the
 *   whole file is loaded from the backend, stored in the cache atomically, and the asked range
 *   returned. Concurrent loads of one file download it once. Every other load goes straight to
 *   the backend (so `check --read-data` and restore never read cached copies of data).
 * - **Verified.** A file's name is the SHA-256 of its content. A cached file is checked when it
 *   is first read; a damaged one is dropped (with a warning) and loaded from the backend again.
 *   A backend file that does not match its name is returned but never cached.
 * - **Write-through.** Saves of index and snapshot files, and of flagged packs, are stored in the
 *   cache after the backend has them.
 * - **Coherent.** remove() drops the cached copy; stat() of a file the backend no longer has
 *   drops it; a complete list() of data, index or snapshots drops cached files that the backend
 *   did not list. `config`, `keys` and `locks` are never cached.
 *
 * Cache failures never fail an operation: reads fall back to the backend, and the first failed
 * write is reported and switches caching of new files off.
 *
 * @example
 * const cache = await Cache.open(cacheDir, config.id)
 * const be = withCache(remoteBackend, cache, { onWarning: (m) => console.error(m) })
 */
export function withCache(be: Backend, cache: Cache, options: CacheWrapperOptions = {}): Backend {
  return new CachedBackend(be, cache, options)
}

/**
 * Opens the cache of repository `repositoryId` under `dir` and wraps `be` with it. When the
 * cache cannot be opened (the directory cannot be created, a newer layout), reports it through
 * `onWarning` and returns `be` unchanged: a missing cache makes cairn slower, never fail.
 *
 * @example
 * const be = await cachedBackend(backend, { dir: '/home/me/.cache/cairn', repositoryId: config.id })
 */
export async function cachedBackend(be: Backend, options: CacheWrapperOptions & { dir: string; repositoryId: string }): Promise<Backend> {
  let cache: Cache
  try {
    cache = await Cache.open(options.dir, options.repositoryId)
  } catch (err) {
    options.onWarning?.(`${messageOf(err)}; continuing without a local cache`)
    return be
  }
  return withCache(be, cache, options)
}

class CachedBackend implements Backend {
  readonly #be: Backend
  readonly #cache: Cache
  readonly #warn: (message: string) => void
  /** Whole-file loads under way, so concurrent loads of one file share one; `shared` once a second caller joins. */
  readonly #inFlight = new Map<string, { promise: Promise<Buffer>; shared: boolean }>()
  /** Cached files whose content was checked against their name in this process. */
  readonly #verified = new Set<string>()
  #writesOff = false

  /** Staged packs hold data blobs only, which the cache does not keep: they go straight through. */
  readonly stage?: (type: 'data') => StagedFile
  /** Loads of files the cache keeps go through it; the others straight to the backend. */
  readonly loadInto?: (h: Handle, into: (size: number) => Uint8Array, offset?: number, length?: number) => Promise<Buffer>
  readonly removeTemporaryFiles?: Backend['removeTemporaryFiles']
  readonly replaceConfig?: Backend['replaceConfig']

  constructor(be: Backend, cache: Cache, options: CacheWrapperOptions) {
    this.#be = be
    this.#cache = cache
    this.#warn = options.onWarning ?? (() => {})
    if (be.stage !== undefined) this.stage = (type) => be.stage!(type)
    if (be.removeTemporaryFiles !== undefined) this.removeTemporaryFiles = (o) => be.removeTemporaryFiles!(o)
    if (be.replaceConfig !== undefined) this.replaceConfig = (d) => be.replaceConfig!(d)
    if (be.loadInto !== undefined) {
      this.loadInto = (h, into, offset, length) =>
        cachedOnLoad(h) ? this.load(h, offset, length).then((b) => copyInto(b, into)) : be.loadInto!(h, into, offset, length)
    }
  }

  get location(): string {
    return this.#be.location
  }

  get properties() {
    return this.#be.properties
  }

  get cacheDir(): string {
    return this.#cache.dir
  }

  create(): Promise<void> {
    return this.#be.create()
  }

  async save(h: Handle, data: Uint8Array): Promise<void> {
    await this.#be.save(h, data)
    if (cachedOnLoad(h) && hashId(data) === h.name) await this.#store(h, data)
  }

  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    if (!cachedOnLoad(h)) return this.#be.load(h, offset, length)
    checkHandle(h)
    checkRange(offset, length)
    const key = keyOf(h)
    if (this.#verified.has(key) && !(offset === 0 && length === undefined)) {
      const part = await this.#cache.readRange(h, offset, length).catch(() => undefined)
      if (part !== undefined) return part
    }
    const whole = await this.#whole(h)
    const want = length ?? whole.length - offset
    if (offset > whole.length || want > whole.length - offset) throw shortReadError(h, this.location, offset, length, whole.length)
    return offset === 0 && want === whole.length ? whole : Buffer.from(whole.subarray(offset, offset + want))
  }

  async stat(h: Handle): Promise<FileInfo> {
    try {
      return await this.#be.stat(h)
    } catch (err) {
      if (err instanceof NotFoundError && Cache.holds(h.type)) await this.#drop(h)
      throw err
    }
  }

  list(type: FileType, options?: ListOptions): AsyncIterable<FileInfo> {
    if (!Cache.holds(type)) return this.#be.list(type, options)
    const self = this
    return (async function* () {
      const names = new Set<string>()
      for await (const fi of self.#be.list(type, options)) {
        names.add(fi.name)
        yield fi
      }
      // Only a complete listing says what the backend no longer has.
      await self.keepCached(type, names)
    })()
  }

  async keepCached(type: FileType, keep: ReadonlySet<string>): Promise<void> {
    if (!Cache.holds(type)) return
    try {
      for (const name of await this.#cache.clear(type, keep)) this.#verified.delete(keyOf({ type, name }))
    } catch (err) {
      this.#warn(`Cannot clean up the ${type} files in the cache "${this.#cache.dir}": ${messageOf(err)}`)
    }
  }

  async remove(h: Handle): Promise<void> {
    await this.#be.remove(h)
    if (Cache.holds(h.type)) await this.#drop(h)
  }

  close(): Promise<void> {
    return this.#be.close()
  }

  /** The whole file: from the cache when it is there and intact, else from the backend (and cached). */
  async #whole(h: Handle): Promise<Buffer> {
    const key = keyOf(h)
    const running = this.#inFlight.get(key)
    if (running !== undefined) {
      running.shared = true
      return Buffer.from(await running.promise) // each caller owns its buffer
    }
    const entry = { promise: this.#fetch(h, key), shared: false }
    this.#inFlight.set(key, entry)
    try {
      const data = await entry.promise
      return entry.shared ? Buffer.from(data) : data
    } finally {
      this.#inFlight.delete(key)
    }
  }

  async #fetch(h: Handle, key: string): Promise<Buffer> {
    const cached = await this.#cache.read(h).catch(() => undefined)
    if (cached !== undefined) {
      if (hashId(cached) === h.name) {
        this.#verified.add(key)
        return cached
      }
      this.#verified.delete(key)
      await this.#drop(h)
      this.#warn(`Cached file "${handleToString(h)}" in "${this.#cache.dir}" is damaged: removed it, loading it from the repository again`)
    }
    const data = await this.#be.load(h)
    if (hashId(data) === h.name && (await this.#store(h, data))) this.#verified.add(key)
    return data
  }

  /** Writes a file to the cache; false when it was not written. */
  async #store(h: Handle, data: Uint8Array): Promise<boolean> {
    if (this.#writesOff) return false
    try {
      await this.#cache.write(h, data)
      return true
    } catch (err) {
      // Told once: writes that were under way when the first failed fail too.
      if (!this.#writesOff) this.#warn(`Cannot write to the cache "${this.#cache.dir}": ${messageOf(err)}; new files are not cached in this run`)
      this.#writesOff = true
      return false
    }
  }

  async #drop(h: Handle): Promise<void> {
    this.#verified.delete(keyOf(h))
    await this.#cache.remove(h).catch((err: unknown) => this.#warn(`Cannot remove "${handleToString(h)}" from the cache "${this.#cache.dir}": ${messageOf(err)}`))
  }
}

/** A loaded file, copied into the memory `into` gives (Backend.loadInto). */
function copyInto(b: Buffer, into: (size: number) => Uint8Array): Buffer {
  const target = into(b.length)
  target.set(b)
  return Buffer.from(target.buffer, target.byteOffset, b.length)
}

/** index and snapshots files always; data packs only when flagged as holding metadata (trees). */
function cachedOnLoad(h: Handle): boolean {
  return h.type === 'index' || h.type === 'snapshots' || (h.type === 'data' && h.isMetadata === true)
}

function keyOf(h: Handle): string {
  return `${h.type}/${h.name}`
}
