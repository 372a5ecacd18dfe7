import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseTimeNs } from './go-time.js'

test('parseTimeNs() reads UTC and offset timestamps with trimmed nanoseconds to the same instant', () => {
  const utc = parseTimeNs('2026-11-22T03:37:22.00886018Z')
  assert.equal(utc, BigInt(Date.UTC(2026, 10, 22, 3, 37, 22)) * 1_000_000n + 8_860_180n)
  assert.equal(parseTimeNs('2026-11-22T04:37:22.008860180+01:00'), utc)
  assert.equal(parseTimeNs('2020-01-02T04:04:05+01:00'), BigInt(Date.UTC(2020, 0, 2, 3, 4, 5)) * 1_000_000n)
})

test('parseTimeNs() rejects text that is not RFC 3339', () => {
  assert.throws(() => parseTimeNs('2026-11-22 03:37:22'), /not an RFC 3339 timestamp/)
})
