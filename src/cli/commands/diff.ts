import type { Command } from 'commander'
import { diffSnapshots, withRepository, type DiffStat } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { formatBytes } from '../output/format.js'

export function registerDiff(program: Command, ctx: CommandContext): void {
  program
    .command('diff')
    .description('Show what changed from the first snapshot to the second')
    .argument('<snapshot1>', 'snapshot ID, prefix or "latest"; SNAPSHOT:/sub/dir compares that folder')
    .argument('<snapshot2>', 'snapshot ID, prefix or "latest"; SNAPSHOT:/sub/dir compares that folder')
    .option('--metadata', 'also show metadata-only changes (U)')
    .addHelpText(
      'after',
      '\nEach line starts with what happened to the path:\n' +
        '  +  added\n  -  removed\n  U  metadata (mode, times, owner, …) changed\n  M  content modified\n  T  type changed, e.g. a file became a symlink\n' +
        '\nExamples:\n  cairn diff 1a2b3c4d latest\n  cairn diff --metadata --json 1a2b3c4d 5e6f7a8b',
    )
    .action(async (first: string, second: string, opts: { metadata?: boolean }) => {
      const term = ctx.term
      await withRepository(ctx.repositoryOptions(), 'shared', async (repo) => {
        const result = await diffSnapshots(
          repo,
          { first, second, metadata: opts.metadata },
          {
            onStart: (a, b) => term.info(`comparing snapshot ${a.id.slice(0, 8)} to ${b.id.slice(0, 8)}:\n\n`),
            onChange: (c) => {
              if (term.quiet) return
              if (term.json) term.jsonLine({ message_type: 'change', path: c.path, modifier: c.modifier })
              else term.out(`${c.modifier.padEnd(5)}${c.path}`)
            },
            onWarning: (m) => term.warn(m),
          },
        )
        if (term.json) {
          term.jsonLine({
            message_type: 'statistics',
            source_snapshot: first,
            target_snapshot: second,
            changed_files: result.changedFiles,
            added: statJson(result.added),
            removed: statJson(result.removed),
          })
          return
        }
        const { added: a, removed: r } = result
        const n = (v: number) => String(v).padStart(5)
        term.out(
          [
            '',
            `Files:       ${n(a.files)} new, ${n(r.files)} removed, ${n(result.changedFiles)} changed`,
            `Dirs:        ${n(a.dirs)} new, ${n(r.dirs)} removed`,
            `Others:      ${n(a.others)} new, ${n(r.others)} removed`,
            `Data Blobs:  ${n(a.dataBlobs)} new, ${n(r.dataBlobs)} removed`,
            `Tree Blobs:  ${n(a.treeBlobs)} new, ${n(r.treeBlobs)} removed`,
            `  Added:   ${formatBytes(a.bytes)}`,
            `  Removed: ${formatBytes(r.bytes)}`,
          ].join('\n'),
        )
      })
    })
}

function statJson(s: DiffStat): Record<string, number> {
  return { files: s.files, dirs: s.dirs, others: s.others, data_blobs: s.dataBlobs, tree_blobs: s.treeBlobs, bytes: s.bytes }
}
