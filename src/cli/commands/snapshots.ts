import { Option, type Command } from 'commander'
import { listSnapshots, newestPerHostAndPaths, withRepository } from '../../app/index.js'
import { asGrouped, groupSnapshots, parseGroupBy, type SnapshotEntry, type SnapshotGroupKey } from '../../snapshots/index.js'
import type { CommandContext } from '../context.js'
import { goJson } from '../output/terminal.js'
import { collect, nonNegativeInt } from '../options.js'
import { snapshotTable } from '../output/snapshot-table.js'
import { snapshotJson } from '../output/json.js'

interface SnapshotsFlags {
  host?: string[]
  tag?: string[]
  path?: string[]
  latest?: number
  /** restic's deprecated --last: --latest 1. */
  last?: boolean
  compact?: boolean
  groupBy?: string
}

export function registerSnapshots(program: Command, ctx: CommandContext): void {
  program
    .command('snapshots')
    .description('List snapshots')
    .argument('[snapshot...]', 'only these snapshots (IDs, prefixes or "latest")')
    .option('-H, --host <host>', 'only snapshots of this host (repeatable)', collect)
    .option('--tag <tags>', 'only snapshots with these tags ("a,b" = both)', collect)
    .option('--path <path>', 'only snapshots including this path', collect)
    .option('--latest <n>', 'only the last N snapshots per host and paths', nonNegativeInt('--latest'))
    .addOption(new Option('--last', 'the same as --latest 1 (restic\'s older flag)').hideHelp())
    .option('-c, --compact', 'compact table: no paths, one tag a line')
    .option('-g, --group-by <group>', 'group snapshots by host, paths and/or tags, separated by commas')
    .addHelpText('after', '\nExamples:\n  cairn snapshots\n  cairn snapshots latest 1a2b3c4d\n  cairn snapshots --host laptop --latest 3\n  cairn snapshots --group-by host,paths --compact\n  cairn snapshots --json')
    .action(async (ids: string[], opts: SnapshotsFlags) => {
      if (opts.last && opts.latest === undefined) opts.latest = 1
      await withRepository(ctx.repositoryOptions(), 'none', async (repo) => {
        const grouped = opts.groupBy !== undefined && opts.groupBy !== ''
        // Grouped, --latest counts within each group (a tag's older snapshots are not lost to
        // another tag's newer ones), as restic does.
        const list = await listSnapshots(repo, { hosts: opts.host, tags: opts.tag, paths: opts.path }, grouped ? undefined : opts.latest, ids, (m) => ctx.term.warn(m))
        const groups = grouped ? groupSnapshots(list, opts.groupBy!).map((g) => ({ ...g, entries: newestPerHostAndPaths(g.entries, opts.latest ?? 0) })) : undefined
        const byTags = grouped && parseGroupBy(opts.groupBy!).tags
        const shown = (entries: readonly SnapshotEntry[]) => entries.map((e) => ({ id: e.id, snapshot: asGrouped(e.snapshot, byTags) }))
        if (ctx.term.json) {
          const json = (entries: readonly SnapshotEntry[]) => shown(entries).map((e) => snapshotJson(e.id, e.snapshot))
          ctx.term.out(goJson(JSON.stringify(groups === undefined ? json(list) : groups.map((g) => ({ group_key: g.key, snapshots: json(g.entries) })))))
          return
        }
        if (groups === undefined) {
          ctx.term.out(snapshotTable(shown(list), opts.compact === true))
          return
        }
        for (const g of groups) {
          // The group of snapshots that share nothing (no tags, grouped by tags) has no title, as in restic.
          const title = groupTitle(g.key)
          ctx.term.out(`${title === '' ? '' : `snapshots for (${title}):\n`}${snapshotTable(shown(g.entries), opts.compact === true)}`)
        }
      })
    })
}

/** "host [laptop], tags [a, b], paths [/home]": what a group's snapshots share, as restic words it. */
function groupTitle(key: SnapshotGroupKey): string {
  const parts: string[] = []
  if (key.hostname !== '') parts.push(`host [${key.hostname}]`)
  if (key.tags !== null && key.tags.length > 0) parts.push(`tags [${key.tags.join(', ')}]`)
  if (key.paths !== null && key.paths.length > 0) parts.push(`paths [${key.paths.join(', ')}]`)
  return parts.join(', ')
}
