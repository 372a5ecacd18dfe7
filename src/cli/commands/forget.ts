import { Option, type Command } from 'commander'
import { AppError } from '../../base/index.js'
import { asGrouped } from '../../snapshots/index.js'
import { interruptSignal, retentionPolicyFromFlags, runForget, forWriting, withRepository, type ForgetGroup, type ForgetResult, type RetentionFlags } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { collect } from '../options.js'
import { snapshotTable } from '../output/snapshot-table.js'
import { snapshotJson } from '../output/json.js'
import { goJson, type Terminal } from '../output/terminal.js'
import { addPruneOptions, pruneRequest, reportPrune, type PruneFlags } from './prune.js'

interface ForgetFlags extends RetentionFlags, PruneFlags {
  host: string[]
  /** restic's deprecated spelling of --host. */
  hostname: string[]
  tag: string[]
  path: string[]
  compact?: boolean
  groupBy: string
  dryRun?: boolean
  prune?: boolean
}

type SnapshotLike = ForgetGroup['remove'][number]

/** A snapshot as restic's forget --json prints it. */
function snapshotOut(e: SnapshotLike, sortTags: boolean, withId: boolean): Record<string, unknown> {
  const o = snapshotJson(e.id, asGrouped(e.snapshot, sortTags))
  if (!withId) {
    delete o.id
    delete o.short_id
  }
  return o
}

/** restic 0.14's forget --json: one object per group; Go escapes <, > and & in strings. */
export function forgetJson(groups: readonly ForgetGroup[], groupByTags: boolean): string {
  const out = groups.map((g) => ({
    tags: g.key.tags,
    host: g.key.hostname,
    paths: g.key.paths,
    keep: g.keep.length > 0 ? g.keep.map((k) => snapshotOut(k.entry, groupByTags, true)) : null,
    remove: g.remove.length > 0 ? g.remove.map((e) => snapshotOut(e, groupByTags, true)) : null,
    reasons:
      g.keep.length > 0
        ? g.keep.map((k) => ({
            snapshot: snapshotOut(k.entry, groupByTags, false),
            matches: k.reasons,
            counters: Object.fromEntries(Object.entries(k.counters).filter(([, v]) => v !== 0)),
          }))
        : null,
  }))
  return goJson(JSON.stringify(out)) + '\n'
}

function groupHeader(g: ForgetGroup): string | undefined {
  const parts: string[] = []
  if (g.key.hostname !== '') parts.push(`host [${g.key.hostname}]`)
  if (g.key.tags !== null) parts.push(`tags [${g.key.tags.join(', ')}]`)
  if (g.key.paths !== null) parts.push(`paths [${g.key.paths.join(', ')}]`)
  return parts.length > 0 ? `snapshots for (${parts.join(', ')}):` : undefined
}

/** The policy's lists run newest first; restic prints them newest last. */
const newestLast = <T>(rows: T[]): T[] => rows.reverse()

function printText(term: Terminal, result: ForgetResult, dryRun: boolean, compact: boolean, idsGiven: boolean, byTags: boolean): void {
  if (result.policyEmpty && result.groups.length === 0 && result.removed.length === 0) {
    // IDs none of which named a snapshot were reported one by one already
    if (!idsGiven) term.info('no policy was specified, no snapshots will be removed')
    return
  }
  if (!result.policyEmpty && result.groups.length > 0) term.info(`Applying Policy: ${result.policyText}`)
  for (const g of result.groups) {
    const header = groupHeader(g)
    if (header) term.info(header)
    if (g.keep.length > 0) term.info(`keep ${g.keep.length} snapshots:\n${snapshotTable(newestLast(g.keep.map((k) => ({ id: k.entry.id, snapshot: asGrouped(k.entry.snapshot, byTags), reasons: k.reasons }))), compact)}\n`)
    if (g.remove.length > 0) term.info(`remove ${g.remove.length} snapshots:\n${snapshotTable(newestLast(g.remove.map((e) => ({ id: e.id, snapshot: asGrouped(e.snapshot, byTags) }))), compact)}\n`)
  }
  if (result.removed.length === 0) return
  // restic prints the set of IDs as Go formats it: short IDs, sorted, in braces.
  if (dryRun) term.info(`Would have removed the following snapshots:\n{${[...result.removed].sort().map((id) => id.slice(0, 8)).join(' ')}}\n\n`)
  else term.info(`removed ${result.removed.length} snapshots`)
}

export function registerForget(program: Command, ctx: CommandContext): void {
  addPruneOptions(
    program
      .command('forget')
      .description('Remove snapshots by ID or by a retention policy (prune frees their data)')
      .argument('[snapshot...]', 'snapshot IDs (or "latest") to remove; without them the policy decides')
      .option('-l, --keep-last <n>', 'keep the last n snapshots ("unlimited" for all)')
      .option('-H, --keep-hourly <n>', 'keep the last n hourly snapshots')
      .option('-d, --keep-daily <n>', 'keep the last n daily snapshots')
      .option('-w, --keep-weekly <n>', 'keep the last n weekly snapshots')
      .option('-m, --keep-monthly <n>', 'keep the last n monthly snapshots')
      .option('-y, --keep-yearly <n>', 'keep the last n yearly snapshots')
      .option('--keep-within <duration>', 'keep snapshots newer than duration (e.g. 1y5m7d2h) before the newest snapshot')
      .option('--keep-within-hourly <duration>', 'keep hourly snapshots within duration of the newest')
      .option('--keep-within-daily <duration>', 'keep daily snapshots within duration of the newest')
      .option('--keep-within-weekly <duration>', 'keep weekly snapshots within duration of the newest')
      .option('--keep-within-monthly <duration>', 'keep monthly snapshots within duration of the newest')
      .option('--keep-within-yearly <duration>', 'keep yearly snapshots within duration of the newest')
      .option('--keep-tag <taglist>', 'keep snapshots with all these tags ("a,b"; repeatable)', collect, [])
      .option('--host <host>', 'only consider snapshots of this host (repeatable)', collect, [])
      .addOption(new Option('--hostname <host>', 'the same as --host (restic\'s older name)').argParser(collect).default([]).hideHelp())
      .option('--tag <taglist>', 'only consider snapshots with these tags ("a,b"; repeatable)', collect, [])
      .option('--path <path>', 'only consider snapshots including this path (repeatable)', collect, [])
      .option('-c, --compact', 'use compact output')
      .option('-g, --group-by <group>', 'group snapshots by host, paths and/or tags ("" for no grouping)', 'host,paths')
      .option('-n, --dry-run', 'only show what would be removed')
      .option('--prune', 'run prune afterwards if snapshots were removed'),
  )
    .addHelpText(
      'after',
      '\nforget deletes snapshot files only; the data stays until "cairn prune" (or --prune).\n\nExamples:\n  cairn forget --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --prune\n  cairn forget --keep-last 3 --group-by host --dry-run\n  cairn forget 1a2b3c4d',
    )
    .action(async (ids: string[], opts: ForgetFlags) => {
      const term = ctx.term
      if (ctx.globals.lock === false && !opts.dryRun) {
        throw new AppError('INVALID_ARGUMENT', '--no-lock can only be used together with --dry-run for forget', { hint: 'Add --dry-run, or drop --no-lock' })
      }
      const policy = retentionPolicyFromFlags(opts)
      const { signal, dispose } = interruptSignal()
      try {
        const result = await withRepository(forWriting(ctx.repositoryOptions(), opts.dryRun === true), 'exclusive', (repo) =>
          runForget(repo, {
            ids,
            policy,
            groupBy: opts.groupBy,
            filter: { hosts: [...opts.host, ...opts.hostname], tags: opts.tag, paths: opts.path },
            dryRun: opts.dryRun,
            prune: opts.prune ? pruneRequest(opts, term, ctx.globals.packSize) : undefined,
            signal,
            onWarning: (m) => term.warn(m),
            onForgotten: (forgotten) => {
              const byTags = /(^|,)tags?(,|$)/.test(opts.groupBy)
              if (!term.json) printText(term, forgotten, opts.dryRun === true, opts.compact === true, ids.length > 0, byTags)
              else if (forgotten.groups.length > 0) process.stdout.write(forgetJson(forgotten.groups, byTags))
            },
          }),
        )
        if (result.prune && !term.json) reportPrune(term, result.prune)
      } finally {
        dispose()
        term.done()
      }
    })
}
