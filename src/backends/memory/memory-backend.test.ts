import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hashId } from '../../base/index.js'
import { runConformanceSuite } from '../testing/conformance.js'
import { MemoryBackend } from './memory-backend.js'

runConformanceSuite('MemoryBackend', async () => new MemoryBackend('test'))

describe('MemoryBackend', () => {
  it('location names the memory repository', () => {
    assert.equal(new MemoryBackend('abc').location, 'memory:abc')
  })

  it('list() is a snapshot: removing files while iterating neither skips nor repeats', async () => {
    const be = new MemoryBackend()
    const names: string[] = []
    for (let i = 0; i < 10; i++) {
      const data = Buffer.from(`file ${i}`)
      names.push(hashId(data))
      await be.save({ type: 'index', name: hashId(data) }, data)
    }
    const seen: string[] = []
    for await (const fi of be.list('index')) {
      seen.push(fi.name)
      await be.remove({ type: 'index', name: fi.name })
    }
    assert.deepEqual(seen.sort(), names.sort())
  })
})
