/**
 * The storage contract every backend implements. Backends move opaque bytes by (type, name);
 * they know nothing about encryption, packs or snapshots.
 */
export type FileType = 'config' | 'keys' | 'data' | 'index' | 'snapshots' | 'locks'

export const FILE_TYPES: readonly FileType[] = ['config', 'keys', 'data', 'index', 'snapshots', 'locks']

/** A file in the repository. For `config` the name is ignored (there is one config file). */
export interface Handle {
  type: FileType
  name: string
}

export interface FileInfo {
  name: string
  size: number
}

export interface BackendProperties {
  /** How many requests the backend serves well at once. */
  connections: number
  /** The backend has a fast local path (no network); used to size read-ahead. */
  local: boolean
}

export interface Backend {
  /** Where the repository lives, with any password removed: safe to print. */
  readonly location: string
  readonly properties: BackendProperties

  /**
   * Creates the directory structure (or bucket) for a new repository. Does not fail when it
   * exists already, but fails when a `config` file is present with error code REPOSITORY_EXISTS.
   */
  create(): Promise<void>

  /**
   * Stores `data` under `h`, atomically: readers never see a partial file under the real name,
   * and a crash leaves either nothing or the complete file. Throws when the file exists.
   */
  save(h: Handle, data: Uint8Array): Promise<void>

  /**
   * Reads the file, or `length` bytes at `offset`. A short file is an error (never a short
   * result). Throws NotFoundError when the file does not exist.
   */
  load(h: Handle, offset?: number, length?: number): Promise<Buffer>

  /** Size of the file. Throws NotFoundError when it does not exist. */
  stat(h: Handle): Promise<FileInfo>

  /** Lists every file of a type exactly once, in no particular order. Names that are not IDs are skipped. */
  list(type: FileType): AsyncIterable<FileInfo>

  /** Removes a file. Removing a file that does not exist is not an error. */
  remove(h: Handle): Promise<void>

  close(): Promise<void>
}
