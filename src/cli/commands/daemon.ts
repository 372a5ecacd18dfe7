import type { Command } from 'commander'
import { AppError } from '../../base/index.js'
import { formatIssue, loadConfig } from '../../config/index.js'
import { appRunMaintenance, appRunSet, Daemon, DEFAULT_HISTORY_RETENTION, DEFAULT_LISTEN, planFromConfig, stateDirectory, type ListenAddress } from '../../daemon/index.js'
import { releaseAllLocks } from '../../repository/index.js'
import type { CommandContext } from '../context.js'
import { capYoungGeneration } from '../heap.js'
import { addConfigOption } from './config.js'
import { VERSION } from './version.js'

interface DaemonFlags {
  config?: string
  stateDir?: string
  listen?: string
  api?: boolean
  historyDays?: string
}

/** "127.0.0.1:7439", "[::1]:7439", ":7439" (loopback) or "7439". */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text)
  const port = m ? Number(m[3]) : NaN
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new AppError('INVALID_ARGUMENT', `Invalid --listen "${text}": expected HOST:PORT`, { hint: 'For example --listen 127.0.0.1:7439, --listen [::1]:7439, or --listen 0.0.0.0:7439 to serve other machines' })
  }
  const host = m[1] ?? m[2]
  return { host: host === '' || host === undefined ? DEFAULT_LISTEN.host : host, port }
}

function positiveDays(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new AppError('INVALID_ARGUMENT', `Invalid --history-days "${text}": expected a whole number of days from 1`)
  return Number(text)
}

/** One log line on stderr: time, level, message. */
function logLine(level: 'info' | 'warn', message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${level === 'warn' ? 'WARN ' : ''}${message}\n`)
}

export function registerDaemon(program: Command, ctx: CommandContext): void {
  addConfigOption(program.command('daemon').description('Run the sets on their schedules, watch removable drives, notify, keep history (foreground)'))
    .option('--state-dir <dir>', 'where history, API token and daemon.json live (default: $XDG_STATE_HOME/cairn or ~/.local/state/cairn)')
    .option('--listen <host:port>', `where the status API listens (default ${DEFAULT_LISTEN.host}:${DEFAULT_LISTEN.port})`)
    .option('--no-api', 'do not serve the status API (cairn status will not work)')
    .option('--history-days <n>', 'forget recorded runs older than this many days, keeping each set\'s last 20 (default 90)')
    .addHelpText(
      'after',
      [
        '',
        'Runs in the foreground and logs to stderr, for systemd, launchd or a container.',
        'SIGTERM or Ctrl-C stops it after the running sets have run their finally hooks;',
        'a second signal stops at once. Restart it to apply changes to the config file.',
        '',
        'Examples:',
        '  cairn daemon',
        '  cairn daemon --config /etc/cairn/cairn.yaml --listen 127.0.0.1:7500',
        '  cairn schedule install --daemon     # as a systemd user service',
      ].join('\n'),
    )
    .action(async (opts: DaemonFlags) => {
      capYoungGeneration()
      const term = ctx.term
      const loaded = await loadConfig(opts.config)
      for (const w of loaded.warnings) term.warn(formatIssue(w))
      const plan = planFromConfig(loaded)
      const g = ctx.globals
      const shared = { noCache: g.cache === false, ...(g.cacheDir === undefined ? {} : { cacheDir: g.cacheDir }) }
      logLine('info', `Config "${loaded.file}": ${plan.sets.map((s) => `${s.name} (${s.schedule?.text ?? 'no schedule'})`).join(', ') || 'no sets'}`)
      const daemon = await Daemon.start({
        plan,
        runSet: appRunSet({ config: () => loaded, shared }),
        runMaintenance: appRunMaintenance({ config: () => loaded, shared }),
        stateDir: opts.stateDir ?? stateDirectory(),
        listen: opts.api === false ? false : opts.listen === undefined ? DEFAULT_LISTEN : parseListen(opts.listen),
        version: VERSION,
        log: logLine,
        ...(opts.historyDays === undefined ? {} : { historyRetention: { keepDays: positiveDays(opts.historyDays), keepPerJob: DEFAULT_HISTORY_RETENTION.keepPerJob } }),
      })
      await new Promise<void>((resolve) => {
        let signals = 0
        const onSignal = (sig: NodeJS.Signals) => {
          signals++
          if (signals > 1) {
            logLine('warn', `${sig} again: stopping now`)
            void releaseAllLocks().finally(() => process.exit(130))
            return
          }
          logLine('info', `${sig}: stopping after the running sets finish their finally hooks (send it again to stop at once)`)
          void daemon.stop().then(() => {
            process.off('SIGINT', onSignal)
            process.off('SIGTERM', onSignal)
            logLine('info', 'Stopped')
            resolve()
          })
        }
        process.on('SIGINT', onSignal)
        process.on('SIGTERM', onSignal)
      })
    })
}
