/**
 * The command tree: global flags and the table of commands, each loaded only when a run needs
 * it. `main.ts` runs it; `generate` walks all of it.
 */
import { Command } from 'commander'
import { VERSION } from './commands/version.js'
import { CommandContext } from './context.js'
import { collect, goDuration, nonNegativeInt } from './options.js'

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
  ['generate', async () => (await import('./commands/generate.js')).registerGenerate],
  ['version', async () => (await import('./commands/version.js')).registerVersion],
]

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
    .option('--repository-file <file>', 'read the repository URL from a file (also CAIRN_REPOSITORY_FILE or RESTIC_REPOSITORY_FILE)')
    .option('-p, --password-file <file>', 'read the password from a file (also CAIRN_PASSWORD_FILE or RESTIC_PASSWORD_FILE)')
    .option('--password-command <cmd>', 'run a command to get the password (also CAIRN_PASSWORD_COMMAND or RESTIC_PASSWORD_COMMAND)')
    .option('--key-hint <id>', 'try this key file first (also CAIRN_KEY_HINT or RESTIC_KEY_HINT)')
    .option('--json', 'print JSON instead of text')
    .option('-q, --quiet', 'print only results and errors')
    .option('-v, --verbose', 'print more (repeat for even more)', (_v: string, prev: number) => prev + 1, 0)
    .option('--no-lock', 'do not lock the repository (read-only commands only)')
    .option('--retry-lock <duration>', 'when the repository is locked, try again for up to this long (e.g. 5m), as restic does', goDuration('--retry-lock'))
    .option('-o, --option <key=value>', 'set a backend option, as restic does (repeat for more)', collect)
    .option('--cacert <file>', 'trust this PEM CA certificate for TLS (repeat for more)', collect)
    .option('--tls-client-cert <file>', 'present this PEM client certificate (with its key) over TLS')
    .option('--insecure-tls', 'do not verify the TLS certificate of the server (insecure: prefer --cacert)')
    .option('--limit-upload <KiB/s>', 'limit uploads to this many KiB/s', nonNegativeInt('--limit-upload'))
    .option('--limit-download <KiB/s>', 'limit downloads to this many KiB/s', nonNegativeInt('--limit-download'))
    .option('--no-cache', 'do not use the local cache of repository metadata')
    .option('--cache-dir <dir>', 'where the local cache lives (default: ~/.cache/cairn)')
    .option('--cleanup-cache', 'remove the caches of repositories not used for 30 days')
    .option('--compression <mode>', 'compress new data: auto, off or max (also CAIRN_COMPRESSION)')
    .option('--pack-size <MiB>', 'target size of new packs in MiB, 4 to 128 (also CAIRN_PACK_SIZE)', nonNegativeInt('--pack-size'))
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
  for (const register of registers) register(program, ctx)
  for (const c of program.commands) c.exitOverride()
  return { program, ctx }
}

