import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { FakeClock } from '../base/index.js'
import { parseSchedule, type NotificationTarget } from '../config/index.js'
import { EventBus, type DaemonEvent } from './event-bus.js'
import { RunHistory } from './history.js'
import { MediaWatcher } from './media-watcher.js'
import { Notifier } from './notify/notifier.js'
import { jobsOf, type DaemonPlan } from './plan.js'
import type { MaintenanceFn, MaintenanceRequest, MaintenanceResult } from './run-contract.js'
import { Runner } from './runner.js'
import { closedPort, fakeRunSet, startHttpReceiver, testPlan, waitUntil } from './testing.js'

type Receiver = Awaited<ReturnType<typeof startHttpReceiver>>

let receiver: Receiver
let failing: Receiver
before(async () => {
  receiver = await startHttpReceiver()
  failing = await startHttpReceiver({ status: 500 })
})
after(async () => {
  await receiver.close()
  await failing.close()
})

/** A runner over `plan` with a fake clock, an in-memory history and a scriptable run function. */
function setup(plan: DaemonPlan, o: { manual?: boolean; present?: string[]; maintenance?: MaintenanceFn; freeSpace?: number; history?: RunHistory } = {}) {
  const clock = new FakeClock(new Date('2025-01-01T00:00:00Z'))
  const history = o.history ?? RunHistory.open(':memory:')
  const bus = new EventBus()
  const events: DaemonEvent[] = []
  bus.subscribe((e) => events.push(e))
  const logs: string[] = []
  const present = new Set(o.present ?? [])
  const watched = plan.destinations.filter((d) => d.removable).map((d) => ({ name: d.name, path: `/media/${d.name}` }))
  const media = new MediaWatcher({
    clock,
    destinations: watched,
    intervalMs: 3000,
    isPresent: async (path) => present.has(path.slice('/media/'.length)),
    onChange: (name, now) => runner.mediaChanged(name, now),
  })
  const removable = new Set(plan.destinations.filter((d) => d.removable).map((d) => d.name))
  const fake = fakeRunSet({ manual: o.manual ?? false, now: () => clock.now(), plan, isPresent: (n) => !removable.has(n) || present.has(n) })
  const runner: Runner = new Runner({
    plan,
    jobs: jobsOf(plan),
    clock,
    history,
    bus,
    notifier: new Notifier({ global: plan.notifications, perSet: new Map(plan.sets.map((s) => [s.name, s.notify])) }),
    runSet: fake.fn,
    ...(o.maintenance ? { runMaintenance: o.maintenance } : {}),
    presence: media,
    host: 'testhost',
    log: (_l, m) => logs.push(m),
    ...(o.freeSpace === undefined ? {} : { freeSpace: async () => o.freeSpace }),
  })
  return { clock, history, events, logs, present, media, fake, runner }
}

const webhook = (url: string, on?: NotificationTarget['on']): NotificationTarget => ({ type: 'webhook', url, ...(on ? { on } : {}) })

/** A maintenance function whose calls the test ends. */
function manualMaintenance() {
  const calls: { req: MaintenanceRequest; finish: (r?: Partial<MaintenanceResult>) => void }[] = []
  const fn: MaintenanceFn = (req) =>
    new Promise((resolve) => {
      calls.push({ req, finish: (r) => resolve({ result: 'success', errors: [], ...r }) })
      req.signal.addEventListener('abort', () => resolve({ result: 'cancelled', errors: ['interrupted'] }), { once: true })
    })
  return { fn, calls }
}

describe('Runner', () => {
  it('never starts a second run of a set while one waits or runs', async () => {
    const t = setup(testPlan({ sets: [{ name: 'data', destinations: ['nas'] }] }), { manual: true })
    assert.deepEqual(t.runner.request('set:data', 'schedule'), { accepted: true })
    await t.fake.waitForCalls(1)
    const second = t.runner.request('set:data', 'manual')
    assert.equal(second.accepted, false)
    assert.match((second as { reason: string }).reason, /"data" is already running \(run 1\)/)
    t.fake.calls[0].finish()
    await t.runner.idle()
    assert.equal(t.fake.calls.length, 1)
    assert.equal(t.history.get(1)?.result, 'success')
    assert.deepEqual(t.runner.request('set:data', 'manual'), { accepted: true })
    await t.fake.waitForCalls(2)
    t.fake.calls[1].finish()
    await t.runner.idle()
    assert.equal(t.fake.calls.length, 2)
  })

  it('a prune waits while a backup writes to its repository; a prune of another repository does not', async () => {
    const plan = testPlan({
      sets: [{ name: 'data', destinations: ['nas'] }],
      destinations: [{ name: 'nas' }, { name: 'cloud' }],
      maintenance: [
        { id: 'prune nas', kind: 'prune', repository: 'nas', schedule: parseSchedule('weekly') },
        { id: 'prune cloud', kind: 'prune', repository: 'cloud', schedule: parseSchedule('weekly') },
      ],
    })
    const m = manualMaintenance()
    const t = setup(plan, { manual: true, maintenance: m.fn })
    t.runner.request('set:data', 'schedule')
    await t.fake.waitForCalls(1)
    t.runner.request('task:prune nas', 'schedule')
    t.runner.request('task:prune cloud', 'schedule')
    await t.clock.advance(1000)
    assert.deepEqual(m.calls.map((c) => c.req.repository), ['cloud'], 'prune nas waits for the backup')
    assert.equal(t.runner.activeOf('task:prune nas')?.state, 'waiting')
    t.fake.calls[0].finish()
    await waitUntil(() => m.calls.length === 2, 5000, 'prune nas to start')
    assert.equal(m.calls[1].req.repository, 'nas')
    // And the other way round: a backup waits while the prune has the repository.
    t.runner.request('set:data', 'manual')
    await t.clock.advance(1000)
    assert.equal(t.fake.calls.length, 1)
    assert.equal(t.runner.activeOf('set:data')?.state, 'waiting')
    m.calls[1].finish()
    await t.fake.waitForCalls(2)
    t.fake.calls[1].finish()
    m.calls[0].finish()
    await t.runner.idle()
    const results = t.history.list({ limit: 10 }).map((r) => `${r.job}:${r.result}`)
    assert.deepEqual(results.sort(), ['data:success', 'data:success', 'prune cloud:success', 'prune nas:success'])
  })

  it('two sets with a common repository run one after the other; sets on different repositories at once', async () => {
    const plan = testPlan({
      sets: [
        { name: 'a', destinations: ['nas'] },
        { name: 'b', destinations: ['nas', 'cloud'] },
        { name: 'c', destinations: ['usb'] },
      ],
    })
    const t = setup(plan, { manual: true })
    t.runner.request('set:a', 'schedule')
    t.runner.request('set:b', 'schedule')
    t.runner.request('set:c', 'schedule')
    await t.fake.waitForCalls(2)
    await t.clock.advance(1000)
    assert.deepEqual(t.fake.calls.map((c) => c.request.set), ['a', 'c'])
    t.fake.calls[0].finish()
    await t.fake.waitForCalls(3)
    assert.equal(t.fake.calls[2].request.set, 'b')
    t.fake.calls[1].finish()
    t.fake.calls[2].finish()
    await t.runner.idle()
  })

  it('cancel() aborts a run; its finally hook runs and it is recorded as cancelled', async () => {
    const t = setup(testPlan({ sets: [{ name: 'data', destinations: ['nas'] }] }), { manual: true })
    t.runner.request('set:data', 'manual')
    await t.fake.waitForCalls(1)
    assert.equal(t.runner.cancel(1), true)
    await t.runner.idle()
    assert.deepEqual(t.fake.finallyRan, ['data'])
    const r = t.history.get(1)
    assert.equal(r?.result, 'cancelled')
    assert.ok(r?.errors.includes('Cancelled on request'))
    assert.match(t.history.log(1) ?? '', /finally hook ran/)
    assert.equal(t.runner.cancel(1), false)
  })

  it('tells the end of a cancelled run to the targets told its start (healthchecks.io waited and reported a timeout), and no one else', async () => {
    const plan = testPlan({
      sets: [{ name: 'data', destinations: ['nas'] }],
      notifications: [webhook(`${receiver.url}/cancel-start`, ['start', 'failure']), webhook(`${receiver.url}/cancel-fail`, ['failure'])],
    })
    const t = setup(plan, { manual: true })
    t.runner.request('set:data', 'manual')
    await t.fake.waitForCalls(1)
    assert.equal(t.runner.cancel(1), true)
    await t.runner.idle()
    const to = (path: string) => receiver.requests.filter((r) => r.path === path).map((r) => JSON.parse(r.body).event)
    await waitUntil(() => to('/cancel-start').length === 2, 5000, 'the start and the end')
    assert.deepEqual(to('/cancel-start'), ['start', 'failure'])
    assert.deepEqual(to('/cancel-fail'), [], 'a cancelled run is no failure to tell those who did not hear it start')
  })

  it('records a run function that throws as a failure with its message, and notifies it', async () => {
    const plan = testPlan({ sets: [{ name: 'data', destinations: ['nas'] }], notifications: [webhook(`${receiver.url}/hook-throw`)] })
    const t = setup(plan, { manual: true })
    t.runner.request('set:data', 'schedule')
    await t.fake.waitForCalls(1)
    t.fake.calls[0].fail(new Error('sftp: connection refused by nas.local'))
    await t.runner.idle()
    assert.equal(t.history.get(1)?.result, 'failure')
    assert.deepEqual(t.history.get(1)?.errors, ['sftp: connection refused by nas.local'])
    const got = receiver.requests.filter((r) => r.path === '/hook-throw')
    assert.equal(got.length, 1)
    const body = JSON.parse(got[0].body)
    assert.equal(body.event, 'failure')
    assert.deepEqual(body.errors, ['sftp: connection refused by nas.local'])
    assert.match(body.message, /What failed:\n {2}sftp: connection refused by nas.local/)
  })

  it('an absent removable destination makes a skipped, notified run; when it appears the backup runs without waiting for the schedule', async () => {
    const plan = testPlan({
      sets: [{ name: 'photos', destinations: ['usb'], schedule: parseSchedule('daily 02:30', { timeZone: 'UTC' }) }],
      destinations: [{ name: 'usb', removable: true, location: '/media/me/T9/cairn' }],
      notifications: [webhook(`${receiver.url}/hook-media`, ['skipped', 'success'])],
    })
    const t = setup(plan)
    await t.media.start()
    t.runner.request('set:photos', 'schedule')
    await t.runner.idle()
    assert.equal(t.fake.calls.length, 0, 'the run function is not called without a destination')
    const skipped = t.history.get(1)
    assert.equal(skipped?.result, 'skipped')
    assert.deepEqual(skipped?.destinations, [{ name: 'usb', status: 'missing', error: 'usb (/media/me/T9/cairn) is not connected' }])
    assert.deepEqual([...t.runner.pending.of('photos')], ['usb'])
    await waitUntil(() => receiver.requests.some((r) => r.path === '/hook-media'))
    const note = JSON.parse(receiver.requests.filter((r) => r.path === '/hook-media')[0].body)
    assert.equal(note.event, 'skipped')
    assert.match(note.title, /Backup "photos" skipped on testhost: usb not connected/)

    // The drive appears; within one poll (3 s) the backup starts, long before 02:30.
    t.present.add('usb')
    await t.clock.advance(3000)
    await t.runner.idle()
    assert.equal(t.fake.calls.length, 1)
    assert.equal(t.fake.calls[0].request.trigger, 'media')
    const ran = t.history.get(2)
    assert.equal(ran?.trigger, 'media')
    assert.equal(ran?.result, 'success')
    assert.equal(t.runner.pending.of('photos').size, 0)
    await waitUntil(() => receiver.requests.filter((r) => r.path === '/hook-media').length === 2)
    t.media.stop()
  })

  it('a set in mode "all" backs up only to the drive that appeared', async () => {
    const plan = testPlan({
      sets: [{ name: 'data', destinations: ['nas', 'usb'], mode: 'all' }],
      destinations: [{ name: 'usb', removable: true }],
    })
    const t = setup(plan)
    await t.media.start()
    t.runner.request('set:data', 'schedule')
    await t.runner.idle()
    // nas got the backup, usb was absent.
    assert.deepEqual(t.fake.calls[0].request.destinations, undefined)
    assert.deepEqual(t.history.get(1)?.destinations.map((d) => `${d.name}:${d.status}`), ['nas:success', 'usb:missing'])
    assert.deepEqual([...t.runner.pending.of('data')], ['usb'])
    t.present.add('usb')
    await t.clock.advance(3000)
    await t.runner.idle()
    assert.deepEqual(t.fake.calls[1].request.destinations, ['usb'])
    assert.equal(t.runner.pending.of('data').size, 0)
    t.media.stop()
  })

  it('a drive appearing starts an overdue set, but not a first-available set that backs up elsewhere', async () => {
    const daily = parseSchedule('daily 02:30', { timeZone: 'UTC' })
    const plan = testPlan({
      sets: [
        { name: 'fresh', destinations: ['nas', 'usb'], schedule: daily },
        { name: 'overdue', destinations: ['usb'], schedule: daily },
      ],
      destinations: [{ name: 'usb', removable: true }],
    })
    const t = setup(plan)
    await t.media.start()
    // "fresh" backed up to nas an hour ago; "overdue" last reached usb three days ago.
    const past = (job: string, dest: string, ago: number) => {
      const id = t.history.start({ job, kind: 'backup', trigger: 'schedule', destinations: [], startedAt: t.clock.now() - ago })
      t.history.finish(id, { endedAt: t.clock.now() - ago + 1, result: 'success', destinations: [{ name: dest, status: 'success' }], files: 1, bytes: 1, snapshotIds: [], errors: [] })
    }
    past('fresh', 'nas', 3_600_000)
    past('overdue', 'usb', 3 * 86_400_000)
    t.present.add('usb')
    await t.clock.advance(3000)
    await t.runner.idle()
    assert.deepEqual(t.fake.calls.map((c) => [c.request.set, c.request.trigger]), [['overdue', 'media']])
    t.media.stop()
  })

  it('a failing notification receiver does not fail the run; the failure is in the run log', async () => {
    const port = await closedPort()
    const plan = testPlan({
      sets: [{ name: 'data', destinations: ['nas'] }],
      notifications: [webhook(`${failing.url}/down`, ['success']), webhook(`http://127.0.0.1:${port}/refused`, ['success'])],
    })
    const t = setup(plan)
    t.runner.request('set:data', 'schedule')
    await t.runner.idle()
    assert.equal(t.history.get(1)?.result, 'success')
    const log = t.history.log(1) ?? ''
    assert.match(log, /notification to webhook #1 failed: webhook #1: http:\/\/127\.0\.0\.1:\d+ answered HTTP 500 Internal Server Error: receiver says no/)
    assert.match(log, /notification to webhook #2 failed: webhook #2: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/)
    assert.ok(failing.requests.some((r) => r.path === '/down'))
  })

  it('warns when a destination has less free space than its threshold', async () => {
    const plan = testPlan({
      sets: [{ name: 'data', destinations: ['nas'] }],
      destinations: [{ name: 'nas', path: '/srv/nas', lowSpaceBytes: 10 * 1024 ** 3 }],
      notifications: [webhook(`${receiver.url}/hook-space`, ['low-space'])],
    })
    const t = setup(plan, { freeSpace: 2 * 1024 ** 3 })
    t.runner.request('set:data', 'schedule')
    await t.runner.idle()
    t.runner.request('set:data', 'schedule')
    await t.runner.idle()
    // A daemon started again (same history) does not send it again the same day either.
    const again = setup(plan, { freeSpace: 2 * 1024 ** 3, history: t.history })
    again.runner.request('set:data', 'schedule')
    await again.runner.idle()
    const got = receiver.requests.filter((r) => r.path === '/hook-space')
    assert.equal(got.length, 1, 'once a day, not after every run nor after a restart')
    const body = JSON.parse(got[0].body)
    assert.equal(body.event, 'low-space')
    assert.match(body.title, /Low disk space on "nas" \(testhost\): 2\.00 GiB free/)
    assert.match(body.message, /less than the 10\.0 GiB configured/)
  })

  it('publishes run events with throttled progress', async () => {
    const t = setup(testPlan({ sets: [{ name: 'data', destinations: ['nas'] }] }))
    t.runner.request('set:data', 'manual')
    await t.runner.idle()
    assert.deepEqual(
      t.events.map((e) => e.type),
      ['run-started', 'log', 'progress', 'run-finished'],
    )
  })
})
