/**
 * @module app
 * One function per user-visible operation, shared by the CLI, the daemon and the server:
 * opening repositories (with passwords, locks and the embedded default), backup, restore,
 * listing, unlock. The backup sets of the config file (running them, their hooks, destinations and
 * maintenance, checking the file) are in `sets.ts`, a second entry: only what reads the config
 * file loads its schema.
 */
export { initRepository, interruptSignal, openRepository, repositoryLocation, withRepository, forWriting, type LockMode, type RepositoryOptions } from './session.js'
export { defaultRepository } from './default-repository.js'
export { resolvePassword, type PasswordSource } from './password.js'
export { runBackup, type BackupRequest, type BackupStep } from './backup.js'
export { runRestore, type OverwritePolicy, type RestoreRequest, type RestoreResult } from './restore.js'
export { listObjects, listSnapshots, listSnapshotTree, newestPerHostAndPaths, listType, LIST_TYPES, type ListedNode, type ListType } from './listing.js'
export { resolveTreePath, splitSnapshotPath } from './tree-path.js'
export { unlockRepository } from './unlock.js'
export { processRuns } from '../repository/index.js'
export { catObject, CAT_TYPES } from './cat.js'
export { runCheck, type AffectedSnapshot, type CheckPhase, type CheckProblem, type CheckReport, type CheckRequest } from './check.js'
export { runRecover, runRepairIndex, runRepairPacks, runRepairSnapshots, type RepairPacksRequest, type RepairPacksResult, type SalvagedPack, type RecoverRequest, type RecoverResult, type RepairIndexRequest, type RepairIndexResult, type RepairSnapshotsRequest, type RepairSnapshotsResult } from './repair.js'
export { retentionPolicyFromFlags, runForget, type ForgetRequest, type ForgetResult, type RetentionFlags } from './forget.js'
export { resolvePruneOptions, runPrune, type PruneRequest, type PruneResult } from './prune.js'
export type { ForgetGroup, PruneExecution, PrunePhase, PrunePlan, PruneProgress, PruneStats } from '../maintenance/index.js'
export { selectSnapshots, type SnapshotSelection } from './snapshot-selection.js'
export { addKey, changePassword, listKeys, readNewPassword, removeKey, type KeyInfo, type NewKeyRequest, type NewPasswordSource } from './keys.js'
export { SnapshotBrowser, snapshotFolderName, type BrowseDir, type BrowseEntry, type BrowseFile, type BrowserRepo, type SnapshotBrowserOptions } from './snapshot-browser.js'
export { runMigrate, type MigrateRequest, type MigrateResult } from './migrate.js'
export { runRewrite, type RewriteRequest } from './rewrite.js'
export { applyTagChange, changeTags, flattenTags, type TagChange, type TagRequest, type TagResult } from './tag.js'
export { parseFindTime } from './find-time.js'
export { findInSnapshots, type FindKind, type FindMatch, type FindRequest, type FindResult, type FindVisitor, type FoundObject, type ObjectPacks } from './find.js'
export { diffSnapshots, nodesEqual, type DiffChange, type DiffRequest, type DiffResult, type DiffStat, type DiffVisitor } from './diff.js'
export { ARCHIVE_FORMATS, runDump, type DumpRequest, type DumpResult } from './dump.js'
export { collectStats, STATS_MODES, type StatsMode, type StatsRequest, type StatsResult } from './stats.js'
export { copySnapshots, fromRepositoryOptions, namesFromRepository, openFromRepository, similarSnapshots, withFromRepository, type CopiedSnapshot, type CopyProgress, type CopyRequest, type CopyResult, type CopyTotals, type FromRepositoryFlags, type SkippedSnapshot } from './copy.js'
export { cacheBaseDir, cleanupCaches, listCaches, type CacheCleanup, type CacheEntry, type CacheListing, type CacheSettings } from './cache.js'
