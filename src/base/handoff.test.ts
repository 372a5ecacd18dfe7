import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Handoff } from './handoff.js'

const tick = () => new Promise((r) => setImmediate(r))

describe('Handoff', () => {
  it('put() resolves only once the consumer took the item, so the producer is at most one item ahead', async () => {
    const h = new Handoff<number>()
    let putDone = false
    const put = h.put(1).then(() => (putDone = true))
    await tick()
    assert.equal(putDone, false, 'nobody took it yet')
    assert.equal(await h.take(), 1)
    await put
    assert.equal(putDone, true)
  })

  it('a waiting take() gets the next item at once, and undefined after close()', async () => {
    const h = new Handoff<string>()
    const first = h.take()
    await h.put('a')
    assert.equal(await first, 'a')
    const second = h.take()
    h.close()
    assert.equal(await second, undefined)
    assert.equal(await h.take(), undefined)
    await assert.rejects(h.put('late'), /after close/)
  })

  it('close() with an item on offer still lets the consumer take it', async () => {
    const h = new Handoff<number>()
    const put = h.put(7)
    h.close()
    assert.equal(await h.take(), 7)
    await put
    assert.equal(await h.take(), undefined)
  })

  it('fail() rejects the waiting side and every later call with the first error', async () => {
    const producer = new Handoff<number>()
    const put = producer.put(1)
    producer.fail(new Error('consumer stopped'))
    await assert.rejects(put, /consumer stopped/)
    await assert.rejects(producer.put(2), /consumer stopped/)

    const consumer = new Handoff<number>()
    const take = consumer.take()
    consumer.fail(new Error('producer stopped'))
    consumer.fail(new Error('second'))
    await assert.rejects(take, /producer stopped/)
    await assert.rejects(consumer.take(), /producer stopped/)
  })

  it('streams many items in order between a producer and a slower consumer', async () => {
    const h = new Handoff<number>()
    const got: number[] = []
    let ahead = 0
    let produced = 0
    const consumer = (async () => {
      for (let x = await h.take(); x !== undefined; x = await h.take()) {
        got.push(x)
        ahead = Math.max(ahead, produced - got.length)
        await tick()
      }
    })()
    for (let i = 0; i < 50; i++) {
      produced++
      await h.put(i)
    }
    h.close()
    await consumer
    assert.deepEqual(got, [...Array(50).keys()])
    assert.ok(ahead <= 1, `the producer ran ${ahead} items ahead`)
  })
})
