import type { Command } from 'commander'
import { DaemonClient, stateDirectory, type RunJson, type SetStatusJson, type StatusJson } from '../../daemon/index.js'
import type { CommandContext } from '../context.js'
import { formatBytes, formatDuration, table } from '../output/format.js'

interface StatusFlags {
  stateDir?: string
  url?: string
}

/** "2025-03-29 02:30:00" in the local zone, or "-". */
export function localTime(iso: string | null): string {
  if (iso === null) return '-'
  const d = new Date(iso)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

/** "success (1,234 files, 5.000 MiB, 1:05)", "failure: nas: connection refused". */
export function runSummary(run: RunJson | null): string {
  if (run === null) return 'never ran'
  if (run.result === 'running') return 'running'
  const took = run.durationSeconds === null ? '' : `, ${formatDuration(run.durationSeconds)}`
  if (run.result === 'success' || run.result === 'partial') {
    const amount = run.kind === 'backup' ? `${run.files.toLocaleString('en-US')} files, ${formatBytes(run.bytes)}` : 'done'
    return `${run.result} (${amount}${took})`
  }
  return `${run.result}${run.errors.length > 0 ? `: ${run.errors[0]}` : ''}`
}

/** A table cell cut to a width a terminal holds: a failure's whole errors follow the table. */
function cell(text: string, width = 60): string {
  const line = text.split('\n')[0]
  return line.length <= width ? line : `${line.slice(0, width - 1)}…`
}

function destinations(s: SetStatusJson): string {
  return s.destinations
    .map((d) => {
      const notes: string[] = []
      if (d.removable) notes.push(d.present === false ? 'not connected' : d.present === true ? 'connected' : 'removable')
      if (d.pending) notes.push('pending')
      return notes.length > 0 ? `${d.name} (${notes.join(', ')})` : d.name
    })
    .join(', ')
}

function active(s: { active: SetStatusJson['active'] }): string | undefined {
  const a = s.active
  if (!a) return undefined
  if (a.state === 'waiting') return 'waiting for its repositories'
  const p = a.progress
  const where = p?.destination ? ` to ${p.destination}` : ''
  return `running${where} since ${localTime(a.startedAt)}${p ? `: ${p.files.toLocaleString('en-US')} files, ${formatBytes(p.bytes)}` : ''}`
}

/** The status as text. */
export function formatStatus(s: StatusJson): string {
  const out: string[] = []
  out.push(`cairn daemon ${s.version} on ${s.host} (pid ${s.pid}), running since ${localTime(s.startedAt)}`)
  out.push('')
  out.push(
    table(
      ['Set', 'Last result', 'Last run', 'Next run', 'Destinations'],
      s.sets.map((set) => [
        set.name,
        active(set) ?? cell(runSummary(set.lastRun)),
        localTime(set.lastRun?.startedAt ?? null),
        set.nextRun === null ? (set.schedule === null ? 'not scheduled' : '-') : localTime(set.nextRun),
        destinations(set),
      ]),
    ).trimEnd(),
  )
  if (s.tasks.length > 0) {
    out.push('')
    out.push(
      table(
        ['Task', 'Last result', 'Last run', 'Next run'],
        s.tasks.map((t) => [t.id, active(t) ?? cell(runSummary(t.lastRun)), localTime(t.lastRun?.startedAt ?? null), localTime(t.nextRun)]),
      ).trimEnd(),
    )
  }
  const failed = s.sets.filter((x) => x.lastRun && (x.lastRun.result === 'failure' || x.lastRun.result === 'partial'))
  for (const f of failed) {
    out.push('')
    out.push(`${f.name}: ${f.lastRun?.result} at ${localTime(f.lastRun?.startedAt ?? null)}:`)
    for (const e of f.lastRun?.errors ?? []) out.push(`  ${e}`)
  }
  return `${out.join('\n')}\n`
}

/** Options shared by the commands that talk to the daemon. */
export function addDaemonClientOptions(cmd: Command): Command {
  return cmd
    .option('--state-dir <dir>', 'the daemon\'s state directory (default: $XDG_STATE_HOME/cairn or ~/.local/state/cairn)')
    .option('--url <url>', 'the daemon\'s API (default: from daemon.json in the state directory)')
}

/** A client for the flags of `status` and `runs`. */
export function clientFor(opts: StatusFlags): DaemonClient {
  return new DaemonClient({ stateDir: opts.stateDir ?? stateDirectory(), ...(opts.url === undefined ? {} : { url: opts.url }) })
}

export function registerStatus(program: Command, ctx: CommandContext): void {
  addDaemonClientOptions(program.command('status').description('Show what the daemon does: each set\'s last result, next run and destinations'))
    .addHelpText('after', '\nAsks the running daemon ("cairn daemon") over its local API, with the token from its state directory.\n\nExamples:\n  cairn status\n  cairn status --json')
    .action(async (opts: StatusFlags) => {
      const status = await clientFor(opts).status()
      if (ctx.term.json) ctx.term.jsonLine(status)
      else ctx.term.out(formatStatus(status))
    })
}
