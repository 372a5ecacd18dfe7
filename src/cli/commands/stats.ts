import type { Command } from 'commander'
import { collectStats, STATS_MODES, withRepository, type StatsMode, type StatsResult } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { goJson } from '../output/terminal.js'
import { formatBytes } from '../output/format.js'

interface StatsFlags {
  mode: string
  host?: string[]
  tag?: string[]
  path?: string[]
}

const collect = (value: string, previous: string[] = []) => [...previous, value]

export function registerStats(program: Command, ctx: CommandContext): void {
  program
    .command('stats')
    .description('Walk snapshots and count what they hold')
    .argument('[snapshots...]', 'snapshot IDs, prefixes or "latest"; without them, every snapshot matching the filters')
    .option('--mode <mode>', `counting mode: ${STATS_MODES.join(', ')}`, 'restore-size')
    .option('-H, --host <host>', 'only snapshots of this host (repeatable)', collect)
    .option('--tag <taglist>', 'only snapshots with these tags (repeatable)', collect)
    .option('--path <path>', 'only snapshots including this path (repeatable)', collect)
    .addHelpText(
      'after',
      '\nModes:\n' +
        '  restore-size       size of the files as restored (default)\n' +
        '  files-by-contents  size of the files, each distinct content once\n' +
        '  raw-data           size of the blobs in the repository, with compression figures\n' +
        '  blobs-per-file     files-by-contents and raw-data combined\n' +
        '\nExamples:\n  cairn stats latest\n  cairn stats --mode raw-data --json',
    )
    .action(async (snapshots: string[], opts: StatsFlags) => {
      if (!STATS_MODES.includes(opts.mode as StatsMode)) {
        throw new RangeError(`Unknown counting mode "${opts.mode}": use one of ${STATS_MODES.join(', ')}`)
      }
      const term = ctx.term
      await withRepository(ctx.repositoryOptions(), 'shared', async (repo) => {
        term.info('scanning...')
        const s = await collectStats(repo, { snapshots, filter: { hosts: opts.host, tags: opts.tag, paths: opts.path }, mode: opts.mode as StatsMode }, (m) => term.warn(m))
        if (term.json) term.out(goJson(JSON.stringify(statsJson(s))))
        else term.out(statsText(s))
      })
    })
}

/** restic's JSON field names and order (0.15 adds the compression fields in raw-data mode). */
function statsJson(s: StatsResult): Record<string, number> {
  const o: Record<string, number> = { total_size: s.totalSize }
  if (s.totalUncompressedSize) o.total_uncompressed_size = s.totalUncompressedSize
  if (s.compressionRatio) o.compression_ratio = s.compressionRatio
  if (s.compressionProgress) o.compression_progress = s.compressionProgress
  if (s.compressionSpaceSaving) o.compression_space_saving = s.compressionSpaceSaving
  o.total_file_count = s.totalFileCount
  if (s.totalBlobCount) o.total_blob_count = s.totalBlobCount
  o.snapshots_count = s.snapshotsCount
  return o
}

function statsText(s: StatsResult): string {
  const lines = [`Stats in ${s.mode} mode:`, `     Snapshots processed:  ${s.snapshotsCount}`]
  if (s.totalBlobCount > 0) lines.push(`        Total Blob Count:  ${s.totalBlobCount}`)
  if (s.totalFileCount > 0) lines.push(`        Total File Count:  ${s.totalFileCount}`)
  if (s.totalUncompressedSize) lines.push(` Total Uncompressed Size:  ${formatBytes(s.totalUncompressedSize)}`)
  lines.push(`              Total Size:  ${formatBytes(s.totalSize)}`)
  if (s.compressionProgress) lines.push(`    Compression Progress:  ${s.compressionProgress.toFixed(2)}%`)
  if (s.compressionRatio) lines.push(`       Compression Ratio:  ${s.compressionRatio.toFixed(2)}x`)
  if (s.compressionSpaceSaving) lines.push(`Compression Space Saving:  ${s.compressionSpaceSaving.toFixed(2)}%`)
  return lines.join('\n')
}
