import type { Command } from 'commander'
import { listSnapshotTree, withRepository } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { goJson } from '../output/terminal.js'
import { collect } from '../options.js'
import { formatTime } from '../output/format.js'
import { nodeJson, permissionString, snapshotJson } from '../output/json.js'

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
        const lines: string[] = []
        let header: Record<string, unknown> | undefined
        const entry = await listSnapshotTree(
          repo,
          snapshot,
          { dirs, recursive: opts.recursive, filter: { hosts: opts.host, tags: opts.tag, paths: opts.path } },
          (item) => {
            if (term.json) {
              lines.push(goJson(JSON.stringify(nodeJson(item))))
            } else if (opts.long) {
              const n = item.node
              const user = n.user ?? String(n.uid)
              const group = n.group ?? String(n.gid)
              const target = n.type === 'symlink' ? ` -> ${n.linktarget ?? ''}` : ''
              lines.push(`${permissionString(n.mode)} ${user.padStart(5)} ${group.padStart(5)} ${String(n.size).padStart(9)} ${formatTime(n.mtime)} ${item.path}${target}`)
            } else {
              lines.push(item.path)
            }
          },
        )
        if (term.json) {
          header = { ...snapshotJson(entry.id, entry.snapshot), struct_type: 'snapshot' }
          term.out([JSON.stringify(header), ...lines].join('\n'))
        } else {
          term.info(`snapshot ${entry.id.slice(0, 8)} of [${entry.snapshot.paths.join(' ')}] filtered by [${dirs.join(' ')}] at ${entry.snapshot.time}:`)
          if (lines.length > 0) term.out(lines.join('\n'))
        }
      })
    })
}
