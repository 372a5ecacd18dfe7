import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encodeLock, newLockInfo } from '../repository/lock.js'
import { createTestRepository } from '../repository/testing.js'
import { unlockRepository } from './unlock.js'

describe('unlockRepository()', () => {
  it('removes stale locks and lock files that are no locks, and leaves live locks', async () => {
    // A lock file of garbage stayed, and unlock said there were no locks to remove.
    const repo = await createTestRepository()
    const live = await repo.saveUnpacked('locks', encodeLock({ ...newLockInfo(false), hostname: 'elsewhere', pid: 1 }))
    const old = await repo.saveUnpacked('locks', encodeLock({ ...newLockInfo(false), hostname: 'elsewhere', time: '2020-01-01T00:00:00Z' }))
    const garbage = await repo.saveUnpacked('locks', Buffer.from('not a lock'))
    const removed = await unlockRepository(repo, false, { pauseMs: 10 })
    assert.deepEqual(removed.sort(), [old, garbage].sort())
    assert.deepEqual(await repo.listIds('locks'), [live])
    assert.deepEqual(await unlockRepository(repo, true), [live])
  })

  it('leaves a lock file that is being written: one that is no lock at first and a lock a moment later', async () => {
    // restic 0.14 writes a local lock in place; unlock removed such a lock of a live process.
    const repo = await createTestRepository()
    const lock = encodeLock({ ...newLockInfo(false), hostname: 'elsewhere', pid: 1 })
    const id = await repo.saveUnpacked('locks', lock)
    const whole = await repo.backend.load({ type: 'locks', name: id })
    await repo.backend.remove({ type: 'locks', name: id })
    await repo.backend.save({ type: 'locks', name: id }, whole.subarray(0, 20))
    const done = unlockRepository(repo, false, { pauseMs: 300 })
    await new Promise((resolve) => setTimeout(resolve, 50))
    await repo.backend.remove({ type: 'locks', name: id })
    await repo.backend.save({ type: 'locks', name: id }, whole)
    assert.deepEqual(await done, [])
    assert.deepEqual(await repo.listIds('locks'), [id])
  })
})
