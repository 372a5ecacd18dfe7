import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { notificationsSchema, type NotificationTarget } from '../../config/index.js'
import type { RunRecord } from '../history.js'
import { closedPort, startHttpReceiver, startSmtpReceiver, type ReceivedRequest } from '../testing.js'
import { describeRun } from './event.js'
import { Notifier } from './notifier.js'

type Http = Awaited<ReturnType<typeof startHttpReceiver>>
type Smtp = Awaited<ReturnType<typeof startSmtpReceiver>>

let http: Http
let smtp: Smtp
let dir: string
before(async () => {
  http = await startHttpReceiver()
  smtp = await startSmtpReceiver()
  dir = await mkdtemp(join(tmpdir(), 'cairn-notify-'))
  await writeFile(join(dir, 'token'), 'tk_secret_123\n')
  await writeFile(join(dir, 'smtp.pass'), 'mail-pass\n')
})
after(async () => {
  await http.close()
  await smtp.close()
  await rm(dir, { recursive: true, force: true })
})

const DESTS = [
  { name: 'nas', location: 'sftp:backup@nas.local:/srv/cairn', removable: false },
  { name: 'usb', location: '/media/me/T9/cairn', removable: true },
]

function run(result: RunRecord['result'], extra: Partial<RunRecord> = {}): RunRecord {
  return {
    id: 7,
    job: 'data',
    kind: 'backup',
    trigger: 'schedule',
    destinations: [
      { name: 'nas', status: result === 'success' ? 'success' : 'failure', ...(result === 'success' ? { snapshotId: 'c0ffee'.padEnd(64, '0') } : { error: 'connection refused' }) },
      { name: 'usb', status: 'missing' },
    ],
    startedAt: Date.parse('2025-03-29T02:30:00Z'),
    endedAt: Date.parse('2025-03-29T02:31:05Z'),
    result,
    files: 1234,
    bytes: 5 * 1024 * 1024,
    snapshotIds: result === 'success' ? ['c0ffee'.padEnd(64, '0')] : [],
    errors: result === 'success' ? [] : ['nas: backup failed: connection refused'],
    ...extra,
  }
}

const success = () => describeRun(run('success'), 'pc', DESTS, 'data')
const failure = () => describeRun(run('failure'), 'pc', DESTS, 'data')
const parse = (targets: unknown[]) => notificationsSchema.parse(targets)

/** Mail headers with RFC 2047 Q-encoded words (as nodemailer writes them) decoded. */
function decodeHeaders(data: string): string {
  const joined = data.replace(/\?=\r\n =\?UTF-8\?Q\?/g, '')
  return joined.replace(/=\?UTF-8\?Q\?(.*?)\?=/g, (_w, q: string) =>
    Buffer.from(q.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'),
  )
}

/** The requests the receiver got under `prefix` since `from`. */
const got = (prefix: string, from = 0): ReceivedRequest[] => http.requests.slice(from).filter((r) => r.path.startsWith(prefix))

describe('describeRun()', () => {
  it('says what ran, where, how much, how long and what failed', () => {
    const s = success()
    assert.equal(s.title, 'Backup "data" succeeded on pc')
    assert.match(s.message, /^Backup "data" backed up 1,234 files \(5\.00 MiB\) in 1m 05s, started on schedule at \d{4}-\d\d-\d\d \d\d:\d\d:00\./)
    assert.match(s.message, /nas \(sftp:backup@nas\.local:\/srv\/cairn\): success, snapshot c0ffee00/)
    assert.match(s.message, /usb \(\/media\/me\/T9\/cairn\): not connected/)
    const f = failure()
    assert.equal(f.title, 'Backup "data" FAILED on pc')
    assert.equal(f.event, 'failure')
    assert.match(f.message, /nas \(sftp:backup@nas\.local:\/srv\/cairn\): failure - connection refused/)
    assert.match(f.message, /What failed:\n {2}nas: backup failed: connection refused/)
  })

  it('a partial run says so, and names the destinations that failed (it said "unreadable files" whatever the cause)', () => {
    const oneFailed = describeRun(run('partial', { destinations: [{ name: 'nas', status: 'success', snapshotId: 'c0ffee'.padEnd(64, '0') }, { name: 'usb', status: 'failure', error: 'low space' }] }), 'pc', DESTS, 'data')
    assert.equal(oneFailed.title, 'Backup "data" partly failed on pc: usb failed')
    assert.equal(oneFailed.event, 'failure')
    const unreadable = describeRun(run('partial', { destinations: [{ name: 'nas', status: 'partial', snapshotId: 'c0ffee'.padEnd(64, '0') }] }), 'pc', DESTS, 'data')
    assert.equal(unreadable.title, 'Backup "data" partly failed on pc')
  })

  it('a skipped run names the drive that was not connected once, and nothing under "What failed"', () => {
    // It said "not connected - usb (...) is not connected", then listed the drive as what failed.
    const missing = 'usb (/media/me/T9/cairn) is not connected'
    const s = describeRun(run('skipped', { destinations: [{ name: 'usb', status: 'missing', error: missing }], errors: [missing] }), 'pc', DESTS, 'data')
    assert.equal(s.title, 'Backup "data" skipped on pc: usb not connected')
    assert.equal(s.message.split('not connected').length - 1, 1, s.message)
    assert.doesNotMatch(s.message, /What failed/)
  })
})

describe('Notifier against real receivers', () => {
  it('ntfy: JSON to the server root with topic, title, message, raised priority on failure, and the token from its file', async () => {
    const from = http.requests.length
    const n = new Notifier({ global: parse([{ type: 'ntfy', url: `${http.url}/ntfy/backups`, 'token-file': join(dir, 'token'), tags: ['cairn'], on: ['failure'] }]) })
    assert.deepEqual(await n.notify(failure()), [{ target: 'ntfy #1', ok: true }])
    const [r] = got('/ntfy', from)
    assert.equal(r.method, 'POST')
    assert.equal(r.path, '/ntfy/')
    assert.equal(r.headers.authorization, 'Bearer tk_secret_123')
    const body = JSON.parse(r.body)
    assert.equal(body.topic, 'backups')
    assert.equal(body.title, 'Backup "data" FAILED on pc')
    assert.equal(body.priority, 4)
    assert.deepEqual(body.tags, ['x', 'cairn'])
    assert.match(body.message, /What failed/)
    assert.deepEqual(await n.notify(success()), [], 'success is not in its on: list')
  })

  it('gotify: POST /message with X-Gotify-Key', async () => {
    const from = http.requests.length
    const n = new Notifier({ global: parse([{ type: 'gotify', url: `${http.url}/gotify/`, token: 'app-token', on: ['success'] }]) })
    await n.notify(success())
    const [r] = got('/gotify', from)
    assert.equal(r.path, '/gotify/message')
    assert.equal(r.headers['x-gotify-key'], 'app-token')
    assert.deepEqual(Object.keys(JSON.parse(r.body)), ['title', 'message', 'priority'])
    assert.equal(JSON.parse(r.body).priority, 5)
  })

  it('discord and slack: their webhook JSON', async () => {
    const from = http.requests.length
    const n = new Notifier({ global: parse([{ type: 'discord', url: `${http.url}/discord/x` }, { type: 'slack', url: `${http.url}/slack/y` }]) })
    const d = await n.notify(failure())
    assert.ok(d.every((x) => x.ok))
    const discord = JSON.parse(got('/discord', from)[0].body)
    assert.equal(discord.username, 'cairn')
    assert.match(discord.content, /^\*\*Backup "data" FAILED on pc\*\*\nBackup "data" FAILED in 1m 05s/)
    const slack = JSON.parse(got('/slack', from)[0].body)
    assert.match(slack.text, /^\*Backup "data" FAILED on pc\*\n/)
  })

  it('healthchecks: /start, success on the bare URL, /fail, and /log for a skip', async () => {
    const from = http.requests.length
    const n = new Notifier({ global: parse([{ type: 'healthchecks', url: `${http.url}/hc/5f0e` }]) })
    await n.notify(describeRun(run('running'), 'pc', DESTS, 'data', true))
    await n.notify(success())
    await n.notify(failure())
    await n.notify(describeRun(run('skipped'), 'pc', DESTS, 'data'))
    assert.deepEqual(
      got('/hc', from).map((r) => r.path),
      ['/hc/5f0e/start', '/hc/5f0e', '/hc/5f0e/fail', '/hc/5f0e/log'],
    )
    assert.match(got('/hc', from)[2].body, /^Backup "data" FAILED on pc\n\n/)
  })

  it('webhook: method, headers and a body template with {{placeholders}}; GET with placeholders in the URL', async () => {
    const from = http.requests.length
    const n = new Notifier({
      global: parse([
        {
          type: 'webhook',
          url: `${http.url}/hook/put`,
          method: 'PUT',
          headers: { 'X-Api-Key': 'k1', 'X-Set': '{{set}}' },
          body: '{"set": {{set|json}}, "ok": "{{result}}", "files": {{files}}, "took": "{{duration}}", "msg": {{message|json}}, "unknown": "{{nope}}"}',
        },
        { type: 'webhook', url: `${http.url}/hook/get?set={{set}}&title={{title}}`, method: 'GET' },
        { type: 'webhook', url: `${http.url}/hook/default` },
      ]),
    })
    assert.ok((await n.notify(failure())).every((d) => d.ok))
    const put = got('/hook/put', from)[0]
    assert.equal(put.method, 'PUT')
    assert.equal(put.headers['x-api-key'], 'k1')
    assert.equal(put.headers['x-set'], 'data')
    assert.equal(put.headers['content-type'], 'application/json')
    const body = JSON.parse(put.body)
    assert.deepEqual({ ...body, msg: undefined }, { set: 'data', ok: 'failure', files: 1234, took: '1m 05s', msg: undefined, unknown: '{{nope}}' })
    assert.match(body.msg, /What failed:\n/)
    const get = got('/hook/get', from)[0]
    assert.equal(get.method, 'GET')
    assert.equal(get.path, '/hook/get?set=data&title=Backup%20%22data%22%20FAILED%20on%20pc')
    const def = JSON.parse(got('/hook/default', from)[0].body)
    assert.equal(def.event, 'failure')
    assert.equal(def.run_id, 7)
    assert.equal(def.duration_seconds, 65)
    assert.deepEqual(def.errors, ['nas: backup failed: connection refused'])
  })

  it('webhook: user:password in the URL becomes a Basic authorization header, and never shows in an error', async () => {
    // fetch refused such URLs, every delivery failed, and its message put the password and the
    // query's token into the log and the history.
    const from = http.requests.length
    const withUser = (base: string) => base.replace('http://', 'http://me:p%40ss@')
    const n = new Notifier({ global: parse([{ type: 'webhook', url: `${withUser(http.url)}/auth/hook?token=T0KEN` }]) })
    assert.deepEqual(await n.notify(failure()), [{ target: 'webhook #1', ok: true }])
    const [req] = got('/auth', from)
    assert.equal(req.path, '/auth/hook?token=T0KEN')
    assert.equal(req.headers.authorization, `Basic ${Buffer.from('me:p@ss').toString('base64')}`)
    // A "%" that starts no escape is taken as written (every delivery failed with "URI malformed").
    const raw = new Notifier({ global: parse([{ type: 'webhook', url: `${http.url.replace('http://', 'http://me:p%zz@')}/auth/raw` }]) })
    assert.deepEqual(await raw.notify(failure()), [{ target: 'webhook #1', ok: true }])
    assert.equal(got('/auth/raw', from)[0].headers.authorization, `Basic ${Buffer.from('me:p%zz').toString('base64')}`)
    const port = await closedPort()
    const down = new Notifier({ global: parse([{ type: 'webhook', url: `http://me:secret@127.0.0.1:${port}/hook?token=T0KEN` }]) })
    const [d] = await down.notify(failure())
    assert.equal(d.ok, false)
    assert.doesNotMatch(d.error ?? '', /secret|T0KEN/)
  })

  it('email: a message through a real SMTP server, logged in with the password from its file', async () => {
    const from = smtp.messages.length
    const n = new Notifier({
      global: parse([
        {
          type: 'email',
          host: '127.0.0.1',
          port: smtp.port,
          user: 'me@example.com',
          'password-file': join(dir, 'smtp.pass'),
          from: 'cairn@example.com',
          to: ['me@example.com', 'ops@example.com'],
        },
      ]),
    })
    assert.deepEqual(await n.notify(failure()), [{ target: 'email #1', ok: true }])
    const m = smtp.messages[from]
    assert.equal(m.from, 'cairn@example.com')
    assert.deepEqual(m.to, ['me@example.com', 'ops@example.com'])
    assert.deepEqual(m.auth, { user: 'me@example.com', password: 'mail-pass' })
    assert.match(decodeHeaders(m.data), /^Subject: \[cairn\] Backup "data" FAILED on pc\r?$/m)
    assert.match(m.data.replace(/=\r\n/g, ''), /What failed:/)
  })

  it('command: the message on stdin and the event in CAIRN_* variables', async () => {
    const out = join(dir, 'cmd.out')
    const n = new Notifier({ global: parse([{ type: 'command', command: `{ echo "$CAIRN_EVENT|$CAIRN_SET|$CAIRN_RESULT|$CAIRN_FILES"; cat; } > ${out}` }]) })
    assert.deepEqual(await n.notify(failure()), [{ target: 'command #1', ok: true }])
    const text = await readFile(out, 'utf8')
    assert.match(text, /^failure\|data\|failure\|1234\nBackup "data" FAILED on pc\n\n/)
  })

  it('command: runs in the folder given (the config file\'s, as hooks do)', async () => {
    // It ran wherever the daemon was started (/ under systemd): a relative path that worked in
    // a hook failed here.
    const n = new Notifier({ global: parse([{ type: 'command', command: 'pwd > where.out' }]), cwd: dir })
    assert.deepEqual(await n.notify(failure()), [{ target: 'command #1', ok: true }])
    assert.equal((await readFile(join(dir, 'where.out'), 'utf8')).trim(), dir)
  })

  it('per-set targets and the sets: filter decide who hears about which set', () => {
    const global: NotificationTarget[] = parse([{ type: 'slack', url: 'http://x/a' }, { type: 'slack', url: 'http://x/b', sets: ['other'] }])
    const perSet = new Map([['data', parse([{ type: 'discord', url: 'http://x/c', name: 'mine' }])]])
    const n = new Notifier({ global, perSet })
    assert.deepEqual(n.targetsFor('failure', 'data').map((t) => t.name), ['slack #1', 'mine'])
    assert.deepEqual(n.targetsFor('failure', 'other').map((t) => t.name), ['slack #1', 'slack #2'])
    assert.deepEqual(n.targetsFor('success', 'data'), [], 'success is not a default event')
  })

  it('command: the timeout (a bare number is seconds) stops the whole command, programs it started included', async () => {
    // Only the shell was signalled, and the delivery waited for the program it had started (the
    // finished run kept its repository busy meanwhile). A bare number was read as milliseconds.
    const n = new Notifier({ global: parse([{ type: 'command', command: 'sleep 20 && echo done', timeout: 1 }]) })
    const started = Date.now()
    const [d] = await n.notify(failure())
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`)
    assert.equal(d.ok, false)
    assert.match(d.error ?? '', /command #1: command "sleep 20 && echo done" did not finish within 1s/)
  })

  it('a failing receiver is reported, never thrown: HTTP 500, no answer, refused connection, bad command, missing secret', async () => {
    const down = await startHttpReceiver({ status: 500 })
    const hang = await startHttpReceiver({ hang: true })
    const port = await closedPort()
    try {
      const errors: string[] = []
      const n = new Notifier({
        global: parse([
          { type: 'slack', url: `${down.url}/x` },
          { type: 'discord', url: `${hang.url}/x`, timeout: '300ms' },
          { type: 'email', host: '127.0.0.1', port, from: 'a@b.c', to: 'd@e.f', timeout: '2s' },
          { type: 'command', command: 'echo broken >&2; exit 3' },
          { type: 'ntfy', url: `${http.url}/ntfy/t`, 'token-file': join(dir, 'missing') },
        ]),
        onError: (target, err) => errors.push(`${target}: ${err.message}`),
      })
      const started = Date.now()
      const d = await n.notify(failure())
      assert.ok(Date.now() - started < 5000)
      assert.deepEqual(d.map((x) => x.ok), [false, false, false, false, false])
      assert.match(d[0].error ?? '', /slack #1: http:\/\/127\.0\.0\.1:\d+ answered HTTP 500/)
      assert.match(d[1].error ?? '', /discord #2: cannot reach http:\/\/127\.0\.0\.1:\d+: no answer within 0\.3s/)
      assert.match(d[2].error ?? '', /email #3: cannot send mail through 127\.0\.0\.1:\d+: .*ECONNREFUSED/)
      assert.match(d[3].error ?? '', /command #4: command "echo broken >&2; exit 3" exited with status 3: broken/)
      assert.match(d[4].error ?? '', /ntfy #5: cannot read the secret file ".*missing": ENOENT/)
      assert.equal(errors.length, 5)
      assert.ok(!d.some((x) => (x.error ?? '').includes('tk_secret')), 'no secret in messages')
    } finally {
      await down.close()
      await hang.close()
    }
  })
})

