/**
 * @module maintenance
 * Keeping a repository sound: finding damage and repairing what can be repaired.
 *
 * Terms:
 * - **Check**: reads the index, compares it with the packs in data/, walks every tree of every
 *   snapshot, and (with **read data**) downloads packs and verifies every blob. It reports
 *   **errors** (the repository is unsound: something a snapshot needs is missing or damaged)
 *   and **hints** (harmless: unreferenced packs, a pack in two index files, mixed packs).
 * - **Affected**: for each error, the snapshots and the paths inside them whose data is lost
 *   or damaged, found by tracing trees and blobs back through the tree graph.
 * - **Read-data subset**: part of the packs, as "n/t" (group n of t, by the pack ID's first
 *   byte), "x%" or a size, both at random, following restic 0.14.
 * - **Repair index**: builds the index again from the pack headers, so that the password and
 *   the storage are enough to recover everything. New index files are written before the old
 *   ones are removed.
 * - **Recover**: a new snapshot of every directory tree no snapshot reaches (a snapshot forgotten
 *   by mistake, before prune removes its data).
 * - **Rewrite snapshots**: new snapshots without the paths an exclude pattern picks (a secret
 *   backed up by mistake); the new one records the old one as `original` and is tagged
 *   `rewrite`, unless the original is removed.
 * - **Repair snapshots**: rewrites snapshots around trees and blobs the index does not have;
 *   files keep the blobs that exist, unreadable directories become empty. The new snapshot
 *   records the old one as `original` and is tagged `repaired`.
 *
 * @example
 * const report = await checkRepository(repo, { readData: true })
 * for (const e of report.errors) console.log(e.message, e.affected?.map((s) => s.paths))
 * if (report.suggestRepairIndex) await repairIndex(repo)
 */
export {
  type AffectedSnapshot,
  type CheckPhase,
  type CheckProblem,
  type CheckProblemKind,
  type CheckProgress,
  type CheckReport,
} from './check-report.js'
export { checkRepository, type CheckOptions, type CheckRepo } from './check.js'
export { parseReadDataSubset, selectPacks, type ReadDataSubset } from './read-data-subset.js'
export { repairPacks, type RepairPacksOptions, type RepairPacksRepo, type RepairPacksResult, type SalvagedPack } from './repair-packs.js'
export { repairIndex, type RepairIndexOptions, type RepairIndexPhase, type RepairIndexProgress, type RepairIndexRepo, type RepairIndexResult } from './repair-index.js'
export { MIGRATIONS, upgradeRepoV2, UPGRADE_REPO_V2, type MigrateRepo, type Migration } from './migrate.js'
export { recover, type RecoverOptions, type RecoverPhase, type RecoverRepo, type RecoverResult } from './recover.js'
export { rewriteSnapshots, type RewriteSnapshotsOptions, type RewriteSnapshotsRepo, type RewriteSnapshotsResult, type RewrittenSnapshot } from './rewrite-snapshots.js'
export {
  repairSnapshots,
  type RepairChange,
  type RepairChangeKind,
  type RepairedSnapshot,
  type RepairSnapshotsOptions,
  type RepairSnapshotsRepo,
  type RepairSnapshotsResult,
} from './repair-snapshots.js'
// Forget and prune. A **retention policy** decides which snapshots to keep per group (snapshots
// of the same host and paths); forget deletes the others' snapshot files only. **Prune** then
// classifies every indexed blob as used, unused or duplicate and each pack as kept, repacked
// (its used blobs copied into new packs) or deleted, writes a new index superseding all old
// index files, and only then deletes packs, so a crash at any point loses nothing.
export { planForget, removeSnapshots, type ForgetGroup } from './forget.js'
export {
  planPrune,
  PrunePlan,
  type PruneExecution,
  type PruneOptions,
  type PrunePhase,
  type PruneProgress,
  type PruneRepo,
} from './prune.js'
export { emptyPruneStats, type PruneStats } from './prune-plan.js'
export { maxUnusedBytes, parseByteSize, parseMaxUnused, type MaxUnused } from './prune-options.js'
