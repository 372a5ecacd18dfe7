import type { Command } from 'commander'
import { interruptSignal, runPrune, forWriting, withRepository, type PrunePhase, type PruneProgress, type PruneRequest, type PruneResult, type PruneStats } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { formatBytes } from '../output/format.js'
import type { Terminal } from '../output/terminal.js'

/** The prune flags, shared with `forget --prune`. */
export interface PruneFlags {
  maxUnused?: string
  maxRepackSize?: string
  repackCacheableOnly?: boolean
  repackSmall?: boolean
  repackUncompressed?: boolean
  packSize?: string
}

export function addPruneOptions(cmd: Command): Command {
  return cmd
    .option('--max-unused <limit>', 'tolerate this much unused data: a percentage ("5%"), a size ("1G") or "unlimited"', '5%')
    .option('--max-repack-size <size>', 'repack at most this much data (k, M, G, T suffixes)')
    .option('--repack-cacheable-only', 'only repack packs holding trees')
    .option('--repack-small', 'also repack packs below 80% of the target pack size')
    .option('--repack-uncompressed', 'repack packs holding uncompressed data, compressing it')
    .option('--pack-size <MiB>', 'target size of new packs in MiB (4-128; also CAIRN_PACK_SIZE)')
}

/**
 * The prune request of the flags. `globalPackSizeMiB` is the program's --pack-size: the program
 * takes its options wherever they stand, so `cairn prune --pack-size 32` arrives there, and
 * prune's own option (kept for its help text) is only a fallback.
 */
export function pruneRequest(flags: PruneFlags, term: Terminal, globalPackSizeMiB?: number): PruneRequest {
  let packSizeMiB = globalPackSizeMiB
  if (flags.packSize !== undefined) packSizeMiB = /^\d+$/.test(flags.packSize) ? Number(flags.packSize) : Number.NaN
  return {
    maxUnused: flags.maxUnused,
    maxRepackSize: flags.maxRepackSize,
    repackCacheableOnly: flags.repackCacheableOnly,
    repackSmall: flags.repackSmall,
    repackUncompressed: flags.repackUncompressed,
    packSizeMiB,
    progress: pruneProgress(term),
    onPlan: (plan) => {
      if (!term.json && !term.quiet) term.out(formatPruneStats(plan.stats))
    },
  }
}

function percent(part: number, whole: number): string {
  return `${(whole === 0 ? 0 : (100 * part) / whole).toFixed(2)}%`
}

/** The plan's numbers as restic prints them. */
export function formatPruneStats(s: PruneStats): string {
  const n = (v: number) => String(v).padStart(10)
  const lines: string[] = []
  lines.push(`used:         ${n(s.blobs.used)} blobs / ${formatBytes(s.size.used)}`)
  if (s.blobs.duplicate > 0) lines.push(`duplicates:   ${n(s.blobs.duplicate)} blobs / ${formatBytes(s.size.duplicate)}`)
  lines.push(`unused:       ${n(s.blobs.unused)} blobs / ${formatBytes(s.size.unused)}`)
  if (s.size.unref > 0) lines.push(`unreferenced:                    ${formatBytes(s.size.unref)}`)
  const totalBlobs = s.blobs.used + s.blobs.unused + s.blobs.duplicate
  const totalSize = s.size.used + s.size.duplicate + s.size.unused + s.size.unref
  const unusedSize = s.size.duplicate + s.size.unused
  lines.push(`total:        ${n(totalBlobs)} blobs / ${formatBytes(totalSize)}`)
  lines.push(`unused size: ${percent(unusedSize, totalSize)} of total size`, '')
  const pruneSize = s.size.remove + s.size.repackrm + s.size.unref
  const pruneBlobs = s.blobs.remove + s.blobs.repackrm
  lines.push(`to repack:    ${n(s.blobs.repack)} blobs / ${formatBytes(s.size.repack)}`)
  lines.push(`this removes: ${n(s.blobs.repackrm)} blobs / ${formatBytes(s.size.repackrm)}`)
  lines.push(`to delete:    ${n(s.blobs.remove)} blobs / ${formatBytes(s.size.remove + s.size.unref)}`)
  lines.push(`total prune:  ${n(pruneBlobs)} blobs / ${formatBytes(pruneSize)}`)
  lines.push(`remaining:    ${n(totalBlobs - pruneBlobs)} blobs / ${formatBytes(totalSize - pruneSize)}`)
  const unusedAfter = unusedSize - s.size.remove - s.size.repackrm
  lines.push(`unused size after prune: ${formatBytes(unusedAfter)} (${percent(unusedAfter, totalSize - pruneSize)} of remaining size)`, '')
  lines.push(`totally used packs: ${n(s.packs.used)}`, `partly used packs:  ${n(s.packs.partlyUsed)}`, `unused packs:       ${n(s.packs.unused)}`, '')
  lines.push(`to keep:      ${n(s.packs.keep)} packs`, `to repack:    ${n(s.packs.repack)} packs`, `to delete:    ${n(s.packs.remove)} packs`)
  if (s.packs.unref > 0) lines.push(`to delete:    ${n(s.packs.unref)} unreferenced packs`)
  return lines.join('\n') + '\n'
}

const PHASE_TEXT: Record<PrunePhase, string> = {
  'load-index': 'loading indexes...',
  'load-snapshots': 'loading all snapshots...',
  'find-used': 'finding data that is still in use',
  plan: 'searching used packs, collecting packs for deletion and repacking',
  repack: 'repacking packs',
  'write-index': 'rebuilding index',
  'delete-index': 'deleting obsolete index files',
  'delete-packs': 'removing old packs',
  done: 'done',
}

function pruneProgress(term: Terminal): PruneProgress {
  return {
    phase: (p, detail) => {
      if (p === 'find-used') term.info(`finding data that is still in use for ${detail?.snapshots ?? 0} snapshots`)
      else if (p === 'delete-packs') term.info(`removing ${detail?.packs ?? 0} old packs`)
      else term.info(PHASE_TEXT[p])
    },
    treeLoaded: (n) => term.status(`${n} trees loaded`),
    packRepacked: (done, total) => term.status(`${done} / ${total} packs repacked`),
    fileDeleted: (type, done, total) => term.status(`${done} / ${total} ${type === 'data' ? 'packs' : 'index files'} deleted`),
  }
}

/** What prune did, in words (or nothing on a dry run). */
export function reportPrune(term: Terminal, result: PruneResult): void {
  const e = result.execution
  if (term.json) {
    term.jsonLine({ dry_run: result.dryRun, stats: result.stats, ...(e ? { result: e } : {}), ...(result.temporary ? { temporary_files: result.temporary } : {}) })
    return
  }
  term.done()
  const t = result.temporary
  if (t !== undefined) {
    term.info(`${result.dryRun ? 'would remove' : 'removed'} ${t.files} unfinished files (${formatBytes(t.bytes)}) that interrupted runs left`)
  }
  if (result.dryRun) {
    const s = result.stats
    term.info(`would free ${formatBytes(s.size.remove + s.size.repackrm + s.size.unref)} (dry run: nothing was changed)`)
  } else if (e) {
    term.info(
      result.nothingToDo
        ? 'nothing to prune'
        : `freed ${formatBytes(Math.max(0, e.bytesFreed))}: deleted ${e.packsDeleted} packs (${formatBytes(e.bytesDeleted)}), wrote ${e.packsWritten} new packs (${formatBytes(e.bytesWritten)})`,
    )
  }
}

export function registerPrune(program: Command, ctx: CommandContext): void {
  addPruneOptions(
    program
      .command('prune')
      .description('Remove data that no snapshot uses any more')
      .option('-n, --dry-run', 'only show what would be done'),
  )
    .addHelpText(
      'after',
      '\nNew packs and index files are written before anything is deleted, so an interrupted\nprune loses nothing; run it again to finish.\n\nExamples:\n  cairn prune\n  cairn prune --dry-run\n  cairn prune --max-unused 0 --repack-uncompressed',
    )
    .action(async (opts: PruneFlags & { dryRun?: boolean }) => {
      const term = ctx.term
      const { signal, dispose } = interruptSignal()
      try {
        const result = await withRepository(forWriting(ctx.repositoryOptions(), opts.dryRun === true), 'exclusive', (repo) =>
          runPrune(repo, { ...pruneRequest(opts, term, ctx.globals.packSize), dryRun: opts.dryRun, signal }),
        )
        reportPrune(term, result)
      } finally {
        dispose()
        term.done()
      }
    })
}
