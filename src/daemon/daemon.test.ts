import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parseConfig, parseSchedule } from '../config/index.js'
import { needs, restic } from '../../test/helpers/index.js'
import type { StatusJson } from './api-types.js'
import { appRunMaintenance, appRunSet } from './app-runner.js'
import { Daemon } from './daemon.js'
import type { DaemonEvent } from './event-bus.js'
import { planFromConfig } from './plan-from-config.js'
import { RunHistory } from './history.js'
import { readDaemonInfo, STATE_FILES } from './state-dir.js'
import { clockBeforeMinute, fakeRunSet, startHttpReceiver, testPlan, waitUntil } from './testing.js'

type Receiver = Awaited<ReturnType<typeof startHttpReceiver>>

let root: string
let receiver: Receiver
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cairn-daemon-'))
  receiver = await startHttpReceiver()
})
after(async () => {
  await receiver.close()
  await rm(root, { recursive: true, force: true })
})

let n = 0
const freshDir = async () => {
  const d = join(root, `d${n++}`)
  await mkdir(d, { recursive: true })
  return d
}

/** Reads server-sent events from the daemon until `stop` says so. */
async function readEvents(url: string, token: string, stop: (events: { event: string; data: unknown }[]) => boolean, ready: () => void): Promise<{ event: string; data: unknown }[]> {
  const res = await fetch(`${url}/api/v1/events?token=${token}`, { signal: AbortSignal.timeout(20_000) })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/)
  const events: { event: string; data: unknown }[] = []
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buffer += decoder.decode(value, { stream: true })
    let i: number
    while ((i = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, i)
      buffer = buffer.slice(i + 2)
      const ev = /^event: (.*)$/m.exec(block)?.[1]
      const data = /^data: (.*)$/m.exec(block)?.[1]
      if (ev && data) {
        events.push({ event: ev, data: JSON.parse(data) })
        if (ev === 'status') ready()
      }
    }
    if (stop(events)) break
  }
  await reader.cancel()
  return events
}

describe('Daemon API', () => {
  it('refuses requests without the token (401), and serves status, runs, logs, trigger, cancel, events and metrics with it', async () => {
    const stateDir = await freshDir()
    const fake = fakeRunSet({ manual: true })
    const plan = testPlan({ sets: [{ name: 'data', destinations: ['nas'], schedule: parseSchedule('daily 02:30') }] })
    const daemon = await Daemon.start({ plan, runSet: fake.fn, stateDir, listen: { host: '127.0.0.1', port: 0 }, version: 'test', heartbeatMs: 200 })
    try {
      const url = daemon.url as string
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.equal(readDaemonInfo(stateDir)?.url, url)
      const { readFile } = await import('node:fs/promises')
      const token = (await readFile(join(stateDir, 'api-token'), 'utf8')).trim()
      assert.equal((await stat(join(stateDir, 'api-token'))).mode & 0o777, 0o600)
      assert.ok(token.length >= 40)

      for (const [path, method] of [
        ['/api/v1/status', 'GET'],
        ['/api/v1/runs', 'GET'],
        ['/api/v1/sets/data/run', 'POST'],
        ['/api/v1/events', 'GET'],
        ['/metrics', 'GET'],
      ]) {
        const none = await fetch(`${url}${path}`, { method })
        assert.equal(none.status, 401, `${method} ${path} without a token`)
        assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="cairn"')
        assert.equal(((await none.json()) as { code: string }).code, 'UNAUTHORIZED')
        const wrong = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token.slice(0, -1)}x` } })
        assert.equal(wrong.status, 401, `${method} ${path} with a wrong token`)
        await wrong.body?.cancel()
      }
      assert.equal(fake.calls.length, 0, 'nothing ran without the token')

      const auth = { authorization: `Bearer ${token}` }
      const status = (await (await fetch(`${url}/api/v1/status`, { headers: auth })).json()) as StatusJson
      assert.equal(status.sets[0].name, 'data')
      assert.equal(status.sets[0].lastRun, null)
      assert.equal(status.sets[0].schedule, 'daily 02:30')
      assert.ok(status.sets[0].nextRun !== null && Date.parse(status.sets[0].nextRun) > Date.now())

      // Trigger a run while listening to the event stream.
      let ready!: () => void
      const isReady = new Promise<void>((r) => (ready = r))
      const stream = readEvents(url, token, (evs) => evs.some((e) => e.event === 'run-finished'), ready)
      await isReady
      const started = await fetch(`${url}/api/v1/sets/data/run`, { method: 'POST', headers: auth })
      assert.equal(started.status, 202)
      await fake.waitForCalls(1)
      const busy = await fetch(`${url}/api/v1/sets/data/run`, { method: 'POST', headers: auth })
      assert.equal(busy.status, 409)
      assert.match(((await busy.json()) as { message: string }).message, /already running/)
      const unknown = await fetch(`${url}/api/v1/sets/nope/run`, { method: 'POST', headers: auth })
      assert.equal(unknown.status, 404)
      await unknown.body?.cancel()
      const badDest = await fetch(`${url}/api/v1/sets/data/run`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"destinations": ["usb"]}' })
      assert.equal(badDest.status, 400)
      assert.deepEqual(await badDest.json(), { code: 'INVALID_ARGUMENT', message: 'Set "data" has no destination "usb"', hint: 'Its destinations: nas' })
      fake.calls[0].finish()
      const events = await stream
      assert.deepEqual(
        events.map((e) => e.event).filter((e) => e !== 'log'),
        ['status', 'run-started', 'progress', 'run-finished'],
      )
      assert.equal((events.at(-1)?.data as { run: { result: string } }).run.result, 'success')

      const runs = (await (await fetch(`${url}/api/v1/runs?job=data`, { headers: auth })).json()) as { id: number; result: string; trigger: string }[]
      assert.deepEqual(runs.map((r) => [r.id, r.result, r.trigger]), [[1, 'success', 'manual']])
      const log = await (await fetch(`${url}/api/v1/runs/1/log`, { headers: auth })).text()
      assert.match(log, /fake run of "data" started/)

      // Cancel a running run.
      await fetch(`${url}/api/v1/sets/data/run`, { method: 'POST', headers: auth })
      await fake.waitForCalls(2)
      await waitUntil(() => daemon.runner.activeOf('set:data')?.runId === 2)
      const cancel = await fetch(`${url}/api/v1/runs/2/cancel`, { method: 'POST', headers: auth })
      assert.equal(cancel.status, 202)
      await daemon.runner.idle()
      const cancelled = (await (await fetch(`${url}/api/v1/runs/2`, { headers: auth })).json()) as { result: string }
      assert.equal(cancelled.result, 'cancelled')
      assert.equal((await fetch(`${url}/api/v1/runs/2/cancel`, { method: 'POST', headers: auth })).status, 409)

      // Cancel by the set's name: a waiting run has no id yet to cancel it by.
      await fetch(`${url}/api/v1/sets/data/run`, { method: 'POST', headers: auth })
      await fake.waitForCalls(3)
      const bySet = await fetch(`${url}/api/v1/sets/data/cancel`, { method: 'POST', headers: auth })
      assert.equal(bySet.status, 202)
      await daemon.runner.idle()
      assert.equal(((await (await fetch(`${url}/api/v1/runs/3`, { headers: auth })).json()) as { result: string }).result, 'cancelled')
      assert.equal((await fetch(`${url}/api/v1/sets/data/cancel`, { method: 'POST', headers: auth })).status, 409)
      assert.equal((await fetch(`${url}/api/v1/sets/nope/cancel`, { method: 'POST', headers: auth })).status, 404)

      const metrics = await (await fetch(`${url}/metrics`, { headers: auth })).text()
      assert.match(metrics, /^# TYPE cairn_runs_total counter$/m)
      assert.match(metrics, /^cairn_runs_total\{job="data",kind="backup",result="success"\} 1$/m)
      assert.match(metrics, /^cairn_runs_total\{job="data",kind="backup",result="cancelled"\} 2$/m)
      assert.match(metrics, /^cairn_next_run_timestamp_seconds\{job="data",kind="backup"\} \d+$/m)
      assert.match(metrics, /^cairn_last_run_success\{job="data",kind="backup"\} 0$/m)
    } finally {
      await daemon.stop()
    }
    assert.equal(readDaemonInfo(stateDir), undefined, 'daemon.json is removed on stop')
  })
})

describe('Daemon restarts', () => {
  it('notifies the failure of a run that a daemon which died left unfinished', async () => {
    // The history closed such a run as a failure, but nobody heard of it: the dead daemon had
    // sent only its start.
    const dir = await freshDir()
    const stateDir = join(dir, 'state')
    await mkdir(stateDir)
    const before = RunHistory.open(join(stateDir, STATE_FILES.history))
    const id = before.start({ job: 'data', kind: 'backup', trigger: 'schedule', destinations: [{ name: 'nas', status: 'not-run' }], startedAt: Date.now() - 60_000 })
    before.close()
    const plan = testPlan({ sets: [{ name: 'data', destinations: ['nas'] }], notifications: [{ type: 'webhook', url: `${receiver.url}/died` }] })
    const daemon = await Daemon.start({ plan, runSet: fakeRunSet({ plan }).fn, stateDir, listen: false })
    try {
      await waitUntil(() => receiver.requests.some((r) => r.path === '/died'), 5000, 'the failure notification')
      const note = JSON.parse(receiver.requests.find((r) => r.path === '/died')?.body ?? '{}')
      assert.equal(note.event, 'failure')
      assert.equal(note.run_id ?? note.runId, id)
      assert.match(JSON.stringify(note), /The daemon stopped before the run finished/)
      assert.equal(daemon.history.get(id)?.result, 'failure')
    } finally {
      await daemon.stop()
    }
    // Once only: the next start has nothing to tell.
    const again = await Daemon.start({ plan, runSet: fakeRunSet({ plan }).fn, stateDir, listen: false })
    await new Promise((r) => setTimeout(r, 300))
    await again.stop()
    assert.equal(receiver.requests.filter((r) => r.path === '/died').length, 1)
  })

  it('refuses to start a second daemon on the state directory of one that runs', async () => {
    // The second took the first one's running runs for interrupted ones and notified them as failed.
    const stateDir = join(await freshDir(), 'state')
    const plan = testPlan({ sets: [{ name: 'data', destinations: ['nas'] }] })
    const first = await Daemon.start({ plan, runSet: fakeRunSet({ plan }).fn, stateDir, listen: { host: '127.0.0.1', port: 0 } })
    try {
      await assert.rejects(
        Daemon.start({ plan, runSet: fakeRunSet({ plan }).fn, stateDir, listen: { host: '127.0.0.1', port: 0 } }),
        (err: Error) => /A cairn daemon already runs for the state directory/.test(err.message),
      )
    } finally {
      await first.stop()
    }
  })
})

describe('Daemon schedules and drives', () => {
  it('runs a set on a short schedule (a real daemon, real timers)', async () => {
    const stateDir = await freshDir()
    const fake = fakeRunSet()
    const plan = testPlan({ sets: [{ name: 'minutely', destinations: ['nas'], schedule: parseSchedule('* * * * *') }] })
    const clock = clockBeforeMinute(4000)
    const events: DaemonEvent[] = []
    const daemon = await Daemon.start({ plan, runSet: fake.fn, stateDir, clock, listen: false })
    daemon.bus.subscribe((e) => events.push(e))
    try {
      const status = await daemon.status()
      const next = Date.parse(status.sets[0].nextRun as string)
      assert.ok(next - clock.now() <= 4000 && next - clock.now() > 0)
      await waitUntil(() => events.some((e) => e.type === 'run-finished'), 10_000, 'the scheduled run')
      assert.equal(fake.calls[0].request.trigger, 'schedule')
      const run = daemon.history.lastRun('minutely')
      assert.equal(run?.result, 'success')
      assert.equal(run?.trigger, 'schedule')
      assert.equal(Date.parse((await daemon.status()).sets[0].nextRun as string), next + 60_000)
    } finally {
      await daemon.stop()
    }
  })

  it('runs a real backup set from a config file on a short schedule; restic sees the snapshot', async (t) => {
    const skip = await needs('restic')
    if (skip) return t.skip(skip)
    const dir = await freshDir()
    const repo = join(dir, 'repo')
    await writeFile(join(dir, 'pass'), 'secret-pw\n')
    await mkdir(join(dir, 'src'))
    await writeFile(join(dir, 'src', 'a.txt'), 'hello daemon\n')
    assert.equal((await restic(['init'], { repo, password: 'secret-pw' })).code, 0)
    const file = join(dir, 'cairn.yaml')
    const text = [
      'repositories:',
      '  local:',
      `    url: ${repo}`,
      '    password-file: pass',
      'sets:',
      '  docs:',
      `    sources: [${join(dir, 'src')}]`,
      '    destinations: [local]',
      '    schedule: "* * * * *"',
      '    retention: { keep-last: 3 }',
      '    hooks:',
      `      finally: ["echo done > ${join(dir, 'finally.txt')}"]`,
    ].join('\n')
    await writeFile(file, text)
    const loaded = parseConfig(text, file)
    const events: DaemonEvent[] = []
    const shared = { noCache: true }
    const daemon = await Daemon.start({
      plan: planFromConfig(loaded),
      runSet: appRunSet({ config: () => loaded, shared }),
      runMaintenance: appRunMaintenance({ config: () => loaded, shared }),
      stateDir: join(dir, 'state'),
      clock: clockBeforeMinute(4000),
      listen: false,
    })
    daemon.bus.subscribe((e) => events.push(e))
    try {
      await waitUntil(() => events.some((e) => e.type === 'run-finished'), 60_000, 'the scheduled backup')
      const run = daemon.history.lastRun('docs')
      assert.equal(run?.result, 'success', JSON.stringify(run))
      assert.equal(run?.snapshotIds.length, 1)
      assert.deepEqual(run?.destinations.map((d) => [d.name, d.status]), [['local', 'success']])
      assert.ok((run?.files ?? 0) >= 1)
      const log = daemon.history.log(run?.id ?? 0) ?? ''
      assert.match(log, /local: snapshot [0-9a-f]{8}/)
      assert.match(log, /finally hook: echo done/)
      const snaps = await restic(['snapshots', '--json'], { repo, password: 'secret-pw' })
      assert.equal(snaps.code, 0, snaps.stderr)
      assert.deepEqual((JSON.parse(snaps.stdout) as { id: string }[]).map((s) => s.id), run?.snapshotIds)
    } finally {
      await daemon.stop()
    }
  })

  it('a removable drive that is absent: the run is skipped and notified; when it appears the backup runs without waiting for the schedule', async (t) => {
    const skip = await needs('restic')
    if (skip) return t.skip(skip)
    const dir = await freshDir()
    const media = join(dir, 'media')
    const repo = join(media, 'T9', 'cairn')
    await mkdir(media)
    await writeFile(join(dir, 'pass'), 'usb-pw\n')
    await mkdir(join(dir, 'src'))
    await writeFile(join(dir, 'src', 'photo.jpg'), 'not really a photo\n')
    const file = join(dir, 'cairn.yaml')
    const text = [
      'repositories:',
      '  usb:',
      `    url: ${repo}`,
      '    password-file: pass',
      '    removable: true',
      'notifications:',
      `  - { type: webhook, url: "${receiver.url}/drive", on: [skipped, success] }`,
      'sets:',
      '  photos:',
      `    sources: [${join(dir, 'src')}]`,
      '    destinations: [usb]',
      '    schedule: monthly',
    ].join('\n')
    await writeFile(file, text)
    const loaded = parseConfig(text, file)
    const daemon = await Daemon.start({
      plan: planFromConfig(loaded),
      runSet: appRunSet({ config: () => loaded, shared: { noCache: true } }),
      stateDir: join(dir, 'state'),
      listen: false,
      mediaPollMs: 200,
    })
    try {
      assert.deepEqual(daemon.trigger('photos'), { accepted: true })
      await daemon.runner.idle()
      const skipped = daemon.history.lastRun('photos')
      assert.equal(skipped?.result, 'skipped')
      assert.match(skipped?.errors[0] ?? '', /usb \(.*T9\/cairn\) is not connected/)
      await waitUntil(() => receiver.requests.some((r) => r.path === '/drive'), 5000, 'the skip notification')
      const note = JSON.parse(receiver.requests.find((r) => r.path === '/drive')?.body ?? '{}')
      assert.equal(note.event, 'skipped')
      assert.match(note.title, /Backup "photos" skipped on .*: usb not connected/)
      const status = await daemon.status()
      assert.deepEqual(status.sets[0].destinations.map((d) => [d.name, d.present, d.pending]), [['usb', false, true]])

      // Plug the drive in: a repository appears at once (as a mount does).
      const staging = join(dir, 'staging')
      assert.equal((await restic(['init'], { repo: join(staging, 'cairn'), password: 'usb-pw' })).code, 0)
      const plugged = Date.now()
      await rename(staging, join(media, 'T9'))
      await waitUntil(() => daemon.history.list({ job: 'photos' }).some((r) => r.trigger === 'media' && r.result !== 'running'), 30_000, 'the backup to the drive')
      const ran = daemon.history.list({ job: 'photos' })[0]
      assert.equal(ran.result, 'success', JSON.stringify(ran))
      assert.ok(ran.startedAt - plugged < 5000, `started ${ran.startedAt - plugged} ms after the drive appeared`)
      assert.ok(Date.parse((await daemon.status()).sets[0].nextRun as string) - Date.now() > 3_600_000, 'long before the next scheduled run')
      const snaps = await restic(['snapshots', '--json'], { repo, password: 'usb-pw' })
      assert.equal((JSON.parse(snaps.stdout) as unknown[]).length, 1)
      assert.equal((await daemon.status()).sets[0].destinations[0].pending, false)
      await waitUntil(() => receiver.requests.filter((r) => r.path === '/drive').length === 2, 5000, 'the success notification')
    } finally {
      await daemon.stop()
    }
  })
})
