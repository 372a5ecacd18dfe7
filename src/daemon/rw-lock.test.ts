import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RepositoryLocks } from './rw-lock.js'

const tick = () => new Promise((r) => setImmediate(r))

describe('RepositoryLocks', () => {
  it('shares among readers, excludes a writer, and serves waiters first come first served', async () => {
    const locks = new RepositoryLocks()
    const order: string[] = []
    const r1 = await locks.acquire(['nas'], false)
    const r2 = await locks.acquire(['nas'], false)
    assert.deepEqual(locks.state('nas'), { shared: 2, exclusive: false, waiting: 0 })
    const w = locks.acquire(['nas'], true).then((rel) => (order.push('writer'), rel))
    const r3 = locks.acquire(['nas'], false).then((rel) => (order.push('late reader'), rel))
    await tick()
    assert.deepEqual(order, [], 'the writer waits for the readers; the late reader waits behind the writer')
    r1()
    r2()
    const wrel = await w
    await tick()
    assert.deepEqual(order, ['writer'])
    wrel()
    ;(await r3)()
    assert.deepEqual(order, ['writer', 'late reader'])
    assert.deepEqual(locks.state('nas'), { shared: 0, exclusive: false, waiting: 0 })
  })

  it('takes several repositories in name order, and gives them back when aborted while waiting', async () => {
    const locks = new RepositoryLocks()
    const held = await locks.acquire(['usb'], true)
    const ac = new AbortController()
    const waiting = locks.acquire(['usb', 'nas'], true, ac.signal)
    await tick()
    assert.equal(locks.state('nas').exclusive, true, 'nas (first in order) is taken while usb is awaited')
    ac.abort(new Error('cancelled'))
    await assert.rejects(waiting, /cancelled/)
    assert.equal(locks.state('nas').exclusive, false)
    held()
    const again = await locks.acquire(['nas', 'usb'], true)
    again()
    again()
    assert.deepEqual(locks.state('usb'), { shared: 0, exclusive: false, waiting: 0 })
  })
})
