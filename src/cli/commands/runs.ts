import { join } from 'node:path'
import type { Command } from 'commander'
import { AppError } from '../../base/index.js'
import { RunHistory, runJson, runningDaemon, stateDirectory, STATE_FILES, type DaemonClient, type RunJson } from '../../daemon/index.js'
import type { CommandContext } from '../context.js'
import { formatBytes, formatDuration, table } from '../output/format.js'
import { addDaemonClientOptions, clientFor, localTime } from './status.js'

interface RunsFlags {
  stateDir?: string
  url?: string
  limit?: string
  show?: string
}

function positive(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new AppError('INVALID_ARGUMENT', `Invalid ${what} "${text}": expected a whole number from 1`)
  return Number(text)
}

function outcome(r: RunJson): string {
  if (r.result === 'success' || r.result === 'partial') {
    const ids = r.snapshotIds.map((id) => id.slice(0, 8)).join(' ')
    return ids ? `snapshot ${ids}` : ''
  }
  return r.errors[0] ?? ''
}

/** Runs as a table. */
export function formatRuns(runs: RunJson[]): string {
  return table(
    ['ID', 'Job', 'Trigger', 'Started', 'Took', 'Result', 'Files', 'Size', 'Details'],
    runs.map((r) => [
      String(r.id),
      r.kind === 'backup' ? r.job : `${r.job}`,
      r.trigger,
      localTime(r.startedAt),
      r.durationSeconds === null ? '-' : formatDuration(r.durationSeconds),
      r.result,
      r.kind === 'backup' ? r.files.toLocaleString('en-US') : '',
      r.kind === 'backup' ? formatBytes(r.bytes) : '',
      outcome(r),
    ]),
    `${runs.length} runs`,
  )
}

/** One run with its destinations, errors and log. */
export function formatRun(r: RunJson, log: string): string {
  const out = [
    `Run ${r.id}: ${r.kind} "${r.job}" (${r.trigger})`,
    `  result:   ${r.result}`,
    `  started:  ${localTime(r.startedAt)}`,
    `  ended:    ${localTime(r.endedAt)}${r.durationSeconds === null ? '' : ` (${formatDuration(r.durationSeconds)})`}`,
  ]
  if (r.kind === 'backup') out.push(`  amount:   ${r.files.toLocaleString('en-US')} files, ${formatBytes(r.bytes)}`)
  if (r.destinations.length > 0) {
    out.push('  destinations:')
    for (const d of r.destinations) out.push(`    ${d.name}: ${d.status}${d.snapshotId ? `, snapshot ${d.snapshotId.slice(0, 8)}` : ''}${d.error ? ` - ${d.error}` : ''}`)
  }
  if (r.errors.length > 0) {
    out.push('  errors:')
    for (const e of r.errors) out.push(`    ${e}`)
  }
  out.push('', 'Log:', log.trimEnd() === '' ? '  (empty)' : log.trimEnd().split('\n').map((l) => `  ${l}`).join('\n'))
  return `${out.join('\n')}\n`
}

export function registerRuns(program: Command, ctx: CommandContext): void {
  addDaemonClientOptions(
    program
      .command('runs')
      .description('List the runs the daemon recorded, newest first, or show one with its log')
      .argument('[job]', 'only runs of this set (or maintenance task)'),
  )
    .option('-n, --limit <n>', 'show at most this many runs (default 20)')
    .option('--show <id>', 'show one run: destinations, errors and its log')
    .addHelpText('after', '\nExamples:\n  cairn runs\n  cairn runs data --limit 5\n  cairn runs --show 42\n  cairn runs --json')
    .action(async (job: string | undefined, opts: RunsFlags) => {
      const client = opts.url !== undefined || runningDaemon(opts.stateDir ?? stateDirectory()) !== undefined ? clientFor(opts) : historyFile(opts)
      if (opts.show !== undefined) {
        const id = positive(opts.show, 'run id')
        // One after the other: an unknown id is then always reported by the first.
        const run = await client.run(id)
        const log = await client.log(id)
        if (ctx.term.json) ctx.term.jsonLine({ ...run, log })
        else ctx.term.out(formatRun(run, log))
        return
      }
      const runs = await client.runs({ ...(job === undefined ? {} : { job }), limit: opts.limit === undefined ? 20 : positive(opts.limit, '--limit') })
      if (ctx.term.json) ctx.term.jsonLine(runs)
      else ctx.term.out(formatRuns(runs))
    })
}

/**
 * The history file itself, read only, when no daemon runs: after a crash is when it is needed
 * most. Answers as the daemon's API would.
 */
function historyFile(opts: RunsFlags): Pick<DaemonClient, 'run' | 'log' | 'runs'> {
  const path = join(opts.stateDir ?? stateDirectory(), STATE_FILES.history)
  const open = <T>(read: (h: RunHistory) => T): T => {
    const h = RunHistory.openReadOnly(path)
    try {
      return read(h)
    } finally {
      h.close()
    }
  }
  const missing = (id: number) => new AppError('NOT_FOUND', `There is no run ${id} in the history "${path}"`, { hint: 'List the runs with "cairn runs"' })
  return {
    run: async (id) =>
      open((h) => {
        const r = h.get(id)
        if (r === undefined) throw missing(id)
        return runJson(r)
      }),
    log: async (id) =>
      open((h) => {
        const text = h.log(id)
        if (text === undefined) throw missing(id)
        return text
      }),
    runs: async (q) => open((h) => h.list(q).map(runJson)),
  }
}
