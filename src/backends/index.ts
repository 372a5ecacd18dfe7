/**
 * @module backends
 * Where repository files are stored. A **Backend** moves opaque bytes by **Handle** (a file type
 * and a name) and knows nothing of encryption, packs or snapshots. **File types** are `config`
 * (one file), `keys`, `index`, `snapshots`, `locks` and `data` (packs); every name except the
 * config's is a 64-hex **ID**, the SHA-256 of the stored bytes. Files are **immutable**: a save
 * is atomic and never replaces an existing file, and a ranged load never returns short. A
 * **location** is the user's `-r` string in restic's syntax (`/srv/repo`, `sftp:host:/srv/repo`,
 * `rest:https://host/`), parsed by parseRepositoryUrl() and opened by openBackend().
 *
 * @example
 * const be = await openBackend('/srv/backup/repo')
 * await be.create()
 * await be.save({ type: 'snapshots', name: id }, bytes)
 * for await (const { name, size } of be.list('snapshots')) console.log(name, size)
 */
export type { Backend, BackendProperties, FileInfo, FileType, Handle, ListOptions, StagedFile, TemporaryFiles } from './backend.js'
export { FILE_TYPES } from './backend.js'
export { FileExistsError, NotFoundError, handleToString, shortReadError } from './errors.js'
export { LocalBackend, type LocalBackendOptions } from './local/local-backend.js'
export type { LocalFs } from './local/local-fs.js'
export { MemoryBackend } from './memory/memory-backend.js'
// Remote backends are reached through openBackend(), which loads each on first use.
export type { RcloneBackend } from './rclone/rclone-backend.js'
export type { RestBackend, RestBackendOptions } from './rest/rest-backend.js'
export type { S3Backend } from './s3/s3-backend.js'
export type { SftpBackend } from './sftp/sftp-backend.js'
export { Cache, cachedBackend, isOldCacheDir, listCacheDirs, removeCacheDir, withCache, type CacheDirInfo, type CacheWrapperOptions } from './cache/index.js'
export { openBackend, parseRepositoryUrl, stripPassword, type BackendOptions, type BackendScheme, type RepositoryLocation } from './registry.js'
