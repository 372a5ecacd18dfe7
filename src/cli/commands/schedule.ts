import { execFile } from 'node:child_process'
import { mkdir, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { isAbsolute, join } from 'node:path'
import type { Command } from 'commander'
import { AppError, messageOf } from '../../base/index.js'
import { loadConfig } from '../../config/index.js'
import {
  crontabBlock,
  daemonUnit,
  hasCrontabBlock,
  MARKER,
  planFromConfig,
  replaceCrontabBlock,
  stateDirectory,
  systemdUnits,
  type CairnCommand,
  type ScheduledSet,
  type UnitFile,
} from '../../daemon/index.js'
import type { CommandContext } from '../context.js'
import { addConfigOption } from './config.js'

interface ScheduleFlags {
  config?: string
  cron?: boolean
  dryRun?: boolean
  daemon?: boolean
  unitDir?: string
  enable?: boolean
}

/** ~/.config/systemd/user (or under $XDG_CONFIG_HOME). */
function userUnitDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME
  const base = xdg !== undefined && xdg !== '' && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.config')
  return join(base, 'systemd', 'user')
}

function run(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 127) : 0
      resolve({ code, stdout, stderr: err && code === 127 ? messageOf(err) : stderr })
    })
    if (input !== undefined) child.stdin?.end(input)
  })
}

async function must(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input)
  if (r.code !== 0) {
    throw new AppError('IO', `"${cmd} ${args.join(' ')}" failed: ${r.stderr.trim() || `exit status ${r.code}`}`, {
      hint: cmd === 'systemctl' ? 'Is there a systemd user session? Use --cron, or run "cairn daemon" instead' : 'Is cron installed? Use systemd timers (without --cron) or "cairn daemon"',
    })
  }
  return r.stdout
}

async function readCrontab(): Promise<string> {
  const r = await run('crontab', ['-l'])
  if (r.code === 0) return r.stdout
  if (/no crontab/i.test(r.stderr)) return ''
  throw new AppError('IO', `"crontab -l" failed: ${r.stderr.trim() || `exit status ${r.code}`}`, { hint: 'Is cron installed? Use systemd timers (without --cron) or "cairn daemon"' })
}

async function cairnCommand(config: string): Promise<CairnCommand> {
  const script = process.argv[1] ? await realpath(process.argv[1]).catch(() => process.argv[1]) : 'cairn'
  return { node: process.execPath, script, config }
}

export function registerSchedule(program: Command, ctx: CommandContext): void {
  const schedule = program
    .command('schedule')
    .description('Let systemd timers or cron run the sets on their schedules, instead of "cairn daemon"')
    .addHelpText(
      'after',
      '\nExamples:\n  cairn schedule install --dry-run\n  cairn schedule install\n  cairn schedule install --cron\n  cairn schedule install --daemon   # a user service running "cairn daemon"\n  cairn schedule remove',
    )

  addConfigOption(schedule.command('install').description('Write a systemd user timer per scheduled set (or a crontab entry with --cron)').argument('[set...]', 'only these sets (default: every set with a schedule)'))
    .option('--cron', 'write entries in your crontab instead of systemd timers')
    .option('--daemon', 'instead of timers, install a systemd user service that runs "cairn daemon"')
    .option('-n, --dry-run', 'print what would be written, change nothing')
    .option('--no-enable', 'write the units but do not enable or start them')
    .option('--unit-dir <dir>', 'where to write systemd units (default: ~/.config/systemd/user)')
    .addHelpText(
      'after',
      '\nEach scheduled set gets cairn-SET.service (runs "cairn run SET") and cairn-SET.timer\n(OnCalendar from its schedule, Persistent=true to make up runs missed while off).\n\nExamples:\n  cairn schedule install --dry-run\n  cairn schedule install data\n  cairn schedule install --cron\n  cairn schedule install --daemon',
    )
    .action(async (sets: string[], opts: ScheduleFlags) => {
      const term = ctx.term
      const loaded = await loadConfig(opts.config)
      const plan = planFromConfig(loaded)
      const cmd = await cairnCommand(loaded.file)
      let chosen: ScheduledSet[] = []
      if (!opts.daemon) {
        for (const name of sets) if (!plan.sets.some((s) => s.name === name)) throw new AppError('CONFIG', `No set "${name}" in "${loaded.file}"`, { hint: `Sets: ${plan.sets.map((s) => s.name).join(', ')}` })
        const wanted = plan.sets.filter((s) => sets.length === 0 || sets.includes(s.name))
        for (const s of wanted) if (s.schedule === undefined && sets.includes(s.name)) throw new AppError('CONFIG', `Set "${s.name}" has no schedule`, { hint: 'Add "schedule: daily 02:30" (or another schedule) to the set' })
        chosen = wanted.filter((s) => s.schedule !== undefined).map((s) => ({ name: s.name, schedule: s.schedule as NonNullable<typeof s.schedule> }))
        if (chosen.length === 0) throw new AppError('CONFIG', `No set in "${loaded.file}" has a schedule`, { hint: 'Add "schedule: daily 02:30" (or another schedule) to a set' })
        if (plan.maintenance.length > 0) term.warn(`Note: scheduled prunes and checks (${plan.maintenance.map((t) => t.id).join(', ')}) run only under "cairn daemon"`)
      }

      if (opts.cron) {
        if (opts.daemon) throw new AppError('INVALID_ARGUMENT', '--daemon and --cron cannot be combined', { hint: 'Start "cairn daemon" from @reboot in your crontab yourself, or use the systemd service' })
        const logDir = stateDirectory()
        const { block, notes } = crontabBlock(chosen, cmd, logDir)
        for (const n of notes) term.warn(`Note: ${n}`)
        if (opts.dryRun) {
          term.out(`Would add to your crontab:\n${block}`)
          return
        }
        await mkdir(logDir, { recursive: true, mode: 0o700 })
        await must('crontab', ['-'], replaceCrontabBlock(await readCrontab(), block))
        term.info(`Added ${chosen.length} entr${chosen.length === 1 ? 'y' : 'ies'} to your crontab (logs in ${logDir}/cron-SET.log)`)
        return
      }

      const dir = opts.unitDir ?? userUnitDir()
      const files: UnitFile[] = opts.daemon ? [daemonUnit(cmd)] : chosen.flatMap((s) => systemdUnits(s, cmd))
      const toEnable = opts.daemon ? ['cairn-daemon.service'] : chosen.map((s) => `cairn-${s.name}.timer`)
      if (opts.dryRun) {
        for (const f of files) term.out(`Would write ${join(dir, f.name)}:\n${f.content}`)
        if (opts.enable !== false) term.out(`Would run: systemctl --user daemon-reload && systemctl --user enable --now ${toEnable.join(' ')}`)
        return
      }
      await mkdir(dir, { recursive: true })
      for (const f of files) await writeFile(join(dir, f.name), f.content)
      term.info(`Wrote ${files.map((f) => join(dir, f.name)).join(', ')}`)
      if (opts.enable !== false) {
        await must('systemctl', ['--user', 'daemon-reload'])
        await must('systemctl', ['--user', 'enable', '--now', ...toEnable])
        term.info(`Enabled ${toEnable.join(', ')}; see them with: systemctl --user list-timers 'cairn-*'`)
      }
    })

  schedule
    .command('remove')
    .description('Remove the timers, service or crontab entries "schedule install" wrote')
    .option('--cron', 'remove the crontab entries instead of systemd units')
    .option('-n, --dry-run', 'print what would be removed, change nothing')
    .option('--unit-dir <dir>', 'where the systemd units are (default: ~/.config/systemd/user)')
    .addHelpText('after', '\nOnly files that start with cairn\'s marker line, and only cairn\'s crontab block, are removed.\n\nExamples:\n  cairn schedule remove --dry-run\n  cairn schedule remove\n  cairn schedule remove --cron')
    .action(async (opts: ScheduleFlags) => {
      const term = ctx.term
      if (opts.cron) {
        const before = await readCrontab()
        const after = replaceCrontabBlock(before, undefined)
        if (!hasCrontabBlock(before)) {
          term.info('No cairn entries in your crontab')
          return
        }
        if (opts.dryRun) {
          term.out(`Would set your crontab to:\n${after}`)
          return
        }
        if (after === '') await must('crontab', ['-r'])
        else await must('crontab', ['-'], after)
        term.info('Removed the cairn entries from your crontab')
        return
      }
      const dir = opts.unitDir ?? userUnitDir()
      const ours: string[] = []
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (!/^cairn-.*\.(service|timer)$/.test(name)) continue
        const text = await readFile(join(dir, name), 'utf8').catch(() => '')
        if (text.startsWith(MARKER)) ours.push(name)
      }
      if (ours.length === 0) {
        term.info(`No units written by cairn in ${dir}`)
        return
      }
      const active = ours.filter((n) => n.endsWith('.timer') || n === 'cairn-daemon.service')
      if (opts.dryRun) {
        term.out(`Would run: systemctl --user disable --now ${active.join(' ')}\nWould remove: ${ours.map((n) => join(dir, n)).join(', ')}`)
        return
      }
      if (active.length > 0) {
        const r = await run('systemctl', ['--user', 'disable', '--now', ...active])
        if (r.code !== 0) term.warn(`Note: "systemctl --user disable --now" failed (${r.stderr.trim()}); removing the files anyway`)
      }
      for (const n of ours) await rm(join(dir, n), { force: true })
      await run('systemctl', ['--user', 'daemon-reload'])
      term.info(`Removed ${ours.map((n) => join(dir, n)).join(', ')}`)
    })
}
