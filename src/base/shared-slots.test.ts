import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SharedSlots } from './shared-slots.js'

const MiB = 1024 * 1024

describe('SharedSlots', () => {
  it('gives views of shared memory, at least the first size, grown in whole MiB', () => {
    const slots = new SharedSlots(2 * MiB)
    const slot = slots.take()
    const a = slot.fit(1000)
    assert.ok(a.buffer instanceof SharedArrayBuffer)
    assert.equal(a.length, 1000)
    assert.equal(a.buffer.byteLength, 2 * MiB)
    assert.equal(slot.fit(2 * MiB).buffer, a.buffer, 'fits without growing')
    const grown = slot.fit(2 * MiB + 1)
    assert.equal(grown.buffer.byteLength, 3 * MiB)
    assert.notEqual(grown.buffer, a.buffer)
  })

  it('reuses a slot given back, and only once however often it is given', () => {
    const slots = new SharedSlots(MiB)
    const first = slots.take()
    const memory = first.fit(10).buffer
    first.give()
    first.give()
    const again = slots.take()
    const other = slots.take()
    assert.equal(again.fit(10).buffer, memory)
    assert.notEqual(other.fit(10).buffer, memory, 'a slot given twice is not handed out twice')
  })
})
