/**
 * The cairn command line: global flags, the command table, and the one place where errors
 * become messages and exit codes (restic's: 0 ok, 1 fatal, 3 partial backup, 10 no repository,
 * 11 locked, 12 wrong password, 130 interrupted, 141 output closed by its reader).
 */
import { Command, CommanderError } from 'commander'
import { AppError, type ErrorCode } from '../base/index.js'
import { releaseAllLocks } from '../repository/index.js'
import { VERSION } from './commands/version.js'
import { CommandContext } from './context.js'
import { collect, nonNegativeInt } from './options.js'

type Register = (program: Command, ctx: CommandContext) => void

/** The commands in the order help lists them, each with the loader of its module. */
const COMMANDS: ReadonlyArray<readonly [string, () => Promise<Register>]> = [
  ['init', async () => (await import('./commands/init.js')).registerInit],
  ['backup', async () => (await import('./commands/backup.js')).registerBackup],
  ['snapshots', async () => (await import('./commands/snapshots.js')).registerSnapshots],
  ['ls', async () => (await import('./commands/ls.js')).registerLs],
  ['restore', async () => (await import('./commands/restore.js')).registerRestore],
  ['cat', async () => (await import('./commands/cat.js')).registerCat],
  ['list', async () => (await import('./commands/list.js')).registerList],
  ['unlock', async () => (await import('./commands/unlock.js')).registerUnlock],
  ['check', async () => (await import('./commands/check.js')).registerCheck],
  ['repair', async () => (await import('./commands/repair.js')).registerRepair],
  ['forget', async () => (await import('./commands/forget.js')).registerForget],
  ['prune', async () => (await import('./commands/prune.js')).registerPrune],
  ['key', async () => (await import('./commands/key.js')).registerKey],
  ['tag', async () => (await import('./commands/tag.js')).registerTag],
  ['rewrite', async () => (await import('./commands/rewrite.js')).registerRewrite],
  ['recover', async () => (await import('./commands/recover.js')).registerRecover],
  ['migrate', async () => (await import('./commands/migrate.js')).registerMigrate],
  ['find', async () => (await import('./commands/find.js')).registerFind],
  ['diff', async () => (await import('./commands/diff.js')).registerDiff],
  ['dump', async () => (await import('./commands/dump.js')).registerDump],
  ['stats', async () => (await import('./commands/stats.js')).registerStats],
  ['cache', async () => (await import('./commands/cache.js')).registerCache],
  ['serve', async () => (await import('./commands/serve.js')).registerServe],
  ['copy', async () => (await import('./commands/copy.js')).registerCopy],
  ['config', async () => (await import('./commands/config.js')).registerConfig],
  ['run', async () => (await import('./commands/run.js')).registerRun],
  ['daemon', async () => (await import('./commands/daemon.js')).registerDaemon],
  ['schedule', async () => (await import('./commands/schedule.js')).registerSchedule],
  ['status', async () => (await import('./commands/status.js')).registerStatus],
  ['runs', async () => (await import('./commands/runs.js')).registerRuns],
  ['version', async () => (await import('./commands/version.js')).registerVersion],
]

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

/**
 * Builds the program with the commands named in `argv` (every command when it names none, as
 * for help or a typo). Each command's module is loaded only then: a backup does not load the
 * daemon, the server or the config file's schema.
 */
export async function buildProgram(argv: readonly string[] = []): Promise<{ program: Command; ctx: CommandContext }> {
  const named = COMMANDS.filter(([name]) => argv.includes(name))
  const registers = await Promise.all((named.length > 0 ? named : COMMANDS).map(([, load]) => load()))
  const program = new Command('cairn')
  const ctx = new CommandContext(program)
  program
    .description('Backups for people who self-host their data (restic-compatible repositories)')
    .version(VERSION, '-V, --version')
    .option('-r, --repo <url>', 'repository (also CAIRN_REPOSITORY or RESTIC_REPOSITORY)')
    .option('-p, --password-file <file>', 'read the password from a file (also CAIRN_PASSWORD_FILE)')
    .option('--password-command <cmd>', 'run a command to get the password (also CAIRN_PASSWORD_COMMAND)')
    .option('--key-hint <id>', 'try this key file first')
    .option('--json', 'print JSON instead of text')
    .option('-q, --quiet', 'print only results and errors')
    .option('-v, --verbose', 'print more (repeat for even more)', (_v: string, prev: number) => prev + 1, 0)
    .option('--no-lock', 'do not lock the repository (read-only commands only)')
    .option('-o, --option <key=value>', 'set a backend option, as restic does (repeat for more)', collect)
    .option('--cacert <file>', 'trust this PEM CA certificate for TLS (repeat for more)', collect)
    .option('--tls-client-cert <file>', 'present this PEM client certificate (with its key) over TLS')
    .option('--limit-upload <KiB/s>', 'limit uploads to this many KiB/s', nonNegativeInt('--limit-upload'))
    .option('--limit-download <KiB/s>', 'limit downloads to this many KiB/s', nonNegativeInt('--limit-download'))
    .option('--no-cache', 'do not use the local cache of repository metadata')
    .option('--cache-dir <dir>', 'where the local cache lives (default: ~/.cache/cairn)')
    .option('--compression <mode>', 'compress new data: auto, off or max (also CAIRN_COMPRESSION)')
    .option('--pack-size <MiB>', 'target size of new packs in MiB, 4 to 128 (also CAIRN_PACK_SIZE)', nonNegativeInt('--pack-size'))
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
  for (const register of registers) register(program, ctx)
  for (const c of program.commands) c.exitOverride()
  return { program, ctx }
}

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const { program, ctx } = await buildProgram(argv.slice(2))
  try {
    await program.parseAsync(argv)
    return ctx.exitCode
  } catch (err) {
    await releaseAllLocks()
    return reportError(err)
  }
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
