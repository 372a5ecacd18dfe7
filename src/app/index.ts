/**
 * @module app
 * One function per user-visible operation, shared by the CLI, the daemon and the server:
 * opening repositories (with passwords, locks and the embedded default), backup, restore,
 * listing, unlock.
 */
export { initRepository, interruptSignal, openRepository, repositoryLocation, withRepository, type LockMode, type RepositoryOptions } from './session.js'
export { defaultRepository } from './default-repository.js'
export { resolvePassword, type PasswordSource } from './password.js'
export { runBackup, type BackupRequest } from './backup.js'
export { runRestore, type RestoreRequest, type RestoreResult } from './restore.js'
export { listSnapshots, listSnapshotTree, type ListedNode } from './listing.js'
export { resolveTreePath, splitSnapshotPath } from './tree-path.js'
export { unlockRepository } from './unlock.js'
export { catObject, CAT_TYPES } from './cat.js'
