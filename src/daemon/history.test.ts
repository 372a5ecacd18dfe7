import assert from 'node:assert/strict'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { MAX_LOG_BYTES, RunHistory } from './history.js'

const DAY = 86_400_000

describe('RunHistory', () => {
  it('records a run from start to end, with its log', () => {
    const h = RunHistory.open(':memory:')
    const id = h.start({ job: 'data', kind: 'backup', trigger: 'schedule', destinations: [{ name: 'nas', status: 'not-run' }], startedAt: 1000 })
    assert.equal(h.get(id)?.result, 'running')
    h.appendLog(id, 'line one')
    h.appendLog(id, 'line two\n')
    h.finish(id, {
      endedAt: 5000,
      result: 'success',
      destinations: [{ name: 'nas', status: 'success', snapshotId: 'ab'.repeat(32) }],
      files: 12,
      bytes: 3456,
      snapshotIds: ['ab'.repeat(32)],
      errors: [],
    })
    const r = h.get(id)
    assert.deepEqual(r, {
      id,
      job: 'data',
      kind: 'backup',
      trigger: 'schedule',
      destinations: [{ name: 'nas', status: 'success', snapshotId: 'ab'.repeat(32) }],
      startedAt: 1000,
      endedAt: 5000,
      result: 'success',
      files: 12,
      bytes: 3456,
      snapshotIds: ['ab'.repeat(32)],
      errors: [],
    })
    assert.equal(h.log(id), 'line one\nline two\n')
    assert.equal(h.log(999), undefined)
    h.close()
  })

  it('answers last run and last success per job, and lists newest first with paging', () => {
    const h = RunHistory.open(':memory:')
    const add = (job: string, startedAt: number, result: 'success' | 'failure' | 'partial') => {
      const id = h.start({ job, kind: 'backup', trigger: 'schedule', destinations: [], startedAt })
      h.finish(id, { endedAt: startedAt + 1, result, destinations: [], files: 0, bytes: 0, snapshotIds: [], errors: result === 'failure' ? ['boom'] : [] })
      return id
    }
    add('data', 100, 'success')
    const p = add('data', 200, 'partial')
    const f = add('data', 300, 'failure')
    add('other', 400, 'success')
    assert.equal(h.lastRun('data')?.id, f)
    assert.equal(h.lastSuccess('data')?.id, p, 'a partial run wrote a snapshot')
    assert.deepEqual(h.list({ job: 'data' }).map((r) => r.startedAt), [300, 200, 100])
    assert.deepEqual(h.list({ limit: 2 }).map((r) => r.job), ['other', 'data'])
    assert.deepEqual(h.list({ job: 'data', beforeId: f }).map((r) => r.startedAt), [200, 100])
    h.close()
  })

  it('prune() deletes old runs but keeps the latest runs of each job', () => {
    const h = RunHistory.open(':memory:')
    const now = 1000 * DAY
    for (let i = 0; i < 30; i++) {
      const id = h.start({ job: 'daily', kind: 'backup', trigger: 'schedule', destinations: [], startedAt: now - (200 - i) * DAY })
      h.finish(id, { endedAt: now, result: 'success', destinations: [], files: 0, bytes: 0, snapshotIds: [], errors: [] })
    }
    const recent = h.start({ job: 'other', kind: 'backup', trigger: 'manual', destinations: [], startedAt: now - DAY })
    h.finish(recent, { endedAt: now, result: 'success', destinations: [], files: 0, bytes: 0, snapshotIds: [], errors: [] })
    const removed = h.prune(now, { keepDays: 90, keepPerJob: 5 })
    assert.equal(removed, 25)
    assert.equal(h.list({ job: 'daily', limit: 100 }).length, 5)
    assert.equal(h.list({ job: 'other' }).length, 1)
    h.close()
  })

  it('cuts a log longer than 1 MiB in the middle with a note, keeping its first half and its last lines', () => {
    // It kept the first 1 MiB and dropped the rest: a chatty hook pushed out the lines that say
    // how the run ended.
    const h = RunHistory.open(':memory:')
    const id = h.start({ job: 'data', kind: 'backup', trigger: 'manual', destinations: [], startedAt: 0 })
    const line = 'x'.repeat(1023)
    h.appendLog(id, 'FIRST LINE')
    for (let i = 0; i < 3000; i++) h.appendLog(id, `${i} ${line}`)
    h.appendLog(id, 'set data: ok')
    const log = h.log(id) ?? ''
    assert.ok(Buffer.byteLength(log) <= MAX_LOG_BYTES, `${Buffer.byteLength(log)} bytes`)
    assert.ok(Buffer.byteLength(log) > MAX_LOG_BYTES - 4096, 'it fills the limit')
    const lines = log.trimEnd().split('\n')
    assert.equal(lines[0], 'FIRST LINE')
    assert.equal(lines.at(-1), 'set data: ok')
    const note = lines.findIndex((l) => l.startsWith('[log truncated'))
    assert.ok(note > 400 && note < 600, `the note after the first half, at line ${note}`)
    assert.equal(lines.filter((l) => l.startsWith('[log truncated')).length, 1)
    assert.ok(lines[note + 1].startsWith('2'), 'later lines follow the note')
    assert.equal(Number(lines.at(-2)!.split(' ')[0]), 2999, 'the last lines are all there')
    h.close()
  })

  it('closes runs left running by a daemon that died as failures, and keeps meta values; the file is private', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-history-'))
    try {
      const path = join(dir, 'history.sqlite')
      const a = RunHistory.open(path)
      const id = a.start({ job: 'data', kind: 'backup', trigger: 'schedule', destinations: [], startedAt: 10 })
      a.setMeta('first-seen:data', '10')
      a.close()
      const b = RunHistory.open(path, 99)
      const r = b.get(id)
      assert.equal(r?.result, 'failure')
      assert.equal(r?.endedAt, 99)
      assert.deepEqual(r?.errors, ['The daemon stopped before the run finished'])
      assert.equal(b.getMeta('first-seen:data'), '10')
      b.close()
      assert.equal((await stat(path)).mode & 0o777, 0o600)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
