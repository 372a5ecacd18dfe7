/**
 * @module archiver
 * Backup: walks paths on the local file system, stores file content as data blobs (cut by the
 * content-defined chunker) and directory listings as tree blobs, and writes a snapshot.
 * Files unchanged since the parent snapshot (same size, mtime, ctime and inode) are not read.
 * Reports progress through callbacks and never prints.
 *
 * @example
 * const { snapshotId, summary } = await backup(repo, { paths: ['/home/me'], excludes: new ExcludeMatcher() })
 */
export { backup, currentUser, type BackupOptions, type BackupProgress, type BackupResult, type BackupSummary } from './archiver.js'
export { checkPatterns, ExcludeMatcher, matchComponent, parseSize, PATTERN_HINT, patternProblem, type ExcludeOptions } from './exclude.js'
export { scanTotals, type ScanTotals } from './scanner.js'
export { backupStdin, stdinPath, type StdinBackupOptions } from './stdin-backup.js'
