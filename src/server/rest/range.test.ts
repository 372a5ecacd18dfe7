import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decideRange } from './range.js'

test('decideRange() answers the forms restic and Go send as http.ServeContent does', () => {
  assert.deepEqual(decideRange(undefined, 100), { kind: 'full' })
  assert.deepEqual(decideRange('bytes=0-', 100), { kind: 'partial', start: 0, end: 99 })
  assert.deepEqual(decideRange('bytes=10-19', 100), { kind: 'partial', start: 10, end: 19 })
  assert.deepEqual(decideRange('bytes=90-200', 100), { kind: 'partial', start: 90, end: 99 })
  assert.deepEqual(decideRange('bytes=-10', 100), { kind: 'partial', start: 90, end: 99 })
  assert.deepEqual(decideRange('bytes=-1000', 100), { kind: 'partial', start: 0, end: 99 })
})

test('decideRange() calls ranges past the end, reversed or malformed unsatisfiable', () => {
  for (const h of ['bytes=100-', 'bytes=100-200', 'bytes=5-2', 'bytes=x-1', 'items=0-1', 'bytes=', 'bytes=-0']) {
    assert.deepEqual(decideRange(h, 100), { kind: 'unsatisfiable' }, h)
  }
  assert.deepEqual(decideRange('bytes=0-', 0), { kind: 'unsatisfiable' })
})

test('decideRange() answers several ranges with the whole file', () => {
  assert.deepEqual(decideRange('bytes=0-1,5-6', 100), { kind: 'full' })
})
