/**
 * @module localfs
 * Helpers for the local file system that both backup (archiver) and restore (restorer) need:
 * reaching files whose names are not UTF-8 through APIs that only take strings.
 *
 * @example
 * const target = await openXattrTarget(Buffer.from([0x62, 0xff]), false)
 */
export { openXattrTarget, openXattrTargetSync, type XattrTarget, type XattrTargetSync } from './xattr-target.js'
