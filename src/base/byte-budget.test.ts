import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ByteBudget } from './byte-budget.js'

describe('ByteBudget', () => {
  it('serves waiters in order as bytes are released; one whose signal fires leaves the queue and the next may go', async () => {
    const budget = new ByteBudget(100, Number.POSITIVE_INFINITY)
    await budget.acquire(60)
    const order: string[] = []
    const left = new AbortController()
    const big = budget.acquire(80, left.signal).then(() => order.push('big'), (err: Error) => order.push(`big: ${err.message}`))
    const small = budget.acquire(30).then(() => order.push('small'))
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(order, [], 'both wait: the first in line does not fit')
    left.abort(new Error('gone'))
    await Promise.all([big, small])
    assert.deepEqual(order, ['big: gone', 'small'], 'the one that left frees the way for the next')
    assert.equal(budget.bytes, 90)
    await assert.rejects(budget.acquire(1, AbortSignal.abort(new Error('already'))), /already/)
    budget.release(60)
    budget.release(30)
    assert.equal(budget.bytes, 0)
  })
})
