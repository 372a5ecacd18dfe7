import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { hashId } from '../../base/index.js'
import type { FileType, Handle } from '../backend.js'
import { FaultyBackend } from '../testing/faulty.js'
import { withConnectionLimit } from './connection-limit.js'

function file(type: FileType, size = 50): { h: Handle; data: Buffer } {
  const data = randomBytes(size)
  return { h: { type, name: hashId(data) }, data }
}

describe('withConnectionLimit()', () => {
  it('runs at most N operations at once, and reports N as its connections', async () => {
    const faulty = new FaultyBackend()
    const files = Array.from({ length: 24 }, () => file('data'))
    for (const f of files) await faulty.save(f.h, f.data)
    faulty.delays.load = 15
    faulty.delays.stat = 15
    faulty.resetCalls()
    const be = withConnectionLimit(faulty, 3)
    assert.equal(be.properties.connections, 3)
    const loaded = await Promise.all(files.flatMap((f) => [be.load(f.h), be.stat(f.h).then(() => f.data)]))
    assert.equal(loaded.length, 48)
    assert.equal(faulty.maxActive, 3)
    assert.equal(faulty.count('load'), 24)
  })

  it('does not limit lock files, so a lock refresh never waits behind uploads', async () => {
    const faulty = new FaultyBackend()
    faulty.delays.save = 400
    const be = withConnectionLimit(faulty, 1)
    const uploads = Array.from({ length: 3 }, () => file('data')).map((f) => be.save(f.h, f.data))
    const lock = file('locks')
    const started = Date.now()
    await be.save(lock.h, lock.data)
    // Behind even one upload it would take 800 ms.
    assert.ok(Date.now() - started < 750, 'the lock save ran beside the uploads, not after them')
    await Promise.all(uploads)
  })

  it('counts a listing as one connection only while it fetches, so loads inside the loop do not deadlock', async () => {
    const faulty = new FaultyBackend()
    const files = Array.from({ length: 5 }, () => file('index'))
    for (const f of files) await faulty.save(f.h, f.data)
    const be = withConnectionLimit(faulty, 1)
    let loaded = 0
    for await (const fi of be.list('index')) {
      await be.load({ type: 'index', name: fi.name })
      loaded++
    }
    assert.equal(loaded, 5)
  })

  it('releases its slot when an operation fails', async () => {
    const faulty = new FaultyBackend()
    faulty.failNext('load', 3)
    const be = withConnectionLimit(faulty, 1)
    const { h, data } = file('data')
    for (let i = 0; i < 3; i++) await assert.rejects(be.load(h))
    await be.save(h, data)
    assert.deepEqual(await be.load(h), data)
  })

  it('rejects a limit below 1', () => {
    assert.throws(() => withConnectionLimit(new FaultyBackend(), 0), RangeError)
    assert.throws(() => withConnectionLimit(new FaultyBackend(), 1.5), RangeError)
  })
})
