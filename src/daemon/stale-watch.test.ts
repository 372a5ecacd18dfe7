import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { FakeClock } from '../base/index.js'
import { notificationsSchema } from '../config/index.js'
import { RunHistory } from './history.js'
import { Notifier } from './notify/notifier.js'
import { StaleWatch } from './stale-watch.js'
import { startHttpReceiver, testPlan, waitUntil } from './testing.js'

const H = 3_600_000
const D = 24 * H

let receiver: Awaited<ReturnType<typeof startHttpReceiver>>
before(async () => {
  receiver = await startHttpReceiver()
})
after(async () => {
  await receiver.close()
})

describe('StaleWatch', () => {
  it('warns once when a set has had no successful backup for stale-after, again after another period, and not after a success', async () => {
    const clock = new FakeClock(new Date('2025-01-01T00:00:00Z'))
    const history = RunHistory.open(':memory:')
    const plan = testPlan({
      sets: [{ name: 'data', destinations: ['nas'] }, { name: 'quiet', destinations: ['nas'] }],
      notifications: notificationsSchema.parse([{ type: 'webhook', url: `${receiver.url}/stale`, on: ['stale'], 'stale-after': '2d', sets: ['data'] }]),
    })
    const ok = history.start({ job: 'data', kind: 'backup', trigger: 'schedule', destinations: [], startedAt: clock.now() })
    history.finish(ok, { endedAt: clock.now() + 1000, result: 'success', destinations: [], files: 1, bytes: 1, snapshotIds: [], errors: [] })
    const watch = new StaleWatch({
      clock,
      history,
      notifier: new Notifier({ global: plan.notifications }),
      sets: plan.sets,
      destinations: plan.destinations,
      host: 'pc',
      log: () => {},
      intervalMs: H,
    })
    watch.start()
    const got = () => receiver.requests.filter((r) => r.path === '/stale')
    await clock.advance(D)
    // A failed run does not count.
    const bad = history.start({ job: 'data', kind: 'backup', trigger: 'schedule', destinations: [{ name: 'nas', status: 'failure' }], startedAt: clock.now() })
    history.finish(bad, { endedAt: clock.now(), result: 'failure', destinations: [{ name: 'nas', status: 'failure' }], files: 0, bytes: 0, snapshotIds: [], errors: ['nas: connection refused'] })
    await clock.advance(D - H)
    assert.equal(got().length, 0, 'not yet two days')
    await clock.advance(2 * H)
    await waitUntil(() => got().length === 1, 5000, 'the stale warning')
    const body = JSON.parse(got()[0].body)
    assert.equal(body.event, 'stale')
    assert.equal(body.title, 'No successful backup of "data" on pc for 2 days')
    assert.match(body.message, /The latest run \(.*\) FAILED\.\n\nWhat failed:\n {2}nas: connection refused/)
    await clock.advance(D)
    assert.equal(got().length, 1, 'once per period')
    await clock.advance(D)
    await waitUntil(() => got().length === 2, 5000, 'the second warning')
    const again = history.start({ job: 'data', kind: 'backup', trigger: 'schedule', destinations: [], startedAt: clock.now() })
    history.finish(again, { endedAt: clock.now(), result: 'success', destinations: [], files: 1, bytes: 1, snapshotIds: [], errors: [] })
    await clock.advance(D + 23 * H)
    assert.equal(got().length, 2, 'fresh again after a success')
    watch.stop()
    history.close()
  })

  it('looks more often than hourly when a stale-after is shorter than an hour', async () => {
    const clock = new FakeClock(new Date('2025-01-01T00:00:00Z'))
    const history = RunHistory.open(':memory:')
    const plan = testPlan({
      sets: [{ name: 'fast', destinations: ['nas'] }],
      notifications: notificationsSchema.parse([{ type: 'webhook', url: `${receiver.url}/stale-fast`, on: ['stale'], 'stale-after': '20m' }]),
    })
    const watch = new StaleWatch({ clock, history, notifier: new Notifier({ global: plan.notifications }), sets: plan.sets, destinations: plan.destinations, host: 'pc', log: () => {} })
    watch.start()
    const got = () => receiver.requests.filter((r) => r.path === '/stale-fast')
    await clock.advance(26 * 60_000)
    await waitUntil(() => got().length === 1, 5000, 'the warning within minutes, not at the next hour')
    watch.stop()
    history.close()
  })

  it('tells each target by its own stale-after', async () => {
    // Every stale target was told at the shortest stale-after of them all, and as often.
    const clock = new FakeClock(new Date('2025-01-01T00:00:00Z'))
    const history = RunHistory.open(':memory:')
    const plan = testPlan({
      sets: [{ name: 'own', destinations: ['nas'] }],
      notifications: notificationsSchema.parse([
        { type: 'webhook', url: `${receiver.url}/own-short`, on: ['stale'], 'stale-after': '2h' },
        { type: 'webhook', url: `${receiver.url}/own-week`, on: ['stale'] },
      ]),
    })
    const watch = new StaleWatch({ clock, history, notifier: new Notifier({ global: plan.notifications }), sets: plan.sets, destinations: plan.destinations, host: 'pc', log: () => {} })
    const got = (path: string) => receiver.requests.filter((r) => r.path === path).length
    const at = async (hours: number) => {
      await clock.advance(hours * H - (clock.now() - Date.parse('2025-01-01T00:00:00Z')))
      await watch.check()
    }
    await at(0)
    await at(3)
    assert.equal(got('/own-short'), 1)
    await at(4)
    assert.equal(got('/own-short'), 1, 'once per its period')
    await at(5)
    assert.equal(got('/own-short'), 2, 'again after its period')
    assert.equal(got('/own-week'), 0, 'the 7-day target is not told yet')
    await at(7 * 24 + 1)
    assert.equal(got('/own-week'), 1, 'the 7-day target is told after its own period')
    await at(7 * 24 + 2)
    assert.equal(got('/own-week'), 1)
    history.close()
  })
})
