/**
 * @module restorer
 * Restore: writes a tree from a snapshot into a local directory, with contents, modes, owners,
 * timestamps, symlinks, hard links, xattrs, special files and sparse files. Each pack is read
 * once. Reports progress through callbacks and never prints.
 *
 * @example
 * await restore(repo, { tree: snapshot.tree, target: '/tmp/restore' })
 */
export { restore, type RestoreOptions, type RestoreProgress, type RestoreSummary } from './restorer.js'
