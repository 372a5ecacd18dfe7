import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PackCache } from './pack-cache.js'

describe('PackCache', () => {
  it('get() loads a pack once however many ask at the same time', async () => {
    const cache = new PackCache(1000)
    let loads = 0
    const load = async () => {
      loads++
      return Buffer.alloc(100, 7)
    }
    const [a, b] = await Promise.all([cache.get('p1', load), cache.get('p1', load)])
    assert.equal(a, b)
    assert.equal((await cache.get('p1', load))[0], 7)
    assert.equal(loads, 1)
  })

  it('drops the least recently used packs once over its limit', async () => {
    const cache = new PackCache(250)
    const loads: string[] = []
    const loader = (id: string) => async () => {
      loads.push(id)
      return Buffer.alloc(100)
    }
    await cache.get('a', loader('a'))
    await cache.get('b', loader('b'))
    await cache.get('a', loader('a')) // a is now the most recent
    await cache.get('c', loader('c')) // 300 bytes: b goes
    await cache.get('a', loader('a'))
    await cache.get('b', loader('b'))
    assert.deepEqual(loads, ['a', 'b', 'c', 'b'])
  })

  it('does not keep a failed load', async () => {
    const cache = new PackCache(1000)
    await assert.rejects(cache.get('x', async () => Promise.reject(new Error('gone'))), /gone/)
    assert.equal((await cache.get('x', async () => Buffer.from('ok'))).toString(), 'ok')
  })

  it('fits() takes packs of up to a quarter of the limit', () => {
    const cache = new PackCache(400)
    assert.equal(cache.fits(100), true)
    assert.equal(cache.fits(101), false)
  })
})
