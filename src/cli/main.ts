/**
 * The cairn command line: global flags, the command table, and the one place where errors
 * become messages and exit codes (restic's: 0 ok, 1 fatal, 3 partial backup, 10 no repository,
 * 11 locked, 12 wrong password, 130 interrupted).
 */
import { setFlagsFromString } from 'node:v8'
import { Command, CommanderError } from 'commander'
import { AppError, type ErrorCode } from '../base/index.js'
import { releaseAllLocks } from '../repository/index.js'
import { registerBackup } from './commands/backup.js'
import { registerCat } from './commands/cat.js'
import { registerCheck } from './commands/check.js'
import { registerForget } from './commands/forget.js'
import { registerInit } from './commands/init.js'
import { registerLs } from './commands/ls.js'
import { registerPrune } from './commands/prune.js'
import { registerRepair } from './commands/repair.js'
import { registerRestore } from './commands/restore.js'
import { registerSnapshots } from './commands/snapshots.js'
import { registerUnlock } from './commands/unlock.js'
import { registerVersion, VERSION } from './commands/version.js'
import { registerConfig } from './commands/config.js'
import { registerRun } from './commands/run.js'
import { registerKey } from './commands/key.js'
import { registerTag } from './commands/tag.js'
import { registerFind } from './commands/find.js'
import { registerDiff } from './commands/diff.js'
import { registerDump } from './commands/dump.js'
import { registerStats } from './commands/stats.js'
import { registerCache } from './commands/cache.js'
import { registerServe } from './commands/serve.js'
import { registerCopy } from './commands/copy.js'
import { registerDaemon } from './commands/daemon.js'
import { registerRuns } from './commands/runs.js'
import { registerSchedule } from './commands/schedule.js'
import { registerStatus } from './commands/status.js'
import { CommandContext } from './context.js'
import { collect, nonNegativeInt } from './options.js'

const EXIT_CODES: Partial<Record<ErrorCode, number>> = {
  NO_REPOSITORY: 10,
  LOCKED: 11,
  WRONG_PASSWORD: 12,
  INTERRUPTED: 130,
  PARTIAL: 3,
}

export function buildProgram(): { program: Command; ctx: CommandContext } {
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
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
  registerInit(program, ctx)
  registerBackup(program, ctx)
  registerSnapshots(program, ctx)
  registerLs(program, ctx)
  registerRestore(program, ctx)
  registerCat(program, ctx)
  registerUnlock(program, ctx)
  registerCheck(program, ctx)
  registerRepair(program, ctx)
  registerForget(program, ctx)
  registerPrune(program, ctx)
  registerKey(program, ctx)
  registerTag(program, ctx)
  registerFind(program, ctx)
  registerDiff(program, ctx)
  registerDump(program, ctx)
  registerStats(program, ctx)
  registerCache(program, ctx)
  registerServe(program, ctx)
  registerCopy(program, ctx)
  registerConfig(program, ctx)
  registerRun(program, ctx)
  registerDaemon(program, ctx)
  registerSchedule(program, ctx)
  registerStatus(program, ctx)
  registerRuns(program, ctx)
  registerVersion(program, ctx)
  for (const c of program.commands) c.exitOverride()
  return { program, ctx }
}

// A small young generation: cairn's short-lived objects are small, and the default semi-spaces
// only add resident memory.
setFlagsFromString('--max-semi-space-size=2')

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const { program, ctx } = buildProgram()
  try {
    await program.parseAsync(argv)
    return ctx.exitCode
  } catch (err) {
    await releaseAllLocks()
    return reportError(err)
  }
}

function reportError(err: unknown): number {
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
  const code = await main(process.argv)
  process.exitCode = code
}
