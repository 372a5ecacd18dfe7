import type { Command } from 'commander'
import { listSnapshotTree, withRepository } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { goJson } from '../output/terminal.js'
import { collect } from '../options.js'
import { goTimeText, longListing } from '../output/format.js'
import { nodeJson, snapshotJson } from '../output/json.js'

export function registerLs(program: Command, ctx: CommandContext): void {
  program
    .command('ls')
    .description('List files in a snapshot')
    .argument('<snapshot>', 'snapshot ID, "latest", or SNAPSHOT:/sub/dir')
    .argument('[dirs...]', 'only list these directories')
    .option('-l, --long', 'show mode, owner, size and time')
    .option('--recursive', 'list directories given as arguments recursively')
    .option('-H, --host <host>', 'for "latest": only snapshots of this host', collect)
    .option('--tag <tags>', 'for "latest": only snapshots with these tags', collect)
    .option('--path <path>', 'for "latest": only snapshots including this path', collect)
    .addHelpText('after', '\nExamples:\n  cairn ls latest\n  cairn ls -l 1a2b3c4d /home/me/docs\n  cairn ls --json latest')
    .action(async (snapshot: string, dirs: string[], opts: { long?: boolean; recursive?: boolean; host?: string[]; tag?: string[]; path?: string[] }) => {
      const term = ctx.term
      await withRepository(ctx.repositoryOptions(), 'none', async (repo) => {
        // Lines go out in batches as they come, not all at the end: a large snapshot lists
        // millions, and a folder that cannot be read must not hide what came before it.
        let lines: string[] = []
        const flush = () => {
          if (lines.length > 0) term.out(lines.join('\n'))
          lines = []
        }
        let errors = 0
        await listSnapshotTree(
          repo,
          snapshot,
          {
            dirs,
            recursive: opts.recursive,
            filter: { hosts: opts.host, tags: opts.tag, paths: opts.path },
            onSnapshot: (entry) => {
              if (term.json) term.out(goJson(JSON.stringify({ ...snapshotJson(entry.id, entry.snapshot), struct_type: 'snapshot' })))
              else term.info(`snapshot ${entry.id.slice(0, 8)} of [${entry.snapshot.paths.join(' ')}] filtered by [${dirs.join(' ')}] at ${goTimeText(entry.snapshot.time)}):`)
            },
            onError: (path, err) => {
              flush()
              errors++
              term.warn(`error: cannot list "${path}": ${(err as Error).message}`)
            },
          },
          (item) => {
            if (lines.length >= 1000) flush()
            if (term.json) {
              lines.push(goJson(JSON.stringify(nodeJson(item))))
            } else if (opts.long) {
              lines.push(longListing(item.path, item.node))
            } else {
              lines.push(item.path)
            }
          },
        )
        flush()
        if (errors > 0) {
          term.warn(`There were ${errors} errors: run "cairn check" to see what is damaged`)
          ctx.exitCode = 1
        }
      })
    })
}
