import { AppError, hashId, messageOf, randomId, type Id } from '../base/index.js'
import { cachedBackend, NotFoundError, type Backend, type FileType } from '../backends/index.js'
import { randomPolynomial } from '../chunker/index.js'
import { calibrateScrypt, newMasterKey, NONCE_SIZE, open, openInto, seal, sealInPlace, type MasterKey, type Sealable, type ScryptParams } from '../crypto/index.js'
import { createLimit } from '../base/index.js'
import { plaintextLength, type BlobLocation, type BlobType, type PackedBlob } from './blob.js'
import { BlobWriter, type WriterOptions } from './blob-writer.js'
import { createWorkerEncoder } from './blob-encoder.js'
import { decodeSealedBlob, Scratch } from './blob-decoder.js'
import { zstdDecompress } from './compression.js'
import { decodeIndexTable, type IndexTable } from './index/index-file.js'
import { MasterIndex } from './index/master-index.js'
import { PackCache } from './pack/pack-cache.js'
import { addKeyFile, openMasterKey } from './keys.js'
import { decodeRepoConfig, encodeRepoConfig, type RepoConfig } from './repo-config.js'
import { frameUnpacked, unframeUnpacked } from './unpacked.js'

export type UnpackedType = 'index' | 'snapshots' | 'locks'

/**
 * The local cache of metadata (index, snapshots, tree packs), kept in `<dir>/<repository ID>/`.
 * The caller picks the directory; a cache that cannot be opened is reported through
 * `onWarning` and left out.
 */
export interface RepositoryCacheOptions {
  dir: string
  onWarning?: (message: string) => void
}

export interface InitOptions {
  /** Cache metadata locally (see RepositoryCacheOptions); no cache when omitted. */
  cache?: RepositoryCacheOptions
  version?: 1 | 2
  polynomial?: bigint
  /** scrypt parameters for the first key; calibrated on this machine when omitted. */
  scrypt?: ScryptParams
}

export interface OpenOptions {
  /** Cache metadata locally (see RepositoryCacheOptions); no cache when omitted. */
  cache?: RepositoryCacheOptions
  keyHint?: string
  maxKeys?: number
}

/**
 * A restic repository on a Backend: keys, config, the index, and blob and file access.
 * Read access is on the object; writes of blobs happen inside `withWriter`, which flushes packs
 * and index files when the callback succeeds. It knows nothing about files or trees.
 */
export class Repository {
  readonly backend: Backend
  readonly key: MasterKey
  readonly keyId: Id
  readonly config: RepoConfig
  readonly index = new MasterIndex()
  /**
   * How blobs are written unless a caller says otherwise (restic's global --compression and
   * --pack-size): every withWriter() and repack starts from these.
   */
  writerDefaults: Pick<WriterOptions, 'compression' | 'packSize'> = {}
  #indexLoaded = false
  /** Dropping cached packs the index does not name (see loadIndex). */
  #cacheCleanup: Promise<void> | undefined
  /** Whole tree packs, least recently used dropped first. */
  #treePacks = new PackCache(64 * 1024 * 1024)
  /** Buffers loadBlobWith() decodes into. */
  #scratch = new Scratch()

  #commitGate: Promise<void> = Promise.resolve()
  #commitCheck: (() => void) | undefined

  private constructor(backend: Backend, key: MasterKey, keyId: Id, config: RepoConfig) {
    this.backend = backend
    this.key = key
    this.keyId = keyId
    this.config = config
  }

  get location(): string {
    return this.backend.location
  }

  get version(): 1 | 2 {
    return this.config.version
  }

  /** Creates a new repository: directories, a key file for `password`, and the config. */
  static async init(backend: Backend, password: string, options: InitOptions = {}): Promise<Repository> {
    if (password.length === 0) throw new AppError('NO_PASSWORD', 'An empty password is not allowed', { hint: 'Choose a password' })
    await backend.create()
    const found = await repositoryFilesIn(backend)
    // Key files alone are what an init cut short leaves: they wrap a master key nothing uses,
    // and would be tried (and fail) before the new one, so they go.
    if (found !== undefined && found.words === undefined) for (const name of found.keys) await backend.remove({ type: 'keys', name })
    else if (found !== undefined) {
      throw new AppError('REPOSITORY_EXISTS', `Cannot create a repository in "${backend.location}": it has no config file but holds ${found.words}`, {
        hint: 'This is a repository whose config file is missing: restore that file from a copy of the repository rather than create a new one over it (a new key and config would leave the old snapshots unreadable). To start afresh, choose an empty location',
      })
    }
    const key = newMasterKey()
    const params = options.scrypt ?? (await calibrateScrypt())
    const keyId = await addKeyFile(backend, key, password, params)
    const config: RepoConfig = { version: options.version ?? 2, id: randomId(), chunkerPolynomial: options.polynomial ?? randomPolynomial() }
    await backend.save({ type: 'config', name: '' }, seal(key, encodeRepoConfig(config)))
    const repo = new Repository(await withCacheOption(backend, config, options.cache), key, keyId, config)
    repo.#indexLoaded = true
    return repo
  }

  /** Opens an existing repository with `password`. */
  static async open(backend: Backend, password: string, options: OpenOptions = {}): Promise<Repository> {
    let sealedConfig: Buffer
    try {
      sealedConfig = await backend.load({ type: 'config', name: '' })
    } catch (err) {
      if (err instanceof NotFoundError) {
        const found = await repositoryFilesIn(backend).catch(() => undefined)
        if (found?.words !== undefined) {
          // Damage, not an empty place: not NO_REPOSITORY, which would have the default repository created there.
          throw new AppError('INVALID_DATA', `Cannot open repository "${backend.location}": its config file is missing, though it holds ${found.words}`, {
            hint: 'Restore the config file from a copy of the repository (it cannot be rebuilt); do not run "cairn init" there',
          })
        }
        throw new AppError('NO_REPOSITORY', `Cannot open repository "${backend.location}": no repository found there (config file missing)`, {
          hint: 'Check the path given with -r/--repo, or run "cairn init" to create a repository',
        })
      }
      throw err
    }
    const { keyId, key } = await openMasterKey(backend, password, options)
    let plain: Buffer
    try {
      plain = open(key, sealedConfig)
    } catch (err) {
      throw new AppError('INVALID_DATA', `Config file of repository "${backend.location}" is damaged: ${messageOf(err)}`)
    }
    const config = decodeRepoConfig(plain, backend.location)
    return new Repository(await withCacheOption(backend, config, options.cache), key, keyId, config)
  }

  /** Lists the IDs of all files of a type. */
  async listIds(type: Exclude<FileType, 'config'>): Promise<Id[]> {
    const ids: Id[] = []
    for await (const f of this.backend.list(type, { namesOnly: true })) ids.push(f.name)
    return ids
  }

  /**
   * Makes index and snapshot writes wait for `gate` (and fail with its error): a shared lock
   * confirms itself in the background (Lock.confirmed), and nothing is committed before that.
   * `check`, run before each, throws when they may no longer be written (a lock that was lost).
   */
  commitAfter(gate: Promise<void>, check?: () => void): void {
    this.#commitGate = gate
    this.#commitCheck = check
  }

  /** Encrypts and stores a JSON document as an index, snapshot or lock file; returns its ID. */
  async saveUnpacked(type: UnpackedType, json: Uint8Array): Promise<Id> {
    return this.saveFramedUnpacked(type, frameUnpacked(json, this.version))
  }

  /**
   * saveUnpacked() for a plaintext already framed for this repository's version (framedWriter,
   * IndexFileBuilder). It is sealed where it lies: `framed` is used up.
   */
  async saveFramedUnpacked(type: UnpackedType, framed: Sealable): Promise<Id> {
    if (type !== 'locks') {
      await this.#commitGate
      this.#commitCheck?.()
    }
    const bytes = sealInPlace(this.key, framed)
    const id = hashId(bytes)
    await this.backend.save({ type, name: id }, bytes)
    return id
  }

  /** Loads, checks (hash, MAC) and decodes an unpacked file; returns the JSON bytes. */
  async loadUnpacked(type: UnpackedType, id: Id): Promise<Buffer> {
    const bytes = await this.backend.load({ type, name: id })
    const what = `File "${type}/${id}"`
    if (hashId(bytes) !== id) {
      throw new AppError('INVALID_DATA', `${what} is damaged: its content does not match its name`, {
        hint: 'Run "cairn check" to see what is affected',
      })
    }
    let plain: Buffer
    try {
      // In place: the loaded bytes are ours. An index file is megabytes, and a second buffer of
      // its size was one more allocation for the C heap to keep (see zstdDecompress).
      plain = openInto(this.key, bytes, bytes.subarray(NONCE_SIZE))
    } catch (err) {
      throw new AppError('INVALID_DATA', `${what} cannot be decrypted: ${messageOf(err)}`)
    }
    return unframeUnpacked(plain, this.version, what)
  }

  /** Loads every index file into the in-memory index (once). */
  async loadIndex(options: { force?: boolean; onFile?: (id: Id) => void } = {}): Promise<void> {
    if (this.#indexLoaded && !options.force) return
    // Loaded side by side, added in the order of their IDs: when a blob is in several files,
    // which copy the index finds first (and prune keeps) must not depend on which load ended
    // first, or a dry run could plan other than the run after it. Loads run at most `ahead`
    // files past the one to add next, so that a slow file holds back a bounded number of tables.
    const ids = (await this.listIds('index')).sort()
    const parallel = Math.max(4, this.backend.properties.connections * 2)
    const limit = createLimit(parallel)
    const ahead = 2 * parallel
    const loads: Array<Promise<IndexTable> | undefined> = []
    const start = (i: number) => {
      if (i >= ids.length) return
      const load = limit(async () => decodeIndexTable(await this.loadUnpacked('index', ids[i]), ids[i]))
      load.catch(() => {}) // awaited below, in order; an error after an earlier one is not "unhandled"
      loads[i] = load
    }
    for (let i = 0; i < ahead; i++) start(i)
    for (let i = 0; i < ids.length; i++) {
      const table = await loads[i]!
      loads[i] = undefined
      start(i + ahead)
      this.index.addTable(table)
      options.onFile?.(ids[i])
    }
    this.index.compact()
    this.#indexLoaded = true
    // Cached tree packs the index no longer names (another client pruned them) are dropped, as
    // restic does, beside the command's own work; close() waits for it.
    if (this.backend.keepCached !== undefined) this.#cacheCleanup ??= this.backend.keepCached('data', this.index.packIdSet())
  }

  /** Loads a blob's plaintext, trying every copy the index knows; verifies its ID. */
  async loadBlob(type: BlobType, id: Id): Promise<Buffer> {
    return this.#loadDecoded(type, id, (loc, sealed) => this.decodeBlob(loc, sealed, loc.packId))
  }

  /**
   * Loads a blob as loadBlob() does and gives its plaintext to `use`, which must be done with it
   * when it returns: the plaintext lies in buffers this repository reuses. For trees, which are
   * read by the thousand and decoded into strings and nodes at once: a fresh buffer for each
   * (tens of MiB in all for the kernel sources) was garbage that the C heap kept after it was
   * freed. An error thrown by `use` is passed on as it is.
   */
  async loadBlobWith<T>(type: BlobType, id: Id, use: (plaintext: Buffer) => T): Promise<T> {
    const r = await this.#loadDecoded(type, id, (loc, sealed) => {
      const plain = decodeSealedBlob(this.key, loc, sealed, loc.packId, this.#scratch)
      // Used before anything else can run and decode into the same buffers.
      try {
        return { value: use(plain) }
      } catch (error) {
        return { error }
      }
    })
    if ('error' in r) throw r.error
    return r.value
  }

  /** Reads a blob, trying every copy the index knows, and returns what `decode` makes of it. */
  async #loadDecoded<T>(type: BlobType, id: Id, decode: (loc: BlobLocation, sealed: Buffer) => T): Promise<T> {
    const locations = this.index.lookupAll(type, id)
    if (locations.length === 0) {
      throw new AppError('NOT_FOUND', `The ${type} blob ${id} is not in the index`, { hint: 'Run "cairn check" to see what is affected' })
    }
    let lastError: unknown
    for (const loc of locations) {
      try {
        let sealed: Buffer
        if (type === 'tree') {
          // Trees are read by the thousand from a few packs: read each tree pack once.
          const pack = await this.#treePacks.get(loc.packId, () => this.backend.load({ type: 'data', name: loc.packId, isMetadata: true }))
          if (loc.offset + loc.length > pack.length) throw new AppError('INVALID_DATA', `Pack ${loc.packId} is shorter than its index says`)
          sealed = pack.subarray(loc.offset, loc.offset + loc.length)
        } else {
          sealed = await this.backend.load({ type: 'data', name: loc.packId }, loc.offset, loc.length)
        }
        return decode(loc, sealed)
      } catch (err) {
        lastError = err
      }
    }
    throw lastError
  }

  /** Decrypts, decompresses and verifies a sealed blob read from a pack. */
  decodeBlob(b: PackedBlob, sealed: Uint8Array, packId: Id): Buffer {
    return decodeSealedBlob(this.key, b, sealed, packId)
  }

  /**
   * Reads blobs of one pack with as few requests as possible (one ranged read per run of
   * blobs less than `gap` bytes apart) and calls `visit` with each plaintext, in offset order.
   */
  async readPackBlobs(
    packId: Id,
    blobs: readonly PackedBlob[],
    visit: (blob: PackedBlob, plaintext: Buffer) => void | Promise<void>,
    gap = 1 << 20,
  ): Promise<void> {
    const sorted = [...blobs].sort((a, b) => a.offset - b.offset)
    let i = 0
    while (i < sorted.length) {
      let j = i + 1
      let end = sorted[i].offset + sorted[i].length
      while (j < sorted.length && sorted[j].offset - end <= gap) {
        end = Math.max(end, sorted[j].offset + sorted[j].length)
        j++
      }
      const start = sorted[i].offset
      const bytes = await this.backend.load({ type: 'data', name: packId }, start, end - start)
      for (let k = i; k < j; k++) {
        const b = sorted[k]
        await visit(b, this.decodeBlob(b, bytes.subarray(b.offset - start, b.offset - start + b.length), packId))
      }
      i = j
    }
  }

  /** Size of a blob's plaintext, or undefined when the index does not have it. */
  blobSize(type: BlobType, id: Id): number | undefined {
    const loc = this.index.lookup(type, id)
    return loc === undefined ? undefined : plaintextLength(loc)
  }

  /**
   * Runs `fn` with a BlobWriter and flushes it (packs, then index) when `fn` succeeds. When `fn`
   * or the flush throws, uploads already under way finish, open packs are dropped, and the packs
   * stored whole are indexed (BlobWriter.abort).
   */
  async withWriter<T>(fn: (w: BlobWriter) => Promise<T>, options: WriterOptions & { threads?: number } = {}): Promise<T> {
    // Compression and encryption run on worker threads unless the caller brings an encoder.
    const ownEncoder = options.encoder === undefined && options.threads !== 0 ? createWorkerEncoder(this.key, options.threads) : undefined
    const writer = new BlobWriter(this, { ...this.writerDefaults, ...options, encoder: options.encoder ?? ownEncoder })
    try {
      let result: T
      try {
        result = await fn(writer)
        await writer.flush()
      } catch (err) {
        await writer.abort()
        throw err
      }
      return result
    } finally {
      await ownEncoder?.close()
    }
  }

  /** Adds a key file for another password. */
  async addKey(password: string, params?: ScryptParams, info?: { username?: string; hostname?: string }): Promise<Id> {
    return addKeyFile(this.backend, this.key, password, params ?? (await calibrateScrypt()), info)
  }

  async close(): Promise<void> {
    await this.#cacheCleanup
    await this.backend.close()
  }
}

/** The backend behind the repository's cache once the repository ID is known, or `be` itself. */
function withCacheOption(be: Backend, config: RepoConfig, cache: RepositoryCacheOptions | undefined): Promise<Backend> | Backend {
  return cache === undefined ? be : cachedBackend(be, { dir: cache.dir, repositoryId: config.id, ...(cache.onWarning ? { onWarning: cache.onWarning } : {}) })
}

/**
 * What a location without a config file holds: nothing (undefined); only key files, which an
 * init cut short leaves (it writes the key first); or a repository's files, in words ("1 key
 * file, 5 snapshots and 3 index files").
 */
async function repositoryFilesIn(backend: Backend): Promise<{ keys: string[]; words?: string } | undefined> {
  const names = async (type: 'keys' | 'snapshots' | 'index' | 'data', max = Infinity): Promise<string[]> => {
    const out: string[] = []
    try {
      for await (const f of backend.list(type, { namesOnly: true })) {
        out.push(f.name)
        if (out.length >= max) break
      }
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err
    }
    return out
  }
  const keys = await names('keys')
  const snapshots = (await names('snapshots')).length
  const index = (await names('index')).length
  const data = (await names('data', 1)).length
  if (keys.length + snapshots + index + data === 0) return undefined
  if (snapshots + index + data === 0) return { keys }
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  const parts = [keys.length > 0 ? plural(keys.length, 'key file') : '', snapshots > 0 ? plural(snapshots, 'snapshot') : '', index > 0 ? plural(index, 'index file') : '', data > 0 ? 'pack files' : '']
  const shown = parts.filter((w) => w !== '')
  return { keys, words: shown.length > 1 ? `${shown.slice(0, -1).join(', ')} and ${shown.at(-1)}` : shown[0] }
}
