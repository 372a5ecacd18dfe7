/**
 * The cairn command line: global flags, the command table, and the one place where errors
 * become messages and exit codes (restic's: 0 ok, 1 fatal, 3 partial backup, 10 no repository,
 * 11 locked, 12 wrong password, 130 interrupted, 141 output closed by its reader).
 */
import { CommanderError, type Command } from 'commander'
import { AppError, type ErrorCode } from '../base/index.js'
import { releaseAllLocks } from '../repository/index.js'
import { waitForPipeReaders } from './output/terminal.js'
import { buildProgram } from './program.js'
import { withRawBytes } from './raw-argv.js'

const EXIT_CODES: Partial<Record<ErrorCode, number>> = {
  NO_REPOSITORY: 10,
  LOCKED: 11,
  WRONG_PASSWORD: 12,
  INTERRUPTED: 130,
  PARTIAL: 3,
}

/** The exit code when whoever reads the output closes it first: SIGPIPE's, which ends restic then. */
const EXIT_OUTPUT_CLOSED = 141

/** How writing to stdout failed, once it has. */
let outputFailure: NodeJS.ErrnoException | undefined

/**
 * Ends the run once writing to stdout fails. A reader that stops early (`cairn find … | head`)
 * closes the pipe and the next write fails with EPIPE: the run ends without a word and with exit
 * code 141, as restic ends (killed by SIGPIPE), since whoever closed the pipe wants no more. Any
 * other failure (a full disk behind `> file`) is reported, with exit code 1. Either way this
 * process's locks are removed first, and a command cut short leaves the repository as a crash
 * would: consistent. A failure to write to stderr is ignored: there is nowhere to report it.
 */
function endWhenOutputFails(): void {
  waitForPipeReaders()
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (outputFailure !== undefined) return // later writes fail too
    outputFailure = err
    if (err.code !== 'EPIPE') process.stderr.write(`Fatal: Cannot write the output: ${err.message}\n`)
    void releaseAllLocks().finally(() => process.exit(outputFailureExitCode(err)))
  })
  process.stderr.on('error', () => {})
}

/**
 * Signals for every command, as restic handles them: SIGINT and SIGTERM remove this process's
 * locks and end the run with exit code 130 (Node's default would end it at once and leave its
 * lock behind, stale), unless the command handles them itself to stop cleanly
 * (interruptSignal: backup, restore, check and the other long ones). SIGHUP is ignored: restic
 * 0.14 sends it to the process of a lock to see whether it still runs, which must not end us.
 */
function handleSignals(): void {
  // bin/cairn.js's handlers for the time it took to load this.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(signal)
  const onSignal = (signal: NodeJS.Signals) => {
    if (process.listenerCount(signal) > 1) return // the command stops itself
    process.stderr.write('Fatal: Interrupted\n')
    void releaseAllLocks().finally(() => process.exit(EXIT_CODES.INTERRUPTED))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGHUP', () => {})
}

function outputFailureExitCode(err: NodeJS.ErrnoException): number {
  return err.code === 'EPIPE' ? EXIT_OUTPUT_CLOSED : 1
}

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  argv = expandVerbosity(withRawBytes(argv))
  const { program, ctx } = await buildProgram(argv.slice(2))
  argv = pflagForms(argv, program)
  try {
    await program.parseAsync(argv)
    return ctx.exitCode
  } catch (err) {
    await releaseAllLocks()
    return reportError(err)
  }
}

/** restic's `--verbose=N` (a count flag with a value) as N times `--verbose`, which commander counts. */
function expandVerbosity(argv: string[]): string[] {
  const end = argv.indexOf('--')
  return argv.flatMap((a, i) => {
    const m = /^--verbose=(\d{1,2})$/.exec(a)
    return m !== null && (end < 0 || i < end) ? Array<string>(Number(m[1])).fill('--verbose') : [a]
  })
}

/**
 * The forms of restic's flag parser (pflag) that commander reads otherwise: `-H=host` is
 * `-H host` (commander took "=host" as the value, so a filter silently matched nothing), and a
 * switch given a value, `--dry-run=true` or `-n=false`, is the switch or nothing. Only for flags
 * the program has, before any `--`.
 */
export function pflagForms(argv: string[], program: Command): string[] {
  const valued = new Set<string>()
  const switches = new Set<string>()
  const visit = (c: Command) => {
    for (const o of c.options) {
      for (const flag of [o.short, o.long]) {
        if (flag === undefined) continue
        if (o.required || o.optional) valued.add(flag)
        else if (!o.negate) switches.add(flag)
      }
    }
    c.commands.forEach(visit)
  }
  visit(program)
  const end = argv.indexOf('--')
  return argv.flatMap((a, i) => {
    if (i < 2 || (end >= 0 && i >= end)) return [a]
    const m = /^(-[A-Za-z]|--[a-z][a-z0-9-]*)=(.*)$/s.exec(a)
    if (m === null) return [a]
    const [, flag, value] = m
    if (flag.length === 2 && valued.has(flag)) return [flag, value]
    if (switches.has(flag) && !valued.has(flag)) {
      // Go's strconv.ParseBool, as pflag reads a switch's value
      if (/^(1|t|T|true|TRUE|True)$/.test(value)) return [flag]
      if (/^(0|f|F|false|FALSE|False)$/.test(value)) return []
    }
    return [a]
  })
}

function reportError(err: unknown): number {
  // The command failed because its output did (endWhenOutputFails has said all there is to say).
  if (outputFailure !== undefined) return outputFailureExitCode(outputFailure)
  if (err instanceof CommanderError) {
    // commander printed its own message (or help/version, with exit code 0)
    return err.exitCode === 0 ? 0 : 1
  }
  if (err instanceof AppError) {
    const hint = err.hint ? ` (${err.hint})` : ''
    process.stderr.write(`Fatal: ${err.message}${hint}\n`)
    return EXIT_CODES[err.code] ?? 1
  }
  if (err instanceof RangeError || err instanceof TypeError) {
    process.stderr.write(`Fatal: ${err.message}\n`)
    if (process.env.CAIRN_DEBUG) process.stderr.write(`${err.stack}\n`)
    return 1
  }
  process.stderr.write(`Fatal: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  return 1
}

if (process.argv[1] && /cairn(\.js)?$|cli\/main\.js$/.test(process.argv[1])) {
  endWhenOutputFails()
  handleSignals()
  const code = await main(process.argv)
  process.exitCode = code
}
