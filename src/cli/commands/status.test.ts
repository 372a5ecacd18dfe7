import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { RunJson, StatusJson } from '../../daemon/index.js'
import { formatStatus } from './status.js'

describe('formatStatus()', () => {
  it('keeps the table as wide as a terminal when a run failed with a long error, and prints the error whole below it', () => {
    // One long error (the missing-repository hint) made the table about 400 characters wide.
    const error = `repository "nas" at "/srv/backups/cairn/nas" does not exist (Create it with "cairn init -r /srv/backups/cairn/nas", or run "cairn run data --init" to create every missing destination) ${'x'.repeat(200)}`
    const lastRun: RunJson = {
      id: 3, job: 'data', kind: 'backup', trigger: 'schedule', result: 'failure', startedAt: '2025-01-01T02:30:00.000Z', endedAt: '2025-01-01T02:30:01.000Z',
      durationSeconds: 1, files: 0, bytes: 0, snapshotIds: [], errors: [error], destinations: [],
    }
    const status: StatusJson = {
      version: '0.1.0', host: 'pc', pid: 1, startedAt: '2025-01-01T00:00:00.000Z', now: '2025-01-01T03:00:00.000Z',
      sets: [{ name: 'data', schedule: 'daily 02:30', nextRun: '2025-01-02T02:30:00.000Z', mode: 'all', active: null, lastRun, lastSuccess: null, destinations: [] }],
      tasks: [], destinations: [],
    }
    const text = formatStatus(status)
    const tableLines = text.split('\n').slice(2, 5)
    for (const l of tableLines) assert.ok(l.length <= 140, `${l.length}: ${l}`)
    assert.ok(text.includes(`  ${error}`), 'the whole error follows the table')
  })
})
