import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FakeClock, sleep, systemClock } from './clock.js'

describe('FakeClock', () => {
  it('advance() fires timers in due order, each at its own time', async () => {
    const clock = new FakeClock(1000)
    const seen: [string, number][] = []
    clock.setTimer(300, () => seen.push(['b', clock.now()]))
    clock.setTimer(100, () => seen.push(['a', clock.now()]))
    clock.setTimer(900, () => seen.push(['c', clock.now()]))
    await clock.advance(500)
    assert.deepEqual(seen, [
      ['a', 1100],
      ['b', 1300],
    ])
    assert.equal(clock.now(), 1500)
    assert.equal(clock.pendingTimers, 1)
  })

  it('jump() fires overdue timers late, as after a machine slept', async () => {
    const clock = new FakeClock(0)
    const seen: number[] = []
    clock.setTimer(60_000, () => seen.push(clock.now()))
    await clock.jump(3_600_000)
    assert.deepEqual(seen, [3_600_000])
  })

  it('a cancelled timer does not fire, and a timer set by a timer fires in the same advance()', async () => {
    const clock = new FakeClock(0)
    const seen: number[] = []
    const cancel = clock.setTimer(10, () => seen.push(-1))
    cancel()
    clock.setTimer(10, () => clock.setTimer(10, () => seen.push(clock.now())))
    await clock.advance(100)
    assert.deepEqual(seen, [20])
  })

  it('sleep() resolves when time passes and rejects when aborted', async () => {
    const clock = new FakeClock(0)
    let done = false
    const p = sleep(clock, 50).then(() => (done = true))
    await clock.advance(49)
    assert.equal(done, false)
    await clock.advance(1)
    await p
    assert.equal(done, true)
    const ac = new AbortController()
    const q = sleep(clock, 50, ac.signal)
    ac.abort(new Error('stop'))
    await assert.rejects(q, /stop/)
    assert.equal(clock.pendingTimers, 0)
  })
})

describe('systemClock', () => {
  it('fires a timer after its delay', async () => {
    const start = systemClock.now()
    await sleep(systemClock, 20)
    assert.ok(systemClock.now() - start >= 19)
  })
})
