import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { parseDuration, parseSchedule, scheduleFromSpec, scheduleSpecSchema } from './schedule.js'

const iso = (d: Date) => d.toISOString()

/** The next `n` runs after `from`. */
function runs(text: string, from: string, n: number, timeZone?: string): string[] {
  const s = parseSchedule(text, { timeZone })
  const out: string[] = []
  let t = new Date(from)
  for (let i = 0; i < n; i++) {
    t = s.nextRun(t)
    out.push(iso(t))
  }
  return out
}

describe('parseSchedule()', () => {
  it('turns shorthands into cron expressions', () => {
    const cases: [string, string][] = [
      ['hourly', '0 * * * *'],
      ['hourly :15', '15 * * * *'],
      ['daily', '0 0 * * *'],
      ['daily 02:30', '30 2 * * *'],
      ['Daily 2:05', '5 2 * * *'],
      ['weekdays 07:00', '0 7 * * 1-5'],
      ['weekly', '0 0 * * 0'],
      ['weekly sun 03:00', '0 3 * * 0'],
      ['weekly mon,thu 22:15', '15 22 * * 1,4'],
      ['weekly fri-mon', '0 0 * * 0,1,5,6'],
      ['monthly', '0 0 1 * *'],
      ['monthly 15 04:00', '0 4 15 * *'],
      ['monthly last 23:00', '0 23 L * *'],
      ['every 15m', '*/15 * * * *'],
      ['every 6h', '0 */6 * * *'],
      ['every 1h', '0 * * * *'],
      ['@daily', '0 0 * * *'],
      ['@weekly', '0 0 * * 0'],
      ['@hourly', '0 * * * *'],
      ['  30   2 * *   *  ', '30 2 * * *'],
    ]
    for (const [text, cron] of cases) assert.equal(parseSchedule(text).cron, cron, text)
  })

  it('gives a CONFIG error saying what is wrong and showing valid examples', () => {
    const cases: [string, RegExp][] = [
      ['', /it is empty/],
      ['daily 25:00', /"25:00" is not a time of day/],
      ['weekly funday', /"funday" is not a day of the week/],
      ['monthly 31', /day 31 does not exist in every month; write "monthly last"/],
      ['every 7m', /7 minutes does not divide an hour/],
      ['@fortnightly', /"@fortnightly" is not one of @yearly/],
      ['61 * * * *', /minute: 61/],
      ['* * * *', /needs 5 fields .* this one has 4/],
      ['0 0 * * * *', /it has 6 fields/],
      ['0 0 30 2 *', /it never fires/],
      ['nightly', /"nightly" is not a known shorthand/],
    ]
    for (const [text, detail] of cases) {
      assert.throws(
        () => parseSchedule(text),
        (err: unknown) => {
          assert.ok(isAppError(err, 'CONFIG'), `${text}: ${String(err)}`)
          assert.match(err.message, /^Invalid schedule "/)
          assert.match(err.message, detail)
          assert.match(err.hint ?? '', /"daily 02:30".*"30 2 \* \* \*"/)
          return true
        },
      )
    }
  })

  it('refuses an unknown time zone', () => {
    assert.throws(() => parseSchedule('daily', { timeZone: 'Mars/Olympus' }), /Invalid time zone "Mars\/Olympus"/)
  })

  it('nextRun() is strictly after the given time', () => {
    const s = parseSchedule('daily 02:30', { timeZone: 'UTC' })
    assert.equal(iso(s.nextRun(new Date('2025-01-01T02:29:59.999Z'))), '2025-01-01T02:30:00.000Z')
    assert.equal(iso(s.nextRun(new Date('2025-01-01T02:30:00.000Z'))), '2025-01-02T02:30:00.000Z')
  })

  it('a daily 02:30 job runs once on the day Europe/Berlin springs forward (02:30 does not exist)', () => {
    // 2025-03-30: clocks go from 02:00 CET to 03:00 CEST.
    assert.deepEqual(runs('daily 02:30', '2025-03-28T12:00:00Z', 4, 'Europe/Berlin'), [
      '2025-03-29T01:30:00.000Z', // 02:30 CET
      '2025-03-30T01:00:00.000Z', // 03:00 CEST, the first time after the gap
      '2025-03-31T00:30:00.000Z', // 02:30 CEST
      '2025-04-01T00:30:00.000Z',
    ])
  })

  it('a daily 02:30 job runs once, not twice, on the day Europe/Berlin falls back (02:30 happens twice)', () => {
    // 2025-10-26: clocks go from 03:00 CEST back to 02:00 CET.
    const out = runs('daily 02:30', '2025-10-24T12:00:00Z', 4, 'Europe/Berlin')
    assert.deepEqual(out, [
      '2025-10-25T00:30:00.000Z', // 02:30 CEST
      '2025-10-26T00:30:00.000Z', // the first 02:30 (CEST); the second (01:30Z) is not a run
      '2025-10-27T01:30:00.000Z', // 02:30 CET
      '2025-10-28T01:30:00.000Z',
    ])
    const onThatDay = out.filter((t) => t.startsWith('2025-10-26'))
    assert.equal(onThatDay.length, 1)
  })

  it('an interval schedule keeps its interval across the fall-back hour', () => {
    // Every 30 minutes in real time: the repeated hour is not skipped.
    assert.deepEqual(runs('every 30m', '2025-10-26T00:10:00Z', 4, 'Europe/Berlin'), [
      '2025-10-26T00:30:00.000Z',
      '2025-10-26T01:00:00.000Z',
      '2025-10-26T01:30:00.000Z',
      '2025-10-26T02:00:00.000Z',
    ])
  })

  it('"monthly last" runs on the last day of each month, leap February included', () => {
    assert.deepEqual(runs('monthly last 23:00', '2024-01-15T00:00:00Z', 4, 'UTC'), [
      '2024-01-31T23:00:00.000Z',
      '2024-02-29T23:00:00.000Z',
      '2024-03-31T23:00:00.000Z',
      '2024-04-30T23:00:00.000Z',
    ])
  })

  it('a cron job on day 31 skips shorter months, as cron does', () => {
    assert.deepEqual(runs('0 0 31 * *', '2024-01-31T00:00:00Z', 2, 'UTC'), ['2024-03-31T00:00:00.000Z', '2024-05-31T00:00:00.000Z'])
  })

  it('weekly runs on the named day, across a month end', () => {
    assert.deepEqual(runs('weekly sun 03:00', '2024-02-27T00:00:00Z', 2, 'UTC'), ['2024-03-03T03:00:00.000Z', '2024-03-10T03:00:00.000Z'])
  })

  it('a time zone given to nextRun() overrides the schedule’s', () => {
    const s = parseSchedule('daily 02:30', { timeZone: 'UTC' })
    assert.equal(iso(s.nextRun(new Date('2025-01-01T00:00:00Z'), 'America/New_York')), '2025-01-01T07:30:00.000Z')
  })

  it('keeps the jitter in milliseconds, a bare number being seconds', () => {
    assert.equal(parseSchedule('daily', { jitter: '15m' }).jitterMs, 900_000)
    assert.equal(parseSchedule('daily', { jitter: 1800 }).jitterMs, 1_800_000)
    assert.equal(parseSchedule('daily').jitterMs, 0)
  })
})

describe('parseDuration()', () => {
  it('reads units and sums them', () => {
    assert.equal(parseDuration('90s'), 90_000)
    assert.equal(parseDuration('1h30m'), 5_400_000)
    assert.equal(parseDuration('7d'), 604_800_000)
    assert.equal(parseDuration('250ms'), 250)
    assert.equal(parseDuration(42), 42_000, 'a bare number is seconds, as a hook timeout is')
    assert.equal(parseDuration(0.5), 500)
  })
  it('refuses text without a unit', () => {
    assert.throws(() => parseDuration('15'), /Invalid duration "15"/)
    assert.throws(() => parseDuration('soon'), /Invalid duration "soon"/)
  })
})

describe('scheduleSpecSchema', () => {
  it('accepts the text form and the object form with jitter and time zone', () => {
    const spec = scheduleSpecSchema.parse({ when: 'daily 02:30', jitter: '10m', timezone: 'Europe/Berlin' })
    const s = scheduleFromSpec(spec)
    assert.equal(s.cron, '30 2 * * *')
    assert.equal(s.jitterMs, 600_000)
    assert.equal(s.timeZone, 'Europe/Berlin')
    assert.equal(scheduleFromSpec(scheduleSpecSchema.parse('hourly')).cron, '0 * * * *')
  })
  it('reports a bad schedule as a schema issue with the examples', () => {
    const r = scheduleSpecSchema.safeParse('daily 2:3')
    assert.equal(r.success, false)
    assert.match(JSON.stringify(r.error?.issues), /is not a time of day/)
  })
})
