import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { SetRunResult } from '../app/sets.js'
import { parseConfig } from '../config/index.js'
import { toRunSetResult } from './app-runner.js'
import { planFromConfig } from './plan-from-config.js'

const CONFIG = `
repositories:
  nas:
    url: sftp://backup:hunter2@nas.local//srv/cairn
    password-file: nas.pass
  usb:
    url: /media/me/T9/cairn
    password-file: usb.pass
    removable: true
    min-free: 10G
notifications:
  - { type: ntfy, url: "https://ntfy.sh/t", token-file: ntfy.token }
defaults:
  notify:
    - { type: email, host: smtp.example.com, from: a@example.com, to: b@example.com, password-file: ~/smtp.pass }
sets:
  data:
    sources: [/data]
    destinations: [nas, usb]
    mode: all
    schedule: { when: "daily 02:30", jitter: 15m, timezone: Europe/Berlin }
    prune: { when: weekly }
    check: { schedule: monthly }
  config:
    sources: [~/.config]
    destinations: [usb]
`

describe('planFromConfig()', () => {
  it('takes sets, destinations, maintenance tasks and notification targets from the config file', () => {
    const plan = planFromConfig(parseConfig(CONFIG, '/home/me/.config/cairn/cairn.yaml'), { HOME: '/home/me' })
    assert.equal(plan.dir, '/home/me/.config/cairn', 'where notification commands run')
    assert.deepEqual(plan.sets.map((s) => [s.name, s.schedule?.cron ?? null, s.schedule?.jitterMs ?? null, s.schedule?.timeZone ?? null, s.mode, s.destinations]), [
      ['data', '30 2 * * *', 900_000, 'Europe/Berlin', 'all', ['nas', 'usb']],
      ['config', null, null, null, 'first-available', ['usb']],
    ])
    assert.deepEqual(plan.destinations, [
      { name: 'nas', location: 'sftp://backup:***@nas.local//srv/cairn', removable: false },
      { name: 'usb', location: '/media/me/T9/cairn', removable: true, path: '/media/me/T9/cairn', lowSpaceBytes: 10 * 1024 ** 3 },
    ])
    assert.deepEqual(plan.maintenance.map((t) => [t.id, t.kind, t.repository, t.set, t.schedule.cron]), [
      ['prune data/nas', 'prune', 'nas', 'data', '0 0 * * 0'],
      ['prune data/usb', 'prune', 'usb', 'data', '0 0 * * 0'],
      ['check data/nas', 'check', 'nas', 'data', '0 0 1 * *'],
      ['check data/usb', 'check', 'usb', 'data', '0 0 1 * *'],
    ])
    assert.equal((plan.notifications[0] as { 'token-file': string })['token-file'], '/home/me/.config/cairn/ntfy.token')
    assert.equal((plan.sets[1].notify[0] as { 'password-file': string })['password-file'], '/home/me/smtp.pass')
    assert.ok(!JSON.stringify(plan.destinations).includes('hunter2'))
  })
})

describe('toRunSetResult()', () => {
  it('maps an app result to the daemon’s: statuses, amounts, snapshots and what failed', () => {
    const r: SetRunResult = {
      set: 'data',
      status: 'partial',
      startedAt: '2025-01-01T00:00:00Z',
      durationMs: 1000,
      hooks: [],
      warnings: [],
      errors: [],
      destinations: [
        { destination: 'nas', location: 'sftp:nas', status: 'ok', via: 'backup', snapshotId: 'a'.repeat(64), files: 10, bytes: 1000, fileErrors: 1, errors: ['cannot read "/data/x": permission denied'], durationMs: 1 },
        { destination: 'usb', location: '/media/usb', status: 'skipped', skip: 'absent', reason: 'drive not present', errors: [], durationMs: 0 },
        { destination: 'cloud', location: 's3:x', status: 'failed', reason: 'backup failed: timeout', errors: ['backup failed: timeout'], durationMs: 5 },
        { destination: 'far', location: 'rest:x', status: 'skipped', skip: 'not-reached', reason: 'not reached', errors: [], durationMs: 0 },
      ],
    }
    assert.deepEqual(toRunSetResult(r), {
      result: 'partial',
      destinations: [
        { name: 'nas', status: 'partial', snapshotId: 'a'.repeat(64), files: 10, bytes: 1000, error: 'cannot read "/data/x": permission denied' },
        { name: 'usb', status: 'missing', error: 'drive not present' },
        { name: 'cloud', status: 'failure', error: 'backup failed: timeout' },
        { name: 'far', status: 'not-run', error: 'not reached' },
      ],
      files: 10,
      bytes: 1000,
      snapshotIds: ['a'.repeat(64)],
      errors: ['nas: cannot read "/data/x": permission denied', 'cloud: backup failed: timeout'],
    })
  })
})
