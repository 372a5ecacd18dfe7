import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { describe, it } from 'node:test'
import { parseSchedule } from '../config/index.js'
import { crontabBlock, hasCrontabBlock, MARKER, onCalendar, replaceCrontabBlock, systemdUnits } from './schedule-install.js'

const cmd = { node: '/usr/bin/node', script: '/opt/cairn/bin/cairn.js', config: '/home/me/.config/cairn/cairn.yaml' }

/** systemd's own reading of a calendar expression: its next elapse after now, or undefined without systemd-analyze. */
function systemdNext(expr: string): Promise<Date | undefined> {
  return new Promise((resolve) => {
    execFile('systemd-analyze', ['calendar', expr], { env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' } }, (err, stdout) => {
      if (err) return resolve(undefined)
      const m = /Next elapse: \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/.exec(stdout)
      resolve(m ? new Date(`${m[1].replace(' ', 'T')}Z`) : undefined)
    })
  })
}

describe('onCalendar()', () => {
  const cases: [string, string | undefined, string][] = [
    ['daily 02:30', undefined, '*-*-* 02:30:00'],
    ['hourly :15', undefined, '*-*-* *:15:00'],
    ['every 15m', undefined, '*-*-* *:00/15:00'],
    ['every 6h', undefined, '*-*-* 00/6:00:00'],
    ['weekly sun 03:00', 'Europe/Berlin', 'Sun *-*-* 03:00:00 Europe/Berlin'],
    ['weekdays 07:00', undefined, 'Mon..Fri *-*-* 07:00:00'],
    ['weekly mon,thu 22:15', undefined, 'Mon,Thu *-*-* 22:15:00'],
    ['monthly 15 04:00', undefined, '*-*-15 04:00:00'],
    ['monthly last 23:00', undefined, '*-*~01 23:00:00'],
    ['0 9-17 * 1-6 *', undefined, '*-01..06-* 09..17:00:00'],
    // Cron's names, which the schedule parser takes, and "L" (last day of the month).
    ['*/10 8-18 * * mon-fri', undefined, 'Mon..Fri *-*-* 08..18:00/10:00'],
    ['0 9 * * sat,sun', undefined, 'Sat,Sun *-*-* 09:00:00'],
    ['0 3 1 jan,jul *', undefined, '*-01,07-01 03:00:00'],
    ['0 0 L * *', undefined, '*-*~01 00:00:00'],
  ]

  it('writes each schedule in systemd’s syntax', () => {
    for (const [text, tz, expected] of cases) assert.equal(onCalendar(parseSchedule(text, tz ? { timeZone: tz } : {})), expected, text)
  })

  it('systemd reads each expression as cairn reads the schedule (same next run)', async (t) => {
    if ((await systemdNext('*-*-* 00:00:00')) === undefined) return t.skip('systemd-analyze is not available')
    for (const [text, tz] of cases) {
      const s = parseSchedule(text, tz ? { timeZone: tz } : { timeZone: 'UTC' })
      // systemd takes its own "now": a run time may pass between the two.
      const before = s.nextRun(new Date()).toISOString()
      const theirs = (await systemdNext(onCalendar(s)))?.toISOString()
      const after = s.nextRun(new Date()).toISOString()
      assert.ok(theirs === before || theirs === after, `${text}: ${onCalendar(s)}: systemd ${theirs}, cairn ${before}`)
    }
  })

  it('refuses what systemd cannot express, naming the alternatives', () => {
    assert.throws(() => onCalendar(parseSchedule('0 3 1 * 1')), /both days of the month and weekdays.*|--cron/s)
  })
})

describe('systemdUnits()', () => {
  it('writes a oneshot service running "cairn run SET" and a persistent timer with the jitter', () => {
    const [service, timer] = systemdUnits({ name: 'data', schedule: parseSchedule('daily 02:30', { jitter: '15m' }) }, { ...cmd, config: '/home/me/my config.yaml' })
    assert.equal(service.name, 'cairn-data.service')
    assert.ok(service.content.startsWith(MARKER))
    assert.match(service.content, /^ExecStart=\/usr\/bin\/node \/opt\/cairn\/bin\/cairn\.js run data --config '\/home\/me\/my config\.yaml'$/m)
    assert.match(service.content, /^Type=oneshot$/m)
    assert.equal(timer.name, 'cairn-data.timer')
    assert.match(timer.content, /^OnCalendar=\*-\*-\* 02:30:00$/m)
    assert.match(timer.content, /^Persistent=true$/m)
    assert.match(timer.content, /^RandomizedDelaySec=900$/m)
  })
})

describe('crontabBlock()', () => {
  it('writes one line per set, and replaces or removes only its own block', () => {
    const { block, notes } = crontabBlock(
      [
        { name: 'data', schedule: parseSchedule('daily 02:30') },
        { name: 'conf', schedule: parseSchedule('every 6h', { jitter: '5m' }) },
      ],
      cmd,
      '/home/me/.local/state/cairn',
    )
    const lines = block.split('\n')
    assert.equal(lines.length, 4)
    assert.equal(lines[1], '30 2 * * * /usr/bin/node /opt/cairn/bin/cairn.js run data --config /home/me/.config/cairn/cairn.yaml >> /home/me/.local/state/cairn/cron-data.log 2>&1')
    assert.match(lines[2], /^0 \*\/6 \* \* \* .* run conf /)
    assert.deepEqual(notes, ['Set "conf": cron has no jitter; it runs exactly at 0 */6 * * *'])
    const mine = 'MAILTO=me\n0 5 * * * /usr/local/bin/other-job\n'
    const installed = replaceCrontabBlock(mine, block)
    assert.ok(hasCrontabBlock(installed))
    assert.ok(installed.startsWith(mine))
    assert.equal(replaceCrontabBlock(installed, block), installed, 'installing twice changes nothing')
    assert.equal(replaceCrontabBlock(installed, undefined), mine)
    assert.ok(!hasCrontabBlock(mine))
  })

  it('refuses a schedule with a time zone, and escapes % for cron', () => {
    assert.throws(() => crontabBlock([{ name: 'x', schedule: parseSchedule('daily', { timeZone: 'Europe/Berlin' }) }], cmd, '/s'), /time zone "Europe\/Berlin" and cron uses the system's/)
    const { block } = crontabBlock([{ name: 'x', schedule: parseSchedule('daily') }], { ...cmd, config: '/c/100%.yaml' }, '/s')
    assert.match(block, /--config \/c\/100\\%\.yaml/)
  })

  it('runs "monthly last" on days 28-31 behind a date test, as cron has no L, and refuses other uses of L', () => {
    // It wrote "0 23 L * *", which cron refuses: no set at all was installed.
    const { block } = crontabBlock([{ name: 'x', schedule: parseSchedule('monthly last 23:00') }], cmd, '/s')
    const line = block.split('\n')[1]
    assert.ok(line.startsWith('0 23 28-31 * * [ "$(date -d tomorrow +\\%d)" = 01 ] && /usr/bin/node '), line)
    assert.doesNotMatch(line.split(' [ ')[0], /L/)
    assert.throws(() => crontabBlock([{ name: 'y', schedule: parseSchedule('0 23 L * 1') }], cmd, '/s'), /set "y" to the crontab: cron has no "L"/)
  })
})
