/**
 * For users who prefer the system's scheduler to the daemon: systemd user timers (one service
 * and one timer per scheduled set, `Persistent=true` so a missed run is made up at boot) or a
 * block in the user's crontab. Pure rendering here; the `schedule` command writes the files and
 * runs systemctl or crontab. Every file and block carries a marker so `remove` deletes only
 * what `install` wrote.
 */
import { AppError } from '../base/index.js'
import type { Schedule } from '../config/index.js'

/** The first line of every file and the start of the crontab block cairn writes. */
export const MARKER = '# Written by "cairn schedule install"; "cairn schedule remove" deletes it.'
const CRON_BEGIN = '# BEGIN cairn schedule (written by "cairn schedule install --cron"; "cairn schedule remove --cron" deletes it)'
const CRON_END = '# END cairn schedule'

/** What to schedule: a set and how to run `cairn`. */
export interface ScheduledSet {
  name: string
  schedule: Schedule
}

/** How the scheduler starts cairn: the node binary and the CLI script, plus the config file. */
export interface CairnCommand {
  node: string
  script: string
  config: string
}

/** A file to write. */
export interface UnitFile {
  name: string
  content: string
}

const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']

/** Quotes an argument for systemd's ExecStart= and for sh (crontab): single quotes when needed. */
function quote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg
  return `'${arg.replace(/'/g, `'\\''`)}'`
}

function commandLine(c: CairnCommand, args: string[]): string {
  return [c.node, c.script, ...args].map(quote).join(' ')
}

function unsupported(s: Schedule, why: string): AppError {
  return new AppError('UNSUPPORTED', `Cannot write schedule "${s.text}" (${s.cron}) as a systemd OnCalendar expression: ${why}`, {
    hint: 'Use "cairn schedule install --cron", or run "cairn daemon", which understands every schedule',
  })
}

/** One cron field in systemd's syntax (`a..b` ranges, `start/step` repetition, lists). */
function field(s: Schedule, value: string, start: number, pad: boolean): string {
  if (value === '*') return '*'
  const p = (n: string) => (pad ? n.padStart(2, '0') : n)
  return value
    .split(',')
    .map((part) => {
      let m: RegExpExecArray | null
      if ((m = /^\*\/(\d+)$/.exec(part))) return `${p(String(start))}/${m[1]}`
      if ((m = /^(\d+)-(\d+)\/(\d+)$/.exec(part))) return `${p(m[1])}..${p(m[2])}/${m[3]}`
      if ((m = /^(\d+)\/(\d+)$/.exec(part))) return `${p(m[1])}/${m[2]}`
      if ((m = /^(\d+)-(\d+)$/.exec(part))) return `${p(m[1])}..${p(m[2])}`
      if (/^\d+$/.test(part)) return p(part)
      throw unsupported(s, `the part "${part}" has no systemd equivalent`)
    })
    .join(',')
}

function weekdays(s: Schedule, value: string): string {
  if (value === '*') return ''
  const day = (d: string) => {
    if (!/^\d+$/.test(d) || Number(d) > 7) throw unsupported(s, `the weekday "${d}" has no systemd equivalent`)
    return DAY_NAMES[Number(d) % 7]
  }
  return value
    .split(',')
    .map((part) => {
      const m = /^(\d+)-(\d+)$/.exec(part)
      return m ? `${day(m[1])}..${day(m[2])}` : day(part)
    })
    .join(',')
}

const MONTH_NUMBERS: Record<string, number> = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 }
const DAY_NUMBERS: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 }

/** A cron field with its month or weekday names (`mon-fri`, `jan,jul`) as numbers. */
function numbered(value: string, names: Record<string, number>): string {
  return value.replace(/[a-z]{3}/gi, (w) => String(names[w.toLowerCase()] ?? w))
}

/**
 * The OnCalendar= expression for a schedule. Throws UNSUPPORTED for what systemd cannot say
 * (a day of month and a weekday together: cron fires on either, systemd only on both).
 *
 * @example
 * onCalendar(parseSchedule('weekly sun 03:00', { timeZone: 'Europe/Berlin' })) // 'Sun *-*-* 03:00:00 Europe/Berlin'
 */
export function onCalendar(s: Schedule): string {
  const [min, hour, dom, monNamed, dowNamed] = s.cron.split(' ')
  const mon = numbered(monNamed, MONTH_NUMBERS)
  const dow = numbered(dowNamed, DAY_NUMBERS)
  if (dom !== '*' && dow !== '*') throw unsupported(s, 'it names both days of the month and weekdays')
  const days = weekdays(s, dow)
  const date = dom.toUpperCase() === 'L' ? `*-${field(s, mon, 1, true)}~01` : `*-${field(s, mon, 1, true)}-${field(s, dom, 1, true)}`
  const time = `${field(s, hour, 0, true)}:${field(s, min, 0, true)}:00`
  return `${days ? `${days} ` : ''}${date} ${time}${s.timeZone ? ` ${s.timeZone}` : ''}`
}

/** The service and timer of one set. */
export function systemdUnits(set: ScheduledSet, cmd: CairnCommand): UnitFile[] {
  const base = `cairn-${set.name}`
  const service = [
    MARKER,
    '[Unit]',
    `Description=cairn backup set "${set.name}"`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${commandLine(cmd, ['run', set.name, '--config', cmd.config])}`,
    '# SIGTERM lets the set\'s finally hooks run before it stops.',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=10min',
    'Nice=10',
    'IOSchedulingClass=idle',
    '',
  ].join('\n')
  const timer = [
    MARKER,
    '[Unit]',
    `Description=When cairn backs up set "${set.name}" (${set.schedule.text})`,
    '',
    '[Timer]',
    `OnCalendar=${onCalendar(set.schedule)}`,
    '# A run missed while the machine was off or asleep runs once at the next start.',
    'Persistent=true',
    ...(set.schedule.jitterMs > 0 ? [`RandomizedDelaySec=${Math.round(set.schedule.jitterMs / 1000)}`] : []),
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n')
  return [
    { name: `${base}.service`, content: service },
    { name: `${base}.timer`, content: timer },
  ]
}

/** A user service that runs `cairn daemon` (for `install --daemon`). */
export function daemonUnit(cmd: CairnCommand): UnitFile {
  const content = [
    MARKER,
    '[Unit]',
    'Description=cairn backup daemon (schedules, removable drives, notifications)',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    `ExecStart=${commandLine(cmd, ['daemon', '--config', cmd.config])}`,
    'Restart=on-failure',
    'RestartSec=30',
    '# SIGTERM stops it after the running sets\' finally hooks.',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=10min',
    'Nice=10',
    'IOSchedulingClass=idle',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n')
  return { name: 'cairn-daemon.service', content }
}

/**
 * The crontab block for the sets. Cron reads times in the system's zone and has no jitter, so a
 * schedule with a time zone is refused and a jitter is left out (listed in `notes`).
 */
export function crontabBlock(sets: readonly ScheduledSet[], cmd: CairnCommand, logDir: string): { block: string; notes: string[] } {
  const notes: string[] = []
  const lines = [CRON_BEGIN]
  for (const s of sets) {
    if (s.schedule.timeZone !== undefined) {
      throw new AppError('UNSUPPORTED', `Cannot write set "${s.name}" to the crontab: its schedule has the time zone "${s.schedule.timeZone}" and cron uses the system's`, {
        hint: 'Remove the time zone, or use systemd timers ("cairn schedule install" without --cron) or "cairn daemon"',
      })
    }
    if (s.schedule.jitterMs > 0) notes.push(`Set "${s.name}": cron has no jitter; it runs exactly at ${s.schedule.cron}`)
    const log = `${logDir}/cron-${s.name}.log`
    const { fields, guard } = cronFields(s)
    // cron turns an unescaped % into a newline.
    const command = `${guard}${commandLine(cmd, ['run', s.name, '--config', cmd.config])} >> ${quote(log)} 2>&1`.replace(/%/g, '\\%')
    lines.push(`${fields} ${command}`)
  }
  lines.push(CRON_END)
  return { block: lines.join('\n'), notes }
}

/**
 * A schedule's cron fields as cron takes them. cron knows no "L" (last day of the month, from
 * "monthly last"): that runs on days 28-31 behind a test that tomorrow is the 1st. Any other
 * use of "L" is refused, naming the set, rather than failing the whole crontab.
 */
function cronFields(s: ScheduledSet): { fields: string; guard: string } {
  const f = s.schedule.cron.trim().split(/\s+/)
  if (!/l/i.test(s.schedule.cron)) return { fields: s.schedule.cron, guard: '' }
  if (f.length === 5 && f[2].toUpperCase() === 'L' && f[4] === '*' && !f.some((x, i) => i !== 2 && /l/i.test(x))) {
    f[2] = '28-31'
    return { fields: f.join(' '), guard: '[ "$(date -d tomorrow +%d)" = 01 ] && ' }
  }
  throw new AppError('UNSUPPORTED', `Cannot write set "${s.name}" to the crontab: cron has no "L" in "${s.schedule.cron}"`, {
    hint: 'Use "monthly last HH:MM" (which cron runs through a test of the date), or systemd timers ("cairn schedule install" without --cron) or "cairn daemon"',
  })
}

/** True when the crontab holds cairn's block. */
export function hasCrontabBlock(crontab: string): boolean {
  return crontab.split('\n').includes(CRON_BEGIN)
}

/** The crontab with cairn's block replaced by `block` (or removed, for undefined). */
export function replaceCrontabBlock(crontab: string, block: string | undefined): string {
  const lines = crontab.split('\n')
  const out: string[] = []
  let inside = false
  for (const line of lines) {
    if (line === CRON_BEGIN) inside = true
    else if (inside && line === CRON_END) inside = false
    else if (!inside) out.push(line)
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop()
  if (block !== undefined) out.push(block)
  return out.length === 0 ? '' : `${out.join('\n')}\n`
}
