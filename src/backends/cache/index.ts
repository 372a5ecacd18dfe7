/**
 * The local cache of repository metadata (restic's design): index and snapshot files and tree
 * packs, kept under `<cache dir>/<repository ID>/`, read through and checked against their
 * names. Cache holds the files; withCache() is the Backend → Backend wrapper; cache-dirs lists
 * and removes whole repository caches for `cairn cache`.
 */
export { Cache, CACHEDIR_TAG } from './cache.js'
export { cachedBackend, withCache, type CacheWrapperOptions } from './cache-backend.js'
export { isOldCacheDir, listCacheDirs, removeCacheDir, type CacheDirInfo } from './cache-dirs.js'
