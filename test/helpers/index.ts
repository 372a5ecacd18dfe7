/**
 * @module test/helpers
 * The end-to-end harness that judges cairn from the outside, against the real restic binary.
 *
 * Terms:
 * - **fixture**: a directory tree holding every kind of entry, name and metadata that a
 *   restic-compatible tool must carry through a backup and restore (makeFixtureTree).
 * - **tree comparison**: the list of differences between two directory trees in content and
 *   metadata, empty when they are identical (compareTrees).
 * - **run**: one process of `restic` or of cairn's CLI with a clean environment, its exit code and
 *   output (restic, cairn, cairnSpawn); a **traced run** also logs the syscalls that read file
 *   contents (cairnTraced, readsBelow).
 * - **repository files**: what a local repository holds on disk, checked for locks and for files
 *   that were not written whole (repoFileProblems), and its data blobs as restic lists them.
 *
 * @example
 * const info = await makeFixtureTree(join(tmp.path, 'src'))
 * await cairn(['init'], { repo, password })
 * await cairn(['backup', info.root], { repo, password })
 * await restic(['restore', id, '--target', target], { repo, password })
 * assert.deepEqual(await compareTrees(info.root, join(target, info.root)), [])
 */
export * from './compare-trees.js'
export * from './data.js'
export * from './fixture.js'
export * from './go-time.js'
export * from './repo-files.js'
export * from './restic.js'
export * from './xattr.js'
export { setTimesNs } from './byte-path-shell.js'
export * from './tcp-proxy.js'
export { waitUntil } from './wait.js'
