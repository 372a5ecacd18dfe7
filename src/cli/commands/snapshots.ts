import type { Command } from 'commander'
import { listSnapshots, withRepository } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { collect } from '../options.js'
import { formatTime, table } from '../output/format.js'
import { snapshotJson } from '../output/json.js'

export function registerSnapshots(program: Command, ctx: CommandContext): void {
  program
    .command('snapshots')
    .description('List snapshots')
    .option('-H, --host <host>', 'only snapshots of this host (repeatable)', collect)
    .option('--tag <tags>', 'only snapshots with these tags ("a,b" = both)', collect)
    .option('--path <path>', 'only snapshots including this path', collect)
    .option('--latest <n>', 'only the last N snapshots per host and paths', (v) => Number.parseInt(v, 10))
    .addHelpText('after', '\nExamples:\n  cairn snapshots\n  cairn snapshots --host laptop --latest 3\n  cairn snapshots --json')
    .action(async (opts: { host?: string[]; tag?: string[]; path?: string[]; latest?: number }) => {
      await withRepository(ctx.repositoryOptions(), 'none', async (repo) => {
        const list = await listSnapshots(repo, { hosts: opts.host, tags: opts.tag, paths: opts.path }, opts.latest)
        if (ctx.term.json) {
          ctx.term.out(JSON.stringify(list.map((e) => snapshotJson(e.id, e.snapshot))))
          return
        }
        const rows = list.map((e) => [
          e.id.slice(0, 8),
          formatTime(e.snapshot.time),
          e.snapshot.hostname ?? '',
          (e.snapshot.tags ?? []).join(','),
          e.snapshot.paths.join('\n'),
        ])
        const expanded: string[][] = []
        for (const r of rows) {
          const paths = r[4].split('\n')
          expanded.push([...r.slice(0, 4), paths[0]])
          for (const p of paths.slice(1)) expanded.push(['', '', '', '', p])
        }
        ctx.term.out(table(['ID', 'Time', 'Host', 'Tags', 'Paths'], expanded, `${list.length} snapshots`))
      })
    })
}
