import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { parseSchedule } from '../../config/index.js'
import { Daemon, DaemonClient, readDaemonInfo, RunHistory } from '../../daemon/index.js'
import { fakeRunSet, testPlan, waitUntil } from '../../daemon/testing.js'

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url))

let root: string
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cairn-daemon-cli-'))
})
after(async () => {
  await rm(root, { recursive: true, force: true })
})

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs the CLI with a clean environment (HOME in the test's directory). */
function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH ?? '', HOME: root, TZ: 'UTC' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

describe('cairn status and cairn runs', () => {
  it('show, from a running daemon, each set’s last result, next run and destinations', async () => {
    const stateDir = join(root, 'state-status')
    const plan = testPlan({
      sets: [
        { name: 'data', destinations: ['nas'], schedule: parseSchedule('daily 02:30', { timeZone: 'UTC' }) },
        { name: 'photos', destinations: ['usb'], schedule: parseSchedule('weekly sun 03:00', { timeZone: 'UTC' }) },
        { name: 'adhoc', destinations: ['nas'] },
      ],
      destinations: [
        { name: 'nas', location: 'sftp:backup@nas.local:/srv/cairn' },
        { name: 'usb', location: '/media/me/T9/cairn', removable: true, path: join(root, 'no-such-drive') },
      ],
    })
    const fake = fakeRunSet({ plan })
    const daemon = await Daemon.start({ plan, runSet: fake.fn, stateDir, listen: { host: '127.0.0.1', port: 0 }, version: '0.1.0-test' })
    try {
      daemon.trigger('data')
      await daemon.runner.idle()
      daemon.trigger('photos')
      await daemon.runner.idle()

      const r = await cli(['status', '--state-dir', stateDir])
      assert.equal(r.code, 0, r.stderr)
      const lines = r.stdout.split('\n')
      assert.match(lines[0], /^cairn daemon 0\.1\.0-test on .* \(pid \d+\), running since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
      assert.match(r.stdout, /^Set +Last result +Last run +Next run +Destinations$/m)
      const row = (name: string) => lines.find((l) => l.startsWith(`${name} `)) ?? ''
      assert.match(row('data'), /^data +success \(3 files, 300 B, 0:00\) +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d{4}-\d\d-\d\d 02:30:00 +nas$/)
      assert.match(row('photos'), /^photos +skipped: usb \(\/media\/me\/T9\/cairn\) is not connected +\S+ \S+ +\d{4}-\d\d-\d\d 03:00:00 +usb \(not connected, pending\)$/)
      assert.match(row('adhoc'), /^adhoc +never ran +- +not scheduled +nas$/)

      const json = await cli(['status', '--state-dir', stateDir, '--json'])
      const status = JSON.parse(json.stdout)
      assert.deepEqual(
        status.sets.map((s: { name: string; lastRun: { result: string } | null }) => [s.name, s.lastRun?.result ?? null]),
        [['data', 'success'], ['photos', 'skipped'], ['adhoc', null]],
      )

      const runs = await cli(['runs', '--state-dir', stateDir])
      assert.equal(runs.code, 0, runs.stderr)
      assert.match(runs.stdout, /^ID +Job +Trigger +Started +Took +Result +Files +Size +Details$/m)
      assert.match(runs.stdout, /^2 +photos +manual +.* skipped +0 +0 B +usb \(\/media\/me\/T9\/cairn\) is not connected$/m)
      assert.match(runs.stdout, /^1 +data +manual +.* success +3 +300 B +snapshot 010aaaaa$/m)
      const show = await cli(['runs', '--state-dir', stateDir, '--show', '1'])
      assert.match(show.stdout, /^Run 1: backup "data" \(manual\)$/m)
      assert.match(show.stdout, /^ {4}nas: success, snapshot 010aaaaa$/m)
      assert.match(show.stdout, /^Log:\n {2}fake run of "data" started$/m)
      const only = await cli(['runs', 'photos', '--state-dir', stateDir, '--json'])
      assert.deepEqual(JSON.parse(only.stdout).map((x: { id: number }) => x.id), [2])

      // With a token that does not match, the daemon refuses and the CLI says why.
      const other = join(root, 'state-wrong-token')
      await mkdir(other, { recursive: true })
      await writeFile(join(other, 'api-token'), 'not-the-token\n', { mode: 0o600 })
      await writeFile(join(other, 'daemon.json'), JSON.stringify(readDaemonInfo(stateDir)))
      const refused = await cli(['status', '--state-dir', other])
      assert.equal(refused.code, 1)
      assert.match(refused.stderr, /Fatal: The daemon refused GET \/api\/v1\/status: This request needs the daemon's API token \(The token in the state directory does not match/)
    } finally {
      await daemon.stop()
    }
    const gone = await cli(['status', '--state-dir', stateDir])
    assert.equal(gone.code, 1)
    assert.match(gone.stderr, /Fatal: The cairn daemon is not running \(no daemon\.json in ".*state-status"\) \(Start it with "cairn daemon"/)
    // The history stays readable without the daemon (after a crash is when it is needed most).
    const offline = await cli(['runs', '--state-dir', stateDir])
    assert.equal(offline.code, 0, offline.stderr)
    assert.match(offline.stdout, /^1 +data +manual +.* success +3 +300 B +snapshot 010aaaaa$/m)
    const offlineShow = await cli(['runs', '--state-dir', stateDir, '--show', '1'])
    assert.match(offlineShow.stdout, /^Log:\n {2}fake run of "data" started$/m)
    const unknown = await cli(['runs', '--state-dir', stateDir, '--show', '99'])
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /There is no run 99 in the history/)
    // A daemon that was killed leaves daemon.json behind: its process is gone, so the file is read.
    const { spawnSync } = await import('node:child_process')
    const dead = spawnSync('true').pid as number
    await writeFile(join(stateDir, 'daemon.json'), JSON.stringify({ url: 'http://127.0.0.1:9', pid: dead, startedAt: new Date().toISOString(), version: 'x' }))
    const afterCrash = await cli(['runs', '--state-dir', stateDir])
    assert.equal(afterCrash.code, 0, afterCrash.stderr)
    assert.match(afterCrash.stdout, /^1 +data +manual /m)
  })
})

describe('cairn daemon', () => {
  it('runs in the foreground; SIGTERM stops it after the running set’s finally hook', async () => {
    const dir = join(root, 'fg')
    await mkdir(join(dir, 'src'), { recursive: true })
    await writeFile(join(dir, 'pass'), 'pw\n')
    const config = join(dir, 'cairn.yaml')
    await writeFile(
      config,
      [
        'repositories:',
        '  local:',
        `    url: ${join(dir, 'repo')}`,
        '    password-file: pass',
        'sets:',
        '  slow:',
        `    sources: [${join(dir, 'src')}]`,
        '    destinations: [local]',
        '    schedule: daily 02:30',
        '    hooks:',
        `      before: ["touch ${join(dir, 'started')}; sleep 30"]`,
        `      finally: ["sleep 0.5; echo ran > ${join(dir, 'finally')}"]`,
      ].join('\n'),
    )
    const stateDir = join(dir, 'state')
    const child = spawn(process.execPath, [MAIN, 'daemon', '--config', config, '--state-dir', stateDir, '--listen', '127.0.0.1:0'], {
      env: { PATH: process.env.PATH ?? '', HOME: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
    try {
      await waitUntil(() => readDaemonInfo(stateDir) !== undefined, 20_000, 'daemon.json')
      await waitUntil(() => stderr.includes('Daemon started'), 10_000, 'the start message')
      assert.match(stderr, /API listening on http:\/\/127\.0\.0\.1:\d+/)
      assert.match(stderr, /Config ".*cairn\.yaml": slow \(daily 02:30\)/)
      const client = new DaemonClient({ stateDir })
      assert.deepEqual(await client.trigger('slow'), { accepted: true, set: 'slow' })
      await waitUntil(() => stderr.includes('Started backup "slow"'), 10_000, 'the run to start')
      await waitUntil(() => existsSync(join(dir, 'started')), 10_000, 'the before hook')
      const status = await client.status()
      assert.equal(status.sets[0].active?.state, 'running')
      const t0 = Date.now()
      child.kill('SIGTERM')
      const { code } = await exited
      assert.equal(code, 0, stderr)
      assert.ok(Date.now() - t0 < 15_000)
      assert.equal((await readFile(join(dir, 'finally'), 'utf8')).trim(), 'ran', 'the finally hook ran before the daemon stopped')
      assert.match(stderr, /SIGTERM: stopping after the running sets finish their finally hooks/)
      assert.match(stderr, /Stopped\n$/)
      assert.equal(readDaemonInfo(stateDir), undefined)
      const history = RunHistory.open(join(stateDir, 'history.sqlite'))
      const run = history.lastRun('slow')
      history.close()
      assert.equal(run?.result, 'cancelled')
      assert.ok(run?.errors.some((e) => /The daemon is stopping/.test(e)), JSON.stringify(run?.errors))
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  })
})

describe('cairn schedule', () => {
  it('install --dry-run prints the systemd units or the crontab entry it would write', async () => {
    const dir = join(root, 'sched')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'pass'), 'pw\n')
    const config = join(dir, 'cairn.yaml')
    await writeFile(
      config,
      ['repositories:', '  nas:', `    url: ${join(dir, 'repo')}`, '    password-file: pass', 'sets:', '  data:', `    sources: [${dir}]`, '    destinations: [nas]', '    schedule: { when: "daily 02:30", jitter: 10m }', '  manual:', `    sources: [${dir}]`, '    destinations: [nas]'].join('\n'),
    )
    const units = join(dir, 'units')
    const r = await cli(['schedule', 'install', '--dry-run', '--config', config, '--unit-dir', units])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`^Would write ${units}/cairn-data\\.service:$`, 'm'))
    assert.match(r.stdout, /^ExecStart=\S*node \S+main\.js run data --config \S+cairn\.yaml$/m)
    assert.match(r.stdout, /^OnCalendar=\*-\*-\* 02:30:00$/m)
    assert.match(r.stdout, /^RandomizedDelaySec=600$/m)
    assert.match(r.stdout, /^Would run: systemctl --user daemon-reload && systemctl --user enable --now cairn-data\.timer$/m)
    assert.doesNotMatch(r.stdout, /cairn-manual/, 'a set without a schedule gets no timer')
    await assert.rejects(stat(units), /ENOENT/, 'a dry run writes nothing')

    const cron = await cli(['schedule', 'install', '--cron', '--dry-run', '--config', config])
    assert.equal(cron.code, 0, cron.stderr)
    assert.match(cron.stdout, /^30 2 \* \* \* \S*node \S+main\.js run data --config \S+cairn\.yaml >> \S+cron-data\.log 2>&1$/m)
    assert.match(cron.stderr, /cron has no jitter/)

    const written = await cli(['schedule', 'install', '--no-enable', '--config', config, '--unit-dir', units])
    assert.equal(written.code, 0, written.stderr)
    assert.match(await readFile(join(units, 'cairn-data.timer'), 'utf8'), /^Persistent=true$/m)
    await writeFile(join(units, 'cairn-mine.service'), '[Unit]\nDescription=not written by cairn\n')
    const removed = await cli(['schedule', 'remove', '--unit-dir', units])
    assert.equal(removed.code, 0, removed.stderr)
    await assert.rejects(stat(join(units, 'cairn-data.timer')), /ENOENT/)
    await stat(join(units, 'cairn-mine.service'))
  })
})

describe('parseListen()', () => {
  it('reads HOST:PORT, [IPv6]:PORT, :PORT and PORT, and refuses the rest', async () => {
    const { parseListen } = await import('./daemon.js')
    assert.deepEqual(parseListen('127.0.0.1:7500'), { host: '127.0.0.1', port: 7500 })
    assert.deepEqual(parseListen('[::1]:7439'), { host: '::1', port: 7439 })
    assert.deepEqual(parseListen(':0'), { host: '127.0.0.1', port: 0 })
    assert.deepEqual(parseListen('7439'), { host: '127.0.0.1', port: 7439 })
    assert.throws(() => parseListen('localhost'), /Invalid --listen "localhost": expected HOST:PORT/)
    assert.throws(() => parseListen('1.2.3.4:99999'), /Invalid --listen/)
  })
})
