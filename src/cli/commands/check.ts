import { Option, type Command } from 'commander'
import type { Id } from '../../base/index.js'
import { interruptSignal, runCheck, type CheckPhase, type CheckProblem, type CheckReport } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { keepYoungGenerationSmall } from '../heap.js'
import { formatBytes, formatTime } from '../output/format.js'
import type { Terminal } from '../output/terminal.js'

interface CheckFlags {
  readData?: boolean
  readDataSubset?: string
  withCache?: boolean
}

const PHASE_TEXT: Record<CheckPhase, string> = {
  'load-index': 'load indexes',
  'check-packs': 'check all packs',
  'check-snapshots': 'check snapshots, trees and blobs',
  'read-data': 'read data',
  locate: 'find the files that use damaged blobs',
}

export function registerCheck(program: Command, ctx: CommandContext): void {
  program
    .command('check')
    .description('Check the repository for errors, and name the snapshots and files they affect')
    .option('--read-data', 'also read all packs and verify every blob')
    .option('--read-data-subset <subset>', 'read only some packs: "n/t" (group n of t), "x%" or a size such as "500M"')
    .option('--with-cache', 'accepted for restic compatibility (check never uses a cache)')
    .addOption(new Option('--check-unused', 'accepted for restic compatibility (restic 0.14 ignores it too)').hideHelp())
    .addHelpText(
      'after',
      '\nExit status is 0 when no errors were found and 1 when the repository contains errors.\n\nExamples:\n  cairn check\n  cairn check --read-data\n  cairn check --read-data-subset 1/7   (one seventh of the packs; 1/7 … 7/7 cover all)\n  cairn check --json',
    )
    .action(async (opts: CheckFlags) => {
      keepYoungGenerationSmall()
      // restic takes an empty subset (`--read-data-subset=$SUBSET` with SUBSET unset) as none.
      if (opts.readDataSubset === '') opts.readDataSubset = undefined
      const term = ctx.term
      const { signal, dispose } = interruptSignal()
      // Walking the trees and reading data run at once: each phase keeps its own counts, and
      // the status line shows every phase still under way.
      const active = new Map<CheckPhase, { total: number; done: number; bytes: number }>()
      try {
        const report = await runCheck(ctx.repositoryOptions(), {
          readData: opts.readData,
          readDataSubset: opts.readDataSubset,
          signal,
          progress: {
            phase: (p, n) => {
              // A new phase ends the earlier ones, except that reading data goes on beside the walk.
              for (const q of active.keys()) if (!(q === 'check-snapshots' && p === 'read-data')) active.delete(q)
              active.set(p, { total: n, done: 0, bytes: 0 })
              const which = opts.readDataSubset === undefined ? 'all data' : `data of subset ${opts.readDataSubset}`
              term.info(p === 'read-data' ? `read ${which}: ${n} packs` : PHASE_TEXT[p])
            },
            advance: (p, items, b) => {
              const c = active.get(p)
              if (c === undefined) return
              c.done += items
              c.bytes += b
              const parts: string[] = []
              for (const [q, { total, done, bytes }] of active) {
                const of = total > 0 ? ` / ${total}` : ''
                parts.push(`[${PHASE_TEXT[q]}] ${done}${of}${bytes > 0 ? `  ${formatBytes(bytes)}` : ''}`)
              }
              term.status(parts.join('   '))
            },
          },
        })
        term.done()
        if (term.json) printJson(term, report)
        else printText(term, report)
        if (report.errors.length > 0) {
          term.warn('Fatal: repository contains errors')
          ctx.exitCode = 1
        }
      } finally {
        dispose()
      }
    })
}

function printJson(term: Terminal, report: CheckReport): void {
  // Problems on stderr, as restic prints them; the summary alone on stdout.
  for (const e of report.errors) term.jsonError({ message_type: 'error', ...e })
  for (const h of report.hints) term.jsonError({ message_type: 'hint', ...h })
  term.jsonLine({
    message_type: 'summary',
    num_errors: report.errors.length,
    broken_packs: report.brokenPacks,
    missing_packs: report.missingPacks,
    damaged_packs: report.damagedPacks,
    unreadable_packs: report.unreadablePacks,
    broken_snapshots: report.brokenSnapshots,
    unreadable_snapshots: report.unreadableSnapshots,
    suggest_repair_index: report.suggestRepairIndex,
    suggest_prune: report.suggestPrune,
    // indexFiles → index_files: the message's own spelling
    ...Object.fromEntries(Object.entries(report.stats).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v])),
  })
}

const PATHS_SHOWN = 5
const SNAPSHOTS_SHOWN = 10

/** "— affects 2 snapshots:" plus one line per snapshot with its damaged paths. */
function describeAffected(e: CheckProblem, verbose: boolean, treesIncomplete: boolean): string[] {
  if (e.affected === undefined) return []
  if (e.kind === 'snapshot-unreadable') return []
  if (e.affected.length === 0) return [treesIncomplete ? ' — no snapshot whose folders could be read uses what was lost' : ' — no snapshot uses what was lost']
  const n = e.affected.length
  const lines = [` — affects ${n} snapshot${n === 1 ? '' : 's'}:`]
  const shown = verbose ? e.affected : e.affected.slice(0, SNAPSHOTS_SHOWN)
  for (const s of shown) {
    const paths = verbose ? s.paths : s.paths.slice(0, PATHS_SHOWN)
    const more = s.morePaths + s.paths.length - paths.length
    const when = s.time ? ` (${formatTime(s.time)})` : ''
    lines.push(`    ${s.id.slice(0, 8)}${when}: ${paths.join(', ')}${more > 0 ? `, and ${more} more` : ''}`)
  }
  if (shown.length < n) lines.push(`    … and ${n - shown.length} more snapshots (use -v or --json to see all)`)
  return lines
}

function printText(term: Terminal, report: CheckReport): void {
  const verbose = term.verbose > 0
  // Unreferenced packs can number thousands after an index is lost: listed with -v only, as restic does.
  for (const h of report.hints) if (h.kind !== 'pack-unreferenced' || verbose) term.info(h.message)
  const count = (kind: CheckProblem['kind']) => report.hints.filter((h) => h.kind === kind).length
  const unreferenced = count('pack-unreferenced')
  if (unreferenced > 0) {
    const what = `${unreferenced} pack${unreferenced === 1 ? ' is' : 's are'} not referenced by any index${verbose ? '' : ' (-v lists them)'}`
    if (report.errors.length > 0 && report.suggestRepairIndex) term.info(`${what}; they may hold data reported missing below, which "cairn repair index" would find`)
    else term.info(`${what}; they hold data a killed or failed run stored without indexing it, or duplicate data. This is not an error: "cairn prune" removes them`)
  }
  if (count('duplicate-pack') + count('index-old-format') > 0) term.info('This is not an error: "cairn repair index" tidies up the index')
  if (count('mixed-pack') > 0) term.info('Packs with both tree and data blobs are not an error: "cairn prune" repacks them')
  for (const e of report.errors) {
    const [first, ...rest] = describeAffected(e, verbose, report.treesIncomplete)
    term.warn(`error: ${e.message}${first ?? ''}${rest.length > 0 ? '\n' + rest.join('\n') : ''}`)
  }
  if (report.errors.length === 0) {
    term.info('no errors were found')
    return
  }
  term.warn('')
  const ids = (packs: Id[]) => packs.map((p) => p.slice(0, 8)).join(' ')
  const packs = (n: number) => `${n} pack${n === 1 ? '' : 's'}`
  const afterwards =
    'back up the affected files again if they still exist, which stores their lost data anew; then run "cairn repair snapshots --forget" to drop from the snapshots what is still missing.'
  if (report.unreadablePacks.length > 0) {
    term.warn(
      `${packs(report.unreadablePacks.length)} cannot be read for lack of permission: ${ids(report.unreadablePacks)}. That is no damage and nothing is lost: ` +
        "make sure the user running cairn may read the repository's files, then check again.",
    )
  }
  if (report.damagedPacks.length > 0) {
    term.warn(
      `${packs(report.damagedPacks.length)} damaged: ${ids(report.damagedPacks)}. ` +
        `To repair: run "cairn repair packs ${ids(report.damagedPacks)}", which saves a copy of each pack in the current folder, stores again every blob in them that is intact and removes them; ` +
        `if it reports lost blobs, ${afterwards}`,
    )
  }
  if (report.missingPacks.length > 0) {
    term.warn(`${packs(report.missingPacks.length)} missing: ${ids(report.missingPacks)}. To repair: run "cairn repair index" so the index lists only the packs there are; ${afterwards}`)
  } else if (report.brokenPacks.length === 0 && report.suggestRepairIndex) {
    // A plain "repair index" keeps the entries of every pack whose size matches: a header that
    // disagrees with them needs every header read, or the same advice comes back.
    const readAll = report.errors.some((e) => e.kind === 'pack-header-mismatch')
    term.warn(`The index does not match the packs: run "cairn repair index${readAll ? ' --read-all-packs' : ''}" to rebuild it from the pack headers, then check again.`)
  } else if (report.brokenPacks.length === 0 && report.unreadableSnapshots.length === 0 && report.brokenSnapshots.length === 0) {
    // Nothing above to repair first (a snapshot whose tree no pack holds, say): say what is left to do.
    term.warn(`Data the snapshots need is not in the repository, and no pack holds it: ${afterwards}`)
  }
  if (report.unreadableSnapshots.length > 0) {
    const n = report.unreadableSnapshots.length
    term.warn(
      `${n} snapshot file${n === 1 ? '' : 's'} cannot be read for lack of permission: ${ids(report.unreadableSnapshots)}. That is no damage and nothing is lost: ` +
        "make sure the user running cairn may read the repository's files, then check again.",
    )
  }
  if (report.brokenSnapshots.length > 0) {
    term.warn(
      `${report.brokenSnapshots.length} snapshot file${report.brokenSnapshots.length === 1 ? '' : 's'} cannot be read. Unless a copy of the repository has ${report.brokenSnapshots.length === 1 ? 'it' : 'them'} intact, ` +
        `save what ${report.brokenSnapshots.length === 1 ? 'it' : 'they'} held with "cairn recover", then remove ${report.brokenSnapshots.length === 1 ? 'it' : 'them'}: cairn forget ${report.brokenSnapshots.map((s) => s.slice(0, 8)).join(' ')}`,
    )
  }
}
