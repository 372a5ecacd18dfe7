import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { runHook, runHooks, type HookContext } from './hooks.js'

const cmd = (command: string, timeoutMs = 10_000, continueOnError = false) => ({ command, timeoutMs, continueOnError })

describe('runHooks()', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-hooks-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))
  const ctx = (extra: Partial<HookContext> = {}): HookContext => ({ env: { ...process.env, CAIRN_SET: 'data' }, cwd: dir, ...extra })

  test('runs commands in order with sh -c, in the config directory, with the environment, and passes output on', async () => {
    const lines: string[] = []
    const { runs, failed } = await runHooks('after', [cmd('echo one "$CAIRN_SET" >> log; echo out'), cmd('pwd >> log; echo err >&2')], ctx({ onOutput: (h, _c, s, l) => lines.push(`${h} ${s} ${l}`) }))
    assert.equal(failed, undefined)
    assert.deepEqual(runs.map((r) => r.ok), [true, true])
    assert.equal(await readFile(join(dir, 'log'), 'utf8'), `one data\n${dir}\n`)
    assert.deepEqual(lines, ['after stdout out', 'after stderr err'])
  })

  test('a failing before hook stops the list; continue-on-error does not', async () => {
    const r = await runHooks('before', [cmd('exit 0'), cmd('exit 4', 10_000, true), cmd('exit 2'), cmd('touch never')], ctx())
    assert.deepEqual(r.runs.map((x) => x.exitCode), [0, 4, 2])
    assert.equal(r.failed?.exitCode, 2)
    assert.equal(r.failed?.error, 'before hook "exit 2" failed: exit code 2')
    assert.equal(existsSync(join(dir, 'never')), false)
  })

  test('a hook that leaves a process in the background ends when its shell exits, and that process keeps running', async () => {
    // The background process held the output pipes open: the hook "ran" until its timeout, failed
    // the set, and its whole group (the restarted service) was killed.
    const lines: string[] = []
    const started = Date.now()
    const run = await runHook('finally', cmd('sleep 30 & echo $! > bg.pid; echo restarted', 20_000), ctx({ onOutput: (_h, _c, _s, l) => lines.push(l) }))
    const pid = Number(await readFile(join(dir, 'bg.pid'), 'utf8'))
    try {
      assert.equal(run.ok, true, run.error)
      assert.ok(Date.now() - started < 5000, `ended ${Date.now() - started} ms after it started`)
      assert.deepEqual(lines, ['restarted'])
      assert.doesNotThrow(() => process.kill(pid, 0), 'the background process still runs')
    } finally {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone
      }
    }
  })

  test('finally hooks all run even after one fails', async () => {
    const r = await runHooks('finally', [cmd('exit 3'), cmd('touch ran')], ctx())
    assert.equal(r.runs.length, 2)
    assert.equal(r.failed?.exitCode, 3)
    assert.ok(existsSync(join(dir, 'ran')))
  })

  test('a timeout ends the whole process group', async () => {
    const started = Date.now()
    const run = await runHook('before', cmd(`(sleep 30; touch ${join(dir, 'orphan')}) & sleep 30`, 300), ctx({ killGraceMs: 200 }))
    assert.equal(run.ok, false)
    assert.equal(run.timedOut, true)
    assert.match(run.error ?? '', /timed out after 0\.3s/)
    assert.ok(Date.now() - started < 5000, 'the hook was not stopped')
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(existsSync(join(dir, 'orphan')), false)
  })

  test('a timeout kills, after the grace period, a process of the group that ignores SIGTERM, even when the shell went at once', async () => {
    // The shell died on SIGTERM, the hook counted as over, and the SIGKILL was called off: the
    // process that ignored SIGTERM ran on, an orphan (a stuck pg_dump after every timed-out run).
    const pidFile = join(dir, 'stubborn.pid')
    const run = await runHook('before', cmd(`sh -c 'trap "" TERM; echo $$ > ${pidFile}; sleep 30' & sleep 30`, 300), ctx({ killGraceMs: 1500 }))
    assert.equal(run.timedOut, true)
    const pid = Number(await readFile(pidFile, 'utf8'))
    const alive = () => {
      try {
        process.kill(pid, 0)
        return true
      } catch {
        return false
      }
    }
    assert.equal(alive(), true, 'it ignores SIGTERM: alive within the grace period')
    const deadline = Date.now() + 3000
    while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    assert.equal(alive(), false, 'killed once the grace period ended')
  })

  test('an abort stops a running hook, and later hooks other than finally do not start', async () => {
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 200)
    const r = await runHooks('after', [cmd('sleep 30'), cmd('touch after-abort')], ctx({ signal: ac.signal, killGraceMs: 200 }))
    assert.equal(r.runs.length, 1)
    assert.equal(r.runs[0].aborted, true)
    assert.equal(existsSync(join(dir, 'after-abort')), false)
  })
})
