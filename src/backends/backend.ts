/**
 * The storage contract every backend implements. Backends move opaque bytes by (type, name);
 * they know nothing about encryption, packs or snapshots.
 */
export type FileType = 'config' | 'keys' | 'data' | 'index' | 'snapshots' | 'locks'

export const FILE_TYPES: readonly FileType[] = ['config', 'keys', 'data', 'index', 'snapshots', 'locks']

/**
 * A file in the repository. For `config` the name is ignored (there is one config file); for
 * every other type it is a 64-hex ID, and backends throw TypeError for anything else.
 */
export interface Handle {
  type: FileType
  name: string
  /**
   * A hint from the repository layer (restic's IsMetadata): this `data` pack holds trees, so
   * the local cache keeps a copy. Backends ignore it.
   */
  isMetadata?: boolean
}

export interface FileInfo {
  name: string
  /** In bytes; -1 in a listing asked for names only, where the size would cost a call per file. */
  size: number
}

export interface ListOptions {
  /**
   * The caller reads only the names. A backend whose listing does not carry sizes (a local
   * folder, which needs a stat per file for them) may then give each size as -1.
   */
  namesOnly?: boolean
}

export interface BackendProperties {
  /** How many requests the backend serves well at once. */
  connections: number
  /** The backend has a fast local path (no network); used to size read-ahead. */
  local: boolean
  /**
   * A file is listed as soon as its save() returns (a file system behind it). Object stores and
   * rclone remotes may list late; locks then look again after a pause to see a concurrent lock.
   */
  listsAfterWrite: boolean
}

export interface Backend {
  /** Where the repository lives, with any password removed: safe to print. */
  readonly location: string
  readonly properties: BackendProperties
  /**
   * The local folder that caches this repository's metadata, when the backend goes through one:
   * a copy of repository files, which a backup leaves out (it would only back up itself).
   */
  readonly cacheDir?: string

  /**
   * Creates the directory structure (or bucket) for a new repository. Does not fail when it
   * exists already, but fails when a `config` file is present with error code REPOSITORY_EXISTS.
   */
  create(): Promise<void>

  /**
   * Stores `data` under `h`, atomically: readers never see a partial file under the real name,
   * and a crash leaves either nothing or the complete file. Throws FileExistsError when the
   * file exists (files are immutable; `config` is never replaced). The caller may reuse `data`
   * once the promise settles.
   */
  save(h: Handle, data: Uint8Array): Promise<void>

  /**
   * Reads the file, or `length` bytes at `offset` (`length` undefined: to the end). A file too
   * short for the range is an INVALID_DATA error, never a short result. Throws NotFoundError when
   * the file does not exist. The returned buffer belongs to the caller.
   */
  load(h: Handle, offset?: number, length?: number): Promise<Buffer>

  /**
   * Size of the file, with `name` as in the handle (`config` for the config file). Throws
   * NotFoundError when it does not exist.
   */
  stat(h: Handle): Promise<FileInfo>

  /**
   * Lists every file of a type exactly once, in no particular order. Names that are not IDs
   * (temp files, junk) are skipped. Files saved or removed while the listing runs may or may
   * not appear. Listing `config` is a TypeError.
   */
  list(type: FileType, options?: ListOptions): AsyncIterable<FileInfo>

  /** Removes a file. Removing a file that does not exist is not an error. */
  remove(h: Handle): Promise<void>

  close(): Promise<void>

  /**
   * Optional: a pack written piece by piece and named once it is complete (its name is the hash
   * of its bytes), so that it need not be held in memory. A backend that writes in place (a
   * directory) offers it; for the others the writer assembles each pack in memory and calls
   * save(). Nothing is visible under a real name before commit().
   */
  stage?(type: 'data'): StagedFile

  /**
   * Optional: load() into memory the caller provides, so that a caller reading many files or
   * pieces of files (check --read-data, restore) reuses its buffers. `into(size)` is called once
   * the size is known and returns at least `size` bytes; the result is a view of them.
   */
  loadInto?(h: Handle, into: (size: number) => Uint8Array, offset?: number, length?: number): Promise<Buffer>

  /**
   * Optional: removes the temporary files of writes that were cut short (a process killed while
   * it wrote a pack), which no listing shows and nothing else removes; with `dryRun`, only counts
   * them. Only safe while no other process writes (under an exclusive lock, as prune holds).
   */
  removeTemporaryFiles?(options?: { dryRun?: boolean }): Promise<TemporaryFiles>

  /**
   * Optional, for a cache in front of the storage: drops the cached files of `type` that are not
   * in `keep` (what the repository's index names): a pack another client pruned stays in no cache.
   */
  keepCached?(type: FileType, keep: ReadonlySet<string>): Promise<void>

  /**
   * Optional: replaces the `config` file in one step (a rename over it), so that at no moment
   * is there no config (`migrate`). Backends without it are given remove() then save().
   */
  replaceConfig?(data: Uint8Array): Promise<void>
}

/** Temporary files found (and removed, unless in a dry run). */
export interface TemporaryFiles {
  files: number
  bytes: number
}

/** A file being written by Backend.stage(). */
export interface StagedFile {
  /**
   * Writes `data` at `position`. Writes may be under way at once and finish in any order; the
   * caller must not change `data` before the promise settles.
   */
  write(data: Uint8Array, position: number): Promise<void>
  /**
   * Once every write has settled: makes the file durable under `name`, with the same guarantees
   * as save() (atomic, read-only, FileExistsError when the name is taken). The staged bytes are
   * gone afterwards, whether it succeeds or not.
   */
  commit(name: string): Promise<void>
  /** Drops what was written; safe to call at any point, also after a failed commit. */
  abort(): Promise<void>
}
