import type { Command } from 'commander'
import { findInSnapshots, withRepository, type FindKind, type FindMatch, type FoundObject } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { goJson } from '../output/terminal.js'
import { formatTime, longListing, permissionString } from '../output/format.js'

type Node = FindMatch['node']
type SnapshotEntry = FindMatch['snapshot']

interface FindFlags {
  oldest?: string
  newest?: string
  snapshot?: string[]
  blob?: boolean
  tree?: boolean
  pack?: boolean
  showPackId?: boolean
  ignoreCase?: boolean
  long?: boolean
  host?: string[]
  tag?: string[]
  path?: string[]
}

const collect = (value: string, previous: string[] = []) => [...previous, value]

export function registerFind(program: Command, ctx: CommandContext): void {
  program
    .command('find')
    .description('Find files and directories in snapshots, or which files use a blob, tree or pack')
    .argument('<patterns...>', 'glob patterns for paths (or IDs with --blob, --tree, --pack)')
    .option('-O, --oldest <time>', 'oldest modification date/time')
    .option('-N, --newest <time>', 'newest modification date/time')
    .option('-s, --snapshot <id>', 'snapshot ID to search in (repeatable)', collect)
    .option('--blob', 'patterns are data blob IDs')
    .option('--tree', 'patterns are tree IDs')
    .option('--pack', 'patterns are pack IDs')
    .option('--show-pack-id', 'print the pack each blob or tree is stored in (with --blob or --tree)')
    .option('-i, --ignore-case', 'ignore case for patterns')
    .option('-l, --long', 'long listing with mode, owner, size and time')
    .option('-H, --host <host>', 'only snapshots of this host, when no snapshot is given (repeatable)', collect)
    .option('--tag <taglist>', 'only snapshots with these tags, when no snapshot is given (repeatable)', collect)
    .option('--path <path>', 'only snapshots including this path, when no snapshot is given (repeatable)', collect)
    .addHelpText('after', '\nExamples:\n  cairn find config.json\n  cairn find --json "*.yml" "*.json"\n  cairn find --blob 420f620f b46ebe8a\n  cairn find --tree 577c2bc9 --show-pack-id\n  cairn find --pack 025c1d06')
    .action(async (patterns: string[], opts: FindFlags) => {
      const kinds = [opts.blob && 'blob', opts.tree && 'tree', opts.pack && 'pack'].filter(Boolean) as FindKind[]
      if (kinds.length > 1) throw new RangeError('Cannot have several ID types: give only one of --blob, --tree and --pack')
      const kind: FindKind = kinds[0] ?? 'path'
      const term = ctx.term
      await withRepository(ctx.repositoryOptions(), 'shared', async (repo) => {
        // --json output is written as it is found, as restic streams it: held until the end, a
        // search with millions of matches ran out of memory, or past the longest string.
        let items = 0
        const item = (json: string) => term.write((items++ === 0 ? '[' : ',') + json)
        let current: { snapshot: SnapshotEntry; hits: number } | undefined
        const flushJson = () => {
          if (current) term.write(`],"hits":${current.hits},"snapshot":${JSON.stringify(current.snapshot.id)}}`)
          current = undefined
        }
        let lastSnapshot: string | undefined
        const result = await findInSnapshots(
          repo,
          {
            patterns,
            kind,
            snapshots: opts.snapshot,
            filter: { hosts: opts.host, tags: opts.tag, paths: opts.path },
            ignoreCase: opts.ignoreCase,
            oldest: opts.oldest,
            newest: opts.newest,
            showPackId: opts.showPackId,
          },
          {
            onMatch: (m: FindMatch) => {
              if (term.json) {
                if (current?.snapshot.id !== m.snapshot.id) {
                  flushJson()
                  item('{"matches":[')
                  current = { snapshot: m.snapshot, hits: 0 }
                }
                term.write((current.hits++ === 0 ? '' : ',') + goJson(JSON.stringify(findNodeJson(m.path, m.node))))
                return
              }
              if (lastSnapshot !== m.snapshot.id) {
                if (lastSnapshot !== undefined) term.info('')
                lastSnapshot = m.snapshot.id
                term.info(`Found matching entries in snapshot ${m.snapshot.id.slice(0, 8)} from ${formatTime(m.snapshot.snapshot.time)}`)
              }
              term.out(opts.long === true ? longListing(m.path, m.node) : m.path)
            },
            onObject: (o: FoundObject) => {
              if (term.json) item(goJson(JSON.stringify(objectJson(o))))
              else term.out(objectText(o))
            },
            onWarning: (message) => term.warn(message),
          },
        )
        if (term.json) {
          flushJson()
          term.write(items === 0 ? '[]\n' : ']\n')
        }
        for (const p of result.packs ?? []) {
          const loc = p.locations[0]
          if (loc === undefined) term.out(`Object ${p.id.slice(0, 8)} not found in the index${p.id.length < 64 ? ': --show-pack-id looks up whole IDs (64 hexadecimal characters), not the start of one' : ''}`)
          else {
            term.out(
              `Object belongs to pack ${loc.packId}\n ... Pack ${loc.packId.slice(0, 8)}: <Blob (${loc.type}) ${loc.id.slice(0, 8)}, offset ${loc.offset}, length ${loc.length}, uncompressed length ${loc.uncompressedLength}>`,
            )
          }
        }
      })
    })
}

function objectText(o: FoundObject): string {
  const lines = [`Found ${o.kind} ${o.id}`]
  if (o.kind === 'blob') lines.push(` ... in file ${o.path}`, `     (tree ${o.parentTree})`)
  else lines.push(` ... path ${o.path}`)
  lines.push(` ... in snapshot ${o.snapshot.id.slice(0, 8)} (${formatTime(o.snapshot.snapshot.time)})`)
  return lines.join('\n')
}

function objectJson(o: FoundObject): Record<string, unknown> {
  const r: Record<string, unknown> = { object_type: o.kind, id: o.id, path: o.path }
  if (o.parentTree) r.parent_tree = o.parentTree
  r.snapshot = o.snapshot.id
  r.time = o.snapshot.snapshot.time
  return r
}

/** A match as restic's find --json prints it: the node's JSON with path and permissions, without name, inode, content and subtree. */
function findNodeJson(path: string, n: Node): Record<string, unknown> {
  const r: Record<string, unknown> = { path, permissions: permissionString(n.mode), type: n.type }
  if (n.mode) r.mode = n.mode
  r.mtime = n.mtime
  r.atime = n.atime
  r.ctime = n.ctime
  r.uid = n.uid
  r.gid = n.gid
  if (n.user) r.user = n.user
  if (n.group) r.group = n.group
  if (n.deviceId) r.device_id = Number(n.deviceId)
  if (n.size) r.size = n.size
  if (n.links) r.links = n.links
  if (n.linktarget) r.linktarget = n.linktarget
  if (n.error) r.error = n.error
  return r
}
