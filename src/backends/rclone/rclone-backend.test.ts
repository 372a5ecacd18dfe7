/**
 * RcloneBackend with a real rclone child over a local path remote: the conformance suite, and
 * what happens when rclone is missing, fails to start, never answers, or dies mid-session.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { errnoCode, isAppError } from '../../base/index.js'
import type { Handle } from '../backend.js'
import { measure, rcloneAvailable } from '../rest/testing.js'
import { runConformanceSuite } from '../testing/conformance.js'
import { RcloneBackend } from './rclone-backend.js'
import { isTransient } from '../wrap/transient.js'

const hasRclone = await rcloneAvailable()
const skip = hasRclone ? false : 'rclone is not installed'
const root = mkdtempSync(join(tmpdir(), 'cairn-rclone-'))
after(() => rmSync(root, { recursive: true, force: true }))

function file(type: Handle['type'], size: number): { h: Handle; data: Buffer } {
  const data = randomBytes(size)
  return { h: { type, name: createHash('sha256').update(data).digest('hex') }, data }
}

/** True while a process with this id exists (a zombie counts: it has not been reaped). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    if (errnoCode(err) === 'ESRCH') return false
    throw err
  }
}

let repoCount = 0
if (hasRclone) {
  // rclone serve restic replaces a file POSTed twice (restic-format.md §7.4), hence `overwrites`.
  runConformanceSuite('RcloneBackend over HTTP/2 to rclone serve restic --stdio', async () => RcloneBackend.open(join(root, `conformance-${++repoCount}`)), {
    overwrites: true,
  })
}

describe('RcloneBackend', { skip }, () => {
  it('starts rclone on the first request, forwards its stderr as "rclone: " lines, and reaps it on close()', async () => {
    const messages: string[] = []
    const be = RcloneBackend.open(join(root, 'lifecycle'), {
      extended: { 'rclone.args': 'serve restic --stdio --b2-hard-delete -vv' },
      onMessage: (m) => messages.push(m),
    })
    assert.equal(be.location, `rclone:${join(root, 'lifecycle')}`)
    assert.deepEqual(be.properties, { connections: 5, local: false, listsAfterWrite: false })
    assert.equal(await be.pid(), undefined, 'nothing runs before the first request')
    await be.create()
    const pid = await be.pid()
    assert.ok(pid !== undefined && processExists(pid))
    await be.close()
    assert.equal(processExists(pid), false, 'rclone has exited and been reaped')
    assert.ok(messages.length > 0)
    for (const m of messages) assert.match(m, /^rclone: /)
    assert.ok(messages.some((m) => /DEBUG/.test(m)), messages.join('\n'))
  })

  it('names a missing rclone program in an INVALID_ARGUMENT error', async () => {
    const be = RcloneBackend.open(join(root, 'missing'), { extended: { 'rclone.program': '/nonexistent/bin/rclone-nope' } })
    try {
      await assert.rejects(be.stat({ type: 'config', name: '' }), (err: unknown) => {
        assert.ok(isAppError(err, 'INVALID_ARGUMENT'), String(err))
        assert.equal(err.message, `Cannot stat "config" in "rclone:${join(root, 'missing')}": cannot start rclone: program "/nonexistent/bin/rclone-nope" not found`)
        assert.match(err.hint ?? '', /-o rclone\.program=/)
        return true
      })
    } finally {
      await be.close()
    }
  })

  it('reports an rclone that exits at startup with its command and last messages', async () => {
    const be = RcloneBackend.open('nosuchremote:repo', { env: { ...process.env, RCLONE_CONFIG: join(root, 'empty-rclone.conf') } })
    try {
      await assert.rejects(be.create(), (err: unknown) => {
        assert.ok(isAppError(err, 'IO'), String(err))
        assert.match(err.message, /^Cannot create a repository at "rclone:nosuchremote:repo": rclone exited with code 1 before it served any request \(command: rclone serve restic --stdio --b2-hard-delete nosuchremote:repo\); its last messages: .*didn't find section in config file/)
        return true
      })
    } finally {
      await be.close()
    }
  })

  it('gives up for good when rclone does not answer within -o rclone.timeout (no retry would start it faster)', async () => {
    const be = RcloneBackend.open(join(root, 'silent'), { extended: { 'rclone.program': 'sh', 'rclone.args': "-c 'exec sleep 30'", 'rclone.timeout': '300ms' } })
    const t0 = Date.now()
    try {
      await assert.rejects(be.stat({ type: 'config', name: '' }), (err: unknown) => {
        assert.ok(isAppError(err, 'IO'), String(err))
        assert.equal(isTransient(err), false)
        assert.match(err.message, /rclone did not answer within 0\.3 s \(command: sh -c 'exec sleep 30' /)
        assert.match(err.hint ?? '', /rclone\.timeout/)
        return true
      })
      assert.ok(Date.now() - t0 < 5000)
    } finally {
      await be.close()
    }
  })

  it('fails requests in flight with NETWORK when rclone is killed, and starts a new rclone for the next request', async () => {
    const be = RcloneBackend.open(join(root, 'killed'))
    try {
      await be.create()
      const packs = Array.from({ length: 4 }, () => file('data', 16 * 1024 * 1024))
      for (const p of packs) await be.save(p.h, p.data)
      const first = await be.pid()
      assert.ok(first !== undefined)
      const loads = Promise.allSettled(packs.map((p) => be.load(p.h)))
      await new Promise((r) => setTimeout(r, 30))
      process.kill(first, 'SIGKILL')
      const results = await loads
      const failures = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as unknown)
      assert.ok(failures.length > 0, 'some loads were cut')
      for (const err of failures) {
        assert.ok(isAppError(err, 'NETWORK'), String(err))
        assert.match(err.message, /^Cannot load "data\/[0-9a-f]{64}" from "rclone:.*": rclone was killed by SIGKILL \(command: rclone serve restic --stdio --b2-hard-delete .*killed\)/)
      }
      assert.equal(processExists(first), false)
      assert.deepEqual(await be.load(packs[0].h), packs[0].data, 'the next request works')
      const second = await be.pid()
      assert.ok(second !== undefined && second !== first)
      await be.close()
      assert.equal(processExists(second), false)
    } finally {
      await be.close()
    }
  })

  it('kills an rclone that hangs (stopped: not even a ping answered), so that the next request starts a new one', async () => {
    // Each retry went back to the stopped rclone and waited out the idle timeout again: a backup stalled for 20 minutes.
    const be = RcloneBackend.open(join(root, 'hung'), {}, { idleTimeoutMs: 1000 })
    let first: number | undefined
    try {
      await be.create()
      const f = file('data', 4096)
      await be.save(f.h, f.data)
      first = await be.pid()
      assert.ok(first !== undefined)
      process.kill(first, 'SIGSTOP')
      await assert.rejects(be.load(f.h), (err: unknown) => isAppError(err, 'NETWORK') && /rclone sent nothing for 1 s/.test(err.message))
      for (const t0 = Date.now(); processExists(first); ) {
        assert.ok(Date.now() - t0 < 5000, 'the stopped rclone was killed')
        await new Promise((r) => setTimeout(r, 50))
      }
      assert.deepEqual(await be.load(f.h), f.data, 'the next request works, on a new rclone')
      const second = await be.pid()
      assert.ok(second !== undefined && second !== first)
    } finally {
      if (first !== undefined && processExists(first)) process.kill(first, 'SIGKILL')
      await be.close()
    }
  })

  it('kills the whole process group of an rclone run by a wrapper script, and does not wait for it', async () => {
    const pidFile = join(root, 'wrapped.pid')
    // The wrapper does not exec: the "rclone" (a sleep) is its child, holding stderr open.
    const be = RcloneBackend.open(join(root, 'wrapped'), {
      extended: { 'rclone.program': 'sh', 'rclone.args': `-c 'sleep 30 & echo $! > ${pidFile}; wait'`, 'rclone.timeout': '300ms' },
    })
    const t0 = Date.now()
    try {
      await assert.rejects(be.stat({ type: 'config', name: '' }), (err: unknown) => isAppError(err, 'IO'))
    } finally {
      await be.close()
    }
    const sleeper = Number((await import('node:fs')).readFileSync(pidFile, 'utf8'))
    assert.ok(sleeper > 0)
    for (const t1 = Date.now(); processExists(sleeper); ) {
      assert.ok(Date.now() - t1 < 3000, "the wrapper's child was killed too")
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.ok(Date.now() - t0 < 5000)
  })

  it('saves and loads 16 MiB packs (speed reported)', async (t) => {
    const be = RcloneBackend.open(join(root, 'speed'))
    try {
      await be.create()
      const { saveMBps, loadMBps } = await measure(be, 5)
      t.diagnostic(`HTTP/2 over rclone's pipes, 16 MiB: save ${saveMBps.toFixed(0)} MB/s, load ${loadMBps.toFixed(0)} MB/s (best of 5)`)
    } finally {
      await be.close()
    }
  })
})
