import { AppError, type Id } from '../base/index.js'
import type { TemporaryFiles } from '../backends/index.js'
import type { PruneExecution, PruneOptions, PrunePlan, PruneProgress, PruneStats } from '../maintenance/index.js'
import type { CompressionMode, Repository } from '../repository/index.js'
import { maintenance } from './lazy-layers.js'
import { packSizeFrom } from './write-options.js'

export interface PruneRequest {
  /** "5%" (default), a size such as "1G", or "unlimited". */
  maxUnused?: string
  /** A size such as "500M"; no limit when omitted. */
  maxRepackSize?: string
  repackUncompressed?: boolean
  repackSmall?: boolean
  repackCacheableOnly?: boolean
  /** Target pack size in MiB (4…128); default from CAIRN_PACK_SIZE or RESTIC_PACK_SIZE, else 16. */
  packSizeMiB?: number
  dryRun?: boolean
  /** Threads compressing repacked blobs (0: on this thread); default up to 4. */
  threads?: number
  /** Snapshots to treat as deleted already (forget --dry-run --prune). */
  ignoreSnapshots?: ReadonlySet<Id>
  signal?: AbortSignal
  progress?: PruneProgress
  /** Told the plan before anything changes, so a caller can show what will be freed. */
  onPlan?: (plan: PrunePlan) => void
  env?: NodeJS.ProcessEnv
}

export interface PruneResult {
  stats: PruneStats
  dryRun: boolean
  /** Nothing to delete or repack. */
  nothingToDo: boolean
  /** What execution did (absent on a dry run). */
  execution?: PruneExecution
  /** Temporary files that interrupted writes left, removed (counted only, on a dry run). */
  temporary?: TemporaryFiles
}

function packSizeBytes(req: PruneRequest): number {
  return packSizeFrom(req.packSizeMiB, req.env ?? process.env) ?? 16 * 1024 * 1024
}

/**
 * Checks and converts the request's flags into prune options; throws INVALID_ARGUMENT naming the
 * bad flag. Run it before changing anything (forget --prune checks first, deletes later).
 */
export async function resolvePruneOptions(req: PruneRequest, compression?: CompressionMode): Promise<PruneOptions> {
  const { parseByteSize, parseMaxUnused } = await maintenance()
  // Repacked blobs are written in the repository's mode: "off" would store them uncompressed
  // again, and the next run would find the same packs to repack (restic refuses this too).
  if (req.repackUncompressed && compression === 'off') {
    throw new AppError('INVALID_ARGUMENT', '--repack-uncompressed cannot go with --compression off: the repacked data would be stored uncompressed again', {
      hint: 'Drop --compression off (and CAIRN_COMPRESSION=off or RESTIC_COMPRESSION=off) for this prune',
    })
  }
  return {
    maxUnused: parseMaxUnused(req.maxUnused ?? '5%'),
    maxRepackBytes: req.maxRepackSize === undefined || req.maxRepackSize === '' ? undefined : parseByteSize(req.maxRepackSize, '--max-repack-size'),
    repackUncompressed: req.repackUncompressed,
    repackSmall: req.repackSmall,
    repackCacheableOnly: req.repackCacheableOnly,
    packSize: packSizeBytes(req),
    ignoreSnapshots: req.ignoreSnapshots,
    threads: req.threads,
    signal: req.signal,
    progress: req.progress,
  }
}

/**
 * Prunes the repository (the caller holds an exclusive lock): plans, tells `onPlan`, and unless
 * it is a dry run executes the plan.
 */
export async function runPrune(repo: Repository, req: PruneRequest = {}): Promise<PruneResult> {
  const options = await resolvePruneOptions(req, repo.writerDefaults.compression)
  const plan = await (await maintenance()).planPrune(repo, options)
  req.onPlan?.(plan)
  const result: PruneResult = { stats: plan.stats, dryRun: req.dryRun === true, nothingToDo: plan.empty }
  // The exclusive lock means no other writer is at work: any temporary file is a leftover.
  const temporary = await repo.backend.removeTemporaryFiles?.({ dryRun: req.dryRun })
  if (temporary !== undefined && temporary.files > 0) result.temporary = temporary
  if (req.dryRun) return result
  result.execution = await plan.execute({ signal: req.signal, progress: req.progress })
  return result
}
