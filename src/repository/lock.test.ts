import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { hostname } from 'node:os'
import { describe, it } from 'node:test'
import { AppError, isAppError, shortId } from '../base/index.js'
import { decodeLock, encodeLock, isStale, listLocks, Lock, newLockInfo, processScope, releaseAllLocks, STALE_AFTER_MS, type LockInfo } from './lock.js'
import { Repository } from './repository.js'
import { createTestRepository, TEST_PASSWORD } from './testing.js'
import { MemoryBackend, type Backend, type Handle } from '../backends/index.js'
import { withMembers } from '../backends/testing/overrides.js'

const FAST = { settleMs: 0 }

/** The PID of a process that has exited (so it no longer exists on this host). */
function deadPid(): number {
  const r = spawnSync('true')
  assert.ok(r.pid > 0)
  return r.pid
}

/** Writes a lock file as another process would. */
async function foreignLock(repo: Repository, fields: Partial<LockInfo>): Promise<string> {
  const info: LockInfo = { ...newLockInfo(false), pid: process.ppid, ...fields }
  return repo.saveUnpacked('locks', encodeLock(info))
}

async function lockIds(repo: Repository): Promise<string[]> {
  return (await repo.listIds('locks')).sort()
}

describe('Lock', () => {
  it('two shared locks coexist', async () => {
    const repo = await createTestRepository()
    const a = await Lock.acquire(repo, { exclusive: false, ...FAST })
    const b = await Lock.acquire(repo, { exclusive: false, ...FAST })
    assert.deepEqual(await lockIds(repo), [a.id, b.id].sort())
    await a.release()
    await b.release()
    assert.deepEqual(await lockIds(repo), [])
  })

  it('an exclusive lock conflicts with a shared one, in both directions, naming PID and host', async () => {
    const repo = await createTestRepository()
    const shared = await Lock.acquire(repo, { exclusive: false, ...FAST })
    await assert.rejects(Lock.acquire(repo, { exclusive: true, ...FAST }), (err) => {
      assert.ok(isAppError(err, 'LOCKED'))
      assert.match(err.message, new RegExp(`by a shared lock by PID ${process.pid} on ${hostname()}`))
      assert.ok(err.message.includes(shortId(shared.id)))
      assert.ok(err.hint?.includes('unlock'))
      return true
    })
    // the failed attempt left nothing behind
    assert.deepEqual(await lockIds(repo), [shared.id])
    await shared.release()

    const excl = await Lock.acquire(repo, { exclusive: true, ...FAST })
    await assert.rejects(Lock.acquire(repo, { exclusive: false, ...FAST }), (err) => isAppError(err, 'LOCKED') && /exclusively by PID/.test(err.message))
    await assert.rejects(Lock.acquire(repo, { exclusive: true, ...FAST }), (err) => isAppError(err, 'LOCKED'))
    await excl.release()
  })

  it('with retryMs, waits for a conflicting lock to go (restic\'s --retry-lock), and gives up when it stays', async () => {
    const repo = await createTestRepository()
    const other = await Lock.acquire(repo, { exclusive: true, ...FAST })
    setTimeout(() => void other.release(), 1500)
    const waits: number[] = []
    const started = Date.now()
    const mine = await Lock.acquire(repo, { exclusive: true, ...FAST, retryMs: 20_000, onWait: (err, left) => void waits.push(left, err.code === 'LOCKED' ? 1 : 0) })
    assert.ok(Date.now() - started >= 1400, 'it waited for the other lock to go')
    assert.equal(waits.length, 2, 'told once')
    assert.ok(waits[0] > 15_000 && waits[1] === 1)
    const late = Date.now()
    await assert.rejects(Lock.acquire(repo, { exclusive: false, ...FAST, retryMs: 1200 }), (err) => isAppError(err, 'LOCKED'))
    assert.ok(Date.now() - late >= 1100, 'it tried for the time given')
    assert.deepEqual(await lockIds(repo), [mine.id], 'the failed tries left nothing behind')
    // A stop ends the wait at once (the daemon's SIGTERM waited out the whole retry).
    const stop = new AbortController()
    setTimeout(() => stop.abort(), 300)
    const stopped = Date.now()
    await assert.rejects(Lock.acquire(repo, { exclusive: false, ...FAST, retryMs: 60_000, signal: stop.signal }), (err) => isAppError(err, 'INTERRUPTED'))
    assert.ok(Date.now() - stopped < 1000, 'it stopped waiting when told')
    await mine.release()
  })

  it('a shared lock returns before its pause and confirms itself afterwards', async () => {
    const repo = await createTestRepository()
    const started = Date.now()
    const lock = await Lock.acquire(repo, { exclusive: false, settleMs: 300 })
    assert.ok(Date.now() - started < 250, 'acquire() did not wait out the pause')
    await lock.confirmed
    // Timers and Date.now() count whole milliseconds: a 300 ms timer may be seen as 299 ms.
    assert.ok(Date.now() - started >= 295)
    assert.deepEqual(await lockIds(repo), [lock.id])
    await lock.release()
  })

  it('a conflict that appears during the pause rejects confirmed, releases the lock and holds back commits', async () => {
    const repo = await createTestRepository()
    const lock = await Lock.acquire(repo, { exclusive: false, settleMs: 150 })
    repo.commitAfter(lock.confirmed)
    // Another host's exclusive lock, written at the same moment as ours.
    const other = await foreignLock(repo, { exclusive: true, hostname: 'elsewhere' })
    const snapshot = repo.saveUnpacked('snapshots', Buffer.from('{}'))
    await assert.rejects(lock.confirmed, (err) => isAppError(err, 'LOCKED') && err.message.includes(shortId(other)))
    await assert.rejects(snapshot, (err) => isAppError(err, 'LOCKED'))
    assert.deepEqual(await repo.listIds('snapshots'), [])
    assert.deepEqual(await lockIds(repo), [other])
  })

  it('an exclusive lock waits out its pause and fails when a lock appeared meanwhile', async () => {
    const repo = await createTestRepository()
    const started = Date.now()
    const attempt = Lock.acquire(repo, { exclusive: true, settleMs: 200 })
    // Give acquire() time to write its lock file, then write a shared one of another host.
    while ((await lockIds(repo)).length === 0) await new Promise((r) => setTimeout(r, 5))
    const other = await foreignLock(repo, { hostname: 'elsewhere' })
    await assert.rejects(attempt, (err) => isAppError(err, 'LOCKED'))
    assert.ok(Date.now() - started >= 195)
    assert.deepEqual(await lockIds(repo), [other])
  })

  it('an exclusive lock of another host with a live time blocks', async () => {
    const repo = await createTestRepository()
    await foreignLock(repo, { exclusive: true, hostname: 'elsewhere.example', pid: 4242 })
    await assert.rejects(
      Lock.acquire(repo, { exclusive: false, ...FAST }),
      (err) => isAppError(err, 'LOCKED') && err.message.includes('PID 4242 on elsewhere.example'),
    )
  })

  it('a lock whose time is more than 30 minutes old blocks until unlock, saying it looks stale', async () => {
    // A laptop that slept through its refreshes may wake up and go on writing: restic's locks
    // block until "unlock" too.
    const repo = await createTestRepository()
    const old = new Date(Date.now() - STALE_AFTER_MS - 60_000).toISOString()
    await foreignLock(repo, { exclusive: true, hostname: 'elsewhere.example', time: old })
    await assert.rejects(Lock.acquire(repo, { exclusive: true, ...FAST }), (err) => {
      assert.ok(isAppError(err, 'LOCKED'))
      assert.match(err.message, /looks stale: it was not refreshed for 31 minutes/)
      assert.match(err.hint ?? '', /cairn unlock/)
      return true
    })
  })

  it("cairn's own lock of this boot and PID namespace whose process is gone does not block, and is removed", async () => {
    const repo = await createTestRepository()
    assert.ok(processScope().bootId, 'this test runs on Linux')
    await foreignLock(repo, { exclusive: true, pid: deadPid() })
    await foreignLock(repo, { exclusive: false, pid: deadPid() })
    const lock = await Lock.acquire(repo, { exclusive: false, ...FAST })
    await lock.confirmed
    // ... and is removed, shared or not, so that restic is not held up by it (it was left before)
    assert.deepEqual(await lockIds(repo), [lock.id])
    await lock.release()
  })

  it('a lock of a gone PID blocks when it may come from another PID namespace, boot or program', async () => {
    // A backup in a container (or on another machine) with the same hostname has a PID this
    // process cannot see: taking that for a dead process let prune delete the backup's packs.
    // (Only of restic's, which record no namespace, can the PID be taken to say it looks stale.)
    const cases: Array<[string, Partial<LockInfo>, RegExp]> = [
      ['another PID namespace', { pidNamespace: 'pid:[1]' }, /already locked by a shared lock by PID \d+ on [^;]*$/],
      ['another boot', { bootId: '00000000-0000-0000-0000-000000000000' }, /already locked by a shared lock by PID \d+ on [^;]*$/],
      ['restic (no scope)', { bootId: undefined, pidNamespace: undefined }, /looks stale: no process \d+ runs on/],
    ]
    for (const [what, fields, message] of cases) {
      const repo = await createTestRepository()
      await foreignLock(repo, { exclusive: false, pid: deadPid(), ...fields })
      await assert.rejects(Lock.acquire(repo, { exclusive: true, ...FAST }), (err) => isAppError(err, 'LOCKED') && message.test(err.message), what)
      // a shared lock still goes beside it
      const shared = await Lock.acquire(repo, { exclusive: false, ...FAST })
      await shared.release()
    }
  })

  it('isStale() judges a lock of another PID namespace or boot by its age alone', () => {
    // unlock removed the 2-second-old lock of a backup running in a container with the same hostname.
    const now = Date.now()
    const young: LockInfo = { time: new Date(now - 2000).toISOString(), exclusive: false, hostname: hostname(), username: 'u', pid: deadPid() }
    assert.equal(isStale({ ...young, ...processScope() }, now), true, 'this namespace: the PID tells')
    assert.equal(isStale({ ...young, bootId: processScope().bootId, pidNamespace: 'pid:[1]' }, now), false, 'another namespace')
    assert.equal(isStale({ ...young, bootId: 'another-boot', pidNamespace: processScope().pidNamespace }, now), false, 'another boot')
    assert.equal(isStale({ ...young, pidNamespace: 'pid:[1]', time: new Date(now - STALE_AFTER_MS - 1000).toISOString() }, now), true, 'old enough')
  })

  it('lock files record the boot ID and PID namespace, and read them back', () => {
    const info = newLockInfo(true)
    assert.equal(info.bootId, processScope().bootId)
    const json = JSON.parse(encodeLock(info).toString()) as Record<string, unknown>
    assert.equal(json.boot_id, info.bootId)
    assert.match(String(json.pid_namespace), /^pid:\[\d+\]$/)
    const back = decodeLock(encodeLock(info))
    assert.equal(back.bootId, info.bootId)
    assert.equal(back.pidNamespace, info.pidNamespace)
  })

  it('isStale() judges time, host and process', () => {
    const now = Date.parse('2024-05-01T12:00:00Z')
    const base: LockInfo = { time: '2024-05-01T11:50:00Z', exclusive: false, hostname: 'h1', username: 'u', pid: process.pid }
    assert.equal(isStale(base, now, 'h1'), false, 'own live process')
    assert.equal(isStale({ ...base, time: '2024-05-01T11:29:59Z' }, now, 'h1'), true, 'older than 30 minutes')
    assert.equal(isStale({ ...base, time: 'not a time' }, now, 'h1'), true, 'unparsable time')
    const dead = deadPid()
    assert.equal(isStale({ ...base, pid: dead }, now, 'h1'), true, 'dead process on this host')
    assert.equal(isStale({ ...base, pid: dead }, now, 'h2'), false, 'cannot probe another host')
  })

  it('refresh() writes a new lock file and removes the old one', async () => {
    const repo = await createTestRepository()
    const lock = await Lock.acquire(repo, { exclusive: false, ...FAST })
    const first = lock.id
    const before = decodeLock(await repo.loadUnpacked('locks', first))
    await new Promise((r) => setTimeout(r, 5))
    await lock.refresh()
    assert.notEqual(lock.id, first)
    assert.deepEqual(await lockIds(repo), [lock.id])
    const after = decodeLock(await repo.loadUnpacked('locks', lock.id))
    assert.ok(Date.parse(after.time) > Date.parse(before.time))
    assert.equal(after.pid, process.pid)
    await lock.release()
    assert.deepEqual(await lockIds(repo), [])
    // after release a refresh does nothing
    await lock.refresh()
    assert.deepEqual(await lockIds(repo), [])
  })

  it('a lock removed meanwhile (unlock elsewhere) is lost: not written anew, and nothing more is committed under it', async () => {
    // The refresh wrote a new lock beside the exclusive one another process had taken meanwhile,
    // and the backup saved its snapshot although prune could have removed its packs.
    const repo = await createTestRepository()
    const warnings: string[] = []
    const lock = await Lock.acquire(repo, { exclusive: false, ...FAST, onWarning: (m) => warnings.push(m) })
    repo.commitAfter(lock.confirmed, () => lock.throwIfLost())
    await repo.backend.remove({ type: 'locks', name: lock.id })
    const theirs = await foreignLock(repo, { hostname: 'other-host', exclusive: true })
    await lock.refresh()
    assert.deepEqual(await lockIds(repo), [theirs], 'no lock of ours written anew')
    assert.throws(() => lock.throwIfLost(), (err) => isAppError(err, 'LOCKED') && /was removed while this command ran/.test(err.message))
    await assert.rejects(repo.saveUnpacked('snapshots', Buffer.from('{}')), (err) => isAppError(err, 'LOCKED'))
    assert.deepEqual(await repo.listIds('snapshots'), [])
    assert.match(warnings.join('\n'), /nothing more will be committed/)
    await lock.release()
  })

  it('a refresh that fails is told, and the lock is lost once others would take it for stale', async () => {
    const memory = new MemoryBackend()
    let failing = false
    const flaky = withMembers<Backend>(memory, {
      save: async (h: Handle, data: Uint8Array) => {
        if (failing && h.type === 'locks') throw new AppError('NETWORK', 'Cannot save the lock: connection refused')
        return memory.save(h, data)
      },
    })
    const repo = await createTestRepository({ backend: flaky })
    const warnings: string[] = []
    const lock = await Lock.acquire(repo, { exclusive: false, ...FAST, onWarning: (m) => warnings.push(m) })
    failing = true
    await lock.refresh()
    assert.match(warnings.join('\n'), /Cannot refresh the repository lock, trying again in 5 minutes: Cannot save the lock/)
    lock.throwIfLost() // one failed refresh: still held
    const now = Date.now
    Date.now = () => now() + STALE_AFTER_MS - 4 * 60_000
    try {
      await lock.refresh()
    } finally {
      Date.now = now
    }
    assert.throws(() => lock.throwIfLost(), (err) => isAppError(err, 'LOCKED') && /could not be refreshed for 26 minutes/.test(err.message))
    failing = false
    await lock.release()
  })

  it('release() is idempotent', async () => {
    const repo = await createTestRepository()
    const lock = await Lock.acquire(repo, { exclusive: true, ...FAST })
    await lock.release()
    await lock.release()
    assert.deepEqual(await lockIds(repo), [])
  })

  it('releaseAllLocks() removes every lock this process holds', async () => {
    const r1 = await createTestRepository()
    const r2 = await createTestRepository()
    await Lock.acquire(r1, { exclusive: false, ...FAST })
    await Lock.acquire(r1, { exclusive: false, ...FAST })
    await Lock.acquire(r2, { exclusive: true, ...FAST })
    const foreign = await foreignLock(r2, { exclusive: false, hostname: 'other' })
    await releaseAllLocks()
    assert.deepEqual(await lockIds(r1), [])
    assert.deepEqual(await lockIds(r2), [foreign])
  })

  it('releaseAllLocks() also removes a lock whose file was still being written (a signal at that moment)', async () => {
    // The lock file's write takes a while, as on a remote backend.
    const memory = new MemoryBackend()
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    const slow = withMembers<Backend>(memory, {
      save: async (h: Handle, data: Uint8Array) => {
        if (h.type === 'locks') await gate
        return memory.save(h, data)
      },
    })
    const repo = await createTestRepository({ backend: slow })
    const acquiring = Lock.acquire(repo, { exclusive: false, ...FAST })
    await new Promise((r) => setTimeout(r, 20))
    const released = releaseAllLocks()
    release()
    await released
    assert.deepEqual(await lockIds(repo), [])
    await (await acquiring).release().catch(() => {})
  })

  it('lock files hold restic JSON: uid and gid only when non-zero', async () => {
    const info: LockInfo = { time: '2024-05-01T11:50:00.123456789Z', exclusive: true, hostname: 'h', username: 'root', pid: 7, uid: 0, gid: 0 }
    assert.equal(encodeLock(info).toString(), '{"time":"2024-05-01T11:50:00.123456789Z","exclusive":true,"hostname":"h","username":"root","pid":7}')
    assert.equal(
      encodeLock({ ...info, uid: 1000, gid: 100 }).toString(),
      '{"time":"2024-05-01T11:50:00.123456789Z","exclusive":true,"hostname":"h","username":"root","pid":7,"uid":1000,"gid":100}',
    )
    assert.deepEqual(decodeLock(encodeLock({ ...info, uid: 1000, gid: 100 })), { ...info, uid: 1000, gid: 100 })
  })

  it('a lock file that cannot be read blocks taking a lock, shared or exclusive, as restic (0.16 and later) refuses', async () => {
    // It counted as no lock: prune took the repository past a running backup's lock it could not
    // read (a permission problem) and deleted the pack the backup had just written.
    const memory = new MemoryBackend()
    const theirs = await foreignLock(await createTestRepository({ backend: memory }), { hostname: 'other-host', exclusive: false })
    const denied = withMembers<Backend>(memory, {
      load: async (h: Handle, ...rest: unknown[]) => {
        if (h.type === 'locks' && h.name === theirs) throw new AppError('PERMISSION_DENIED', `Cannot read "locks/${h.name}": EACCES`)
        return (memory.load as (...a: unknown[]) => Promise<Buffer>)(h, ...rest)
      },
    })
    const repo = await Repository.open(denied, TEST_PASSWORD)
    for (const exclusive of [true, false]) {
      await assert.rejects(Lock.acquire(repo, { exclusive, ...FAST }), (err) => {
        assert.ok(isAppError(err, 'LOCKED'), String(err))
        assert.match(err.message, new RegExp(`holds a lock that cannot be read \\(lock ${shortId(theirs)}\\): Cannot read .*EACCES`))
        assert.match(err.hint ?? '', /unlock --remove-all/)
        return true
      })
    }
    assert.deepEqual(await lockIds(repo), [theirs], 'the failed attempts left nothing behind')
  })

  it('listLocks() skips unreadable lock files', async () => {
    const repo = await createTestRepository()
    const good = await foreignLock(repo, { hostname: 'x' })
    const bad = await repo.saveUnpacked('locks', Buffer.from('not json'))
    const found = await listLocks(repo)
    assert.deepEqual(found.map((l) => l.id), [good])
    assert.ok((await lockIds(repo)).includes(bad))
  })
})
