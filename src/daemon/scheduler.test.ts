import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FakeClock } from '../base/index.js'
import { parseSchedule } from '../config/index.js'
import { initialDue, jitterOffset, nextDue } from './due.js'
import { Scheduler } from './scheduler.js'

const H = 3_600_000
const D = 24 * H
const at = (iso: string) => new Date(iso).getTime()

/** A scheduler over one job, recording when it fired and whether as a catch-up. */
function setup(text: string, start: string, lastRun?: string, timeZone = 'UTC', jitter?: string) {
  const clock = new FakeClock(at(start))
  const fired: { at: string; catchUp: boolean }[] = []
  const scheduler = new Scheduler({
    clock,
    jobs: [{ key: 'set:data', schedule: parseSchedule(text, { timeZone, ...(jitter ? { jitter } : {}) }) }],
    lastRun: () => (lastRun === undefined ? undefined : at(lastRun)),
    onDue: (_key, info) => fired.push({ at: new Date(clock.now()).toISOString(), catchUp: info.catchUp }),
  })
  return { clock, fired, scheduler }
}

describe('Scheduler', () => {
  it('fires at each run time and not before', async () => {
    const { clock, fired, scheduler } = setup('hourly', '2025-01-01T00:10:00Z', '2025-01-01T00:00:00Z')
    scheduler.start()
    await clock.advance(49 * 60_000)
    assert.equal(fired.length, 0)
    await clock.advance(60_000)
    await clock.advance(2 * H)
    assert.deepEqual(
      fired.map((f) => f.at),
      ['2025-01-01T01:00:00.000Z', '2025-01-01T02:00:00.000Z', '2025-01-01T03:00:00.000Z'],
    )
    assert.ok(fired.every((f) => !f.catchUp))
    scheduler.stop()
  })

  it('makes up run times missed while the daemon was off once, not once per missed time', async () => {
    // Daily at 02:30; the last run was five days ago; the daemon starts at 09:00.
    const { clock, fired, scheduler } = setup('daily 02:30', '2025-01-10T09:00:00Z', '2025-01-05T02:30:00Z')
    scheduler.start()
    await clock.advance(0)
    assert.deepEqual(fired, [{ at: '2025-01-10T09:00:00.000Z', catchUp: true }])
    await clock.advance(D)
    assert.deepEqual(
      fired.map((f) => f.at),
      ['2025-01-10T09:00:00.000Z', '2025-01-11T02:30:00.000Z'],
    )
    assert.equal(fired[1].catchUp, false)
    scheduler.stop()
  })

  it('does not catch up when the last run is recent, nor for a job that never ran', async () => {
    const recent = setup('daily 02:30', '2025-01-10T09:00:00Z', '2025-01-10T02:30:05Z')
    recent.scheduler.start()
    await recent.clock.advance(H)
    assert.equal(recent.fired.length, 0)
    assert.equal(recent.scheduler.nextRun('set:data'), at('2025-01-11T02:30:00Z'))
    recent.scheduler.stop()

    const fresh = setup('daily 02:30', '2025-01-10T09:00:00Z')
    fresh.scheduler.start()
    await fresh.clock.advance(H)
    assert.equal(fresh.fired.length, 0)
    fresh.scheduler.stop()
  })

  it('after the machine slept through several run times, runs once on waking, then keeps the rhythm', async () => {
    const { clock, fired, scheduler } = setup('hourly', '2025-01-01T00:30:00Z', '2025-01-01T00:00:00Z')
    scheduler.start()
    // Asleep from 00:30 to 06:10: timers do not fire while asleep, then fire late.
    await clock.jump(5 * H + 40 * 60_000)
    assert.deepEqual(fired, [{ at: '2025-01-01T06:10:00.000Z', catchUp: true }])
    await clock.advance(H)
    assert.deepEqual(
      fired.map((f) => f.at),
      ['2025-01-01T06:10:00.000Z', '2025-01-01T07:00:00.000Z'],
    )
    scheduler.stop()
  })

  it('never waits longer than a minute between looks at the clock', async () => {
    const { clock, scheduler } = setup('monthly', '2025-01-02T00:00:00Z', '2025-01-01T00:00:00Z')
    scheduler.start()
    assert.ok((clock.nextTimerAt() ?? Infinity) - clock.now() <= 60_000)
    await clock.advance(10 * 60_000)
    assert.ok((clock.nextTimerAt() ?? Infinity) - clock.now() <= 60_000)
    scheduler.stop()
    assert.equal(clock.pendingTimers, 0)
  })

  it('a daily 02:30 job in Europe/Berlin runs once per day across spring-forward and fall-back', async () => {
    for (const [from, days] of [
      ['2025-03-27T12:00:00Z', 6],
      ['2025-10-23T12:00:00Z', 6],
    ] as const) {
      const { clock, fired, scheduler } = setup('daily 02:30', from, '2025-01-01T00:00:00Z', 'Europe/Berlin')
      scheduler.start()
      await clock.advance(0)
      fired.length = 0 // the catch-up run at start
      for (let i = 0; i < days; i++) await clock.advance(D)
      scheduler.stop()
      const berlinDay = (iso: string) => new Date(iso).toLocaleDateString('en-CA', { timeZone: 'Europe/Berlin' })
      const perDay = new Map<string, number>()
      for (const f of fired) perDay.set(berlinDay(f.at), (perDay.get(berlinDay(f.at)) ?? 0) + 1)
      assert.equal(fired.length, days, `${from}: ${JSON.stringify(fired)}`)
      assert.ok([...perDay.values()].every((n) => n === 1), `${from}: ${JSON.stringify([...perDay])}`)
      const local = fired.map((f) => new Date(f.at).toLocaleTimeString('en-GB', { timeZone: 'Europe/Berlin' }))
      if (from.startsWith('2025-03')) assert.ok(local.includes('03:00:00'), 'the day 02:30 does not exist, it runs at 03:00')
      assert.ok(local.filter((t) => t === '02:30:00').length >= days - 1)
    }
  })

  it('adds a jitter below the configured maximum, the same after a restart', async () => {
    const s = parseSchedule('daily 02:30', { timeZone: 'UTC', jitter: '30m' })
    const a = nextDue(s, 'set:data', at('2025-01-01T12:00:00Z'))
    const b = nextDue(s, 'set:data', at('2025-01-01T12:00:00Z'))
    assert.deepEqual(a, b)
    assert.equal(a.slot, at('2025-01-02T02:30:00Z'))
    assert.ok(a.due >= a.slot && a.due < a.slot + 30 * 60_000)
    const offsets = new Set(['set:a', 'set:b', 'set:c', 'set:d'].map((k) => jitterOffset(k, a.slot, 30 * 60_000)))
    assert.ok(offsets.size > 1, 'different jobs get different delays')

    const { clock, fired, scheduler } = setup('daily 02:30', '2025-01-01T12:00:00Z', '2025-01-01T02:30:00Z', 'UTC', '30m')
    scheduler.start()
    await clock.advance(D)
    scheduler.stop()
    assert.equal(fired.length, 1)
    assert.equal(at(fired[0].at), a.due)
  })

  it('initialDue() counts a missed run only once its jitter has passed', () => {
    const s = parseSchedule('hourly', { timeZone: 'UTC' })
    const d = initialDue(s, 'set:x', at('2025-01-01T00:00:00Z'), at('2025-01-01T00:59:00Z'))
    assert.equal(d.catchUp, false)
    assert.equal(d.due, at('2025-01-01T01:00:00Z'))
  })

  it('initialDue() keeps a run whose time has passed but whose jittered time has not (a restart in between)', () => {
    // A daemon started at 02:31 dropped that day's 02:30 run (due at 02:30 plus its jitter):
    // the next run was tomorrow's.
    const s = parseSchedule('daily 02:30', { timeZone: 'UTC', jitter: '60m' })
    const today = nextDue(s, 'set:data', at('2025-01-01T12:00:00Z'))
    assert.ok(today.due > today.slot + 60_000, 'this key\'s jitter for the day is over a minute')
    const d = initialDue(s, 'set:data', at('2025-01-01T02:40:00Z'), today.slot + 60_000)
    assert.deepEqual(d, today)
    // Before its run time, the run is simply the next one.
    assert.deepEqual(initialDue(s, 'set:data', at('2025-01-01T02:40:00Z'), today.slot - 60_000), today)
  })
})
