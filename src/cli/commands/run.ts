import type { Command } from 'commander'
import { interruptSignal } from '../../app/index.js'
import { runSets, type DestinationResult, type RunEvent, type RunResult, type SetRunResult } from '../../app/sets.js'
import { AppError } from '../../base/index.js'
import { formatIssue, loadConfig } from '../../config/index.js'
import type { CommandContext } from '../context.js'
import { capYoungGeneration } from '../heap.js'
import { collect } from '../options.js'
import { formatBytes, formatDuration } from '../output/format.js'
import type { Terminal } from '../output/terminal.js'
import { addConfigOption } from './config.js'

interface RunFlags {
  config?: string
  destination?: string[]
  init?: boolean
  prune?: boolean
  check?: boolean
}

function destinationLine(d: DestinationResult): string {
  const secs = formatDuration(d.durationMs / 1000)
  if (d.status === 'skipped') return `${d.destination}: skipped: ${(d.reason ?? '').replace(/^not needed: /, 'not needed, ')}`
  if (d.status === 'failed') return `${d.destination}: FAILED: ${d.reason ?? d.errors[0] ?? 'unknown error'}`
  const what =
    d.via === 'copy'
      ? `copied from ${d.copiedFrom} as snapshot ${d.snapshotId?.slice(0, 8)} (${formatBytes(d.bytes ?? 0)} stored)`
      : `snapshot ${d.snapshotId?.slice(0, 8)} saved (${d.files ?? 0} files, ${formatBytes(d.bytes ?? 0)}, ${formatBytes(d.dataAdded ?? 0)} added)`
  const forget = d.forget ? `; forget: ${d.forget.removed} removed${d.forget.pruned ? ', pruned' : ''}` : ''
  const check = d.check ? `; check: ${d.check.ok ? 'no errors' : `${d.check.errors} errors`}` : ''
  return `${d.destination}: ${what} in ${secs}${forget}${check}`
}

function printEvent(term: Terminal, e: RunEvent): void {
  switch (e.type) {
    case 'set-start':
      term.info(`== set ${e.set} (${e.mode}: ${e.destinations.join(', ')})`)
      break
    case 'hook-start':
      term.info(`   ${e.hook} hook: ${e.command}`)
      break
    case 'hook-output':
      term.info(`   | ${e.line}`)
      break
    case 'hook-end':
      if (!e.run.ok) term.warn(`   ${e.run.error}${e.run.continueOnError ? ' (continue-on-error)' : ''}`)
      break
    case 'destination-start':
      if (e.action === 'init') term.info(`   ${e.destination}: creating the repository`)
      else term.status(`   ${e.destination}: ${e.action}…`)
      break
    case 'progress':
      term.status(`   ${e.destination}: ${e.files} files, ${formatBytes(e.bytes)}${e.errors > 0 ? `, ${e.errors} errors` : ''}`)
      break
    case 'warning':
      term.warn(`   ${e.destination ? `${e.destination}: ` : ''}${e.message}`)
      break
    case 'destination-end':
      term.info(`   ${destinationLine(e.result)}`)
      for (const err of e.result.status === 'ok' ? e.result.errors : []) term.warn(`   ${e.result.destination}: ${err}`)
      break
    case 'set-end': {
      // Errors of the set itself (it runs already elsewhere, an unexpected failure); hooks' own
      // failures were shown as they ended.
      const shown = new Set(e.result.hooks.map((h) => h.error))
      for (const err of e.result.errors) if (!shown.has(err)) term.warn(`   ${err}`)
      term.info(`== ${e.set}: ${e.result.status} in ${formatDuration(e.result.durationMs / 1000)}`)
      break
    }
  }
}

function summary(r: RunResult): string {
  const width = Math.max(...r.sets.map((s) => s.set.length))
  const line = (s: SetRunResult) => {
    const made = s.destinations.filter((d) => d.status === 'ok').map((d) => d.destination)
    const absent = s.destinations.filter((d) => d.skip === 'absent').map((d) => d.destination)
    const failed = s.destinations.filter((d) => d.status === 'failed').map((d) => d.destination)
    const parts = [made.length > 0 ? `to ${made.join(', ')}` : '', absent.length > 0 ? `absent: ${absent.join(', ')}` : '', failed.length > 0 ? `failed: ${failed.join(', ')}` : '']
    return `  ${s.set.padEnd(width)}  ${s.status.padEnd(11)} ${parts.filter((p) => p !== '').join('; ')}`
  }
  return `Summary:\n${r.sets.map(line).join('\n')}`
}

export function registerRun(program: Command, ctx: CommandContext): void {
  addConfigOption(
    program
      .command('run')
      .description('Run backup sets from the config file now: hooks, backups, retention')
      .argument('[set...]', 'sets to run (default: every set in the file)'),
  )
    .option('--destination <name>', 'only this destination (repeatable)', collect)
    .option('--init', 'create destination repositories that do not exist yet')
    .option('--prune', 'prune every destination, whatever the sets say')
    .option('--no-prune', 'do not prune, whatever the sets say')
    .option('--check', 'check every destination after its backup')
    .option('--no-check', 'do not check, whatever the sets say')
    .addHelpText(
      'after',
      '\nExit codes: 0 every set ok (or skipped: a removable drive was absent), 3 some set partly failed,\n1 a set failed, 130 interrupted (finally hooks still run).\n\nExamples:\n  cairn run\n  cairn run data --config ./cairn.yaml\n  cairn run --init --json',
    )
    .action(async (sets: string[], opts: RunFlags) => {
      capYoungGeneration()
      const term = ctx.term
      if (ctx.globals.repo !== undefined) term.warn('Note: -r/--repo is ignored by "run": destinations come from the config file')
      const loaded = await loadConfig(opts.config)
      if (!term.json) for (const w of loaded.warnings) term.warn(formatIssue(w))
      const { signal, dispose } = interruptSignal()
      let result: RunResult
      try {
        const g = ctx.globals
        result = await runSets({
          config: loaded,
          sets,
          signal,
          ...(opts.destination ? { destinations: opts.destination } : {}),
          ...(opts.init ? { init: true } : {}),
          ...(opts.prune === undefined ? {} : { prune: opts.prune }),
          ...(opts.check === undefined ? {} : { check: opts.check }),
          shared: {
            noCache: g.cache === false,
            ...(g.cacheDir === undefined ? {} : { cacheDir: g.cacheDir }),
            ...(g.retryLock === undefined ? {} : { retryLockMs: g.retryLock }),
            onNotice: (m) => term.warn(m),
            onBackendMessage: (m) => term.warn(m),
          },
          onEvent: (e) => {
            if (!term.json) printEvent(term, e)
          },
        })
      } finally {
        dispose()
        term.done()
      }
      if (term.json) term.jsonLine(result)
      else if (result.sets.length > 1) term.info(summary(result))
      if (result.exitCode === 130) throw new AppError('INTERRUPTED', 'Run interrupted: the backup in progress was stopped and finally hooks ran')
      ctx.exitCode = result.exitCode
    })
}
