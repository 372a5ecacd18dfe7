import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { parseFindTime } from './find-time.js'

const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString()

describe('parseFindTime()', () => {
  it('reads both of restic\'s layouts, with and without an offset', () => {
    assert.equal(iso(parseFindTime('2024-05-01 12:30:15 +0200')), '2024-05-01T10:30:15.000Z')
    assert.equal(iso(parseFindTime('01.05.2024 12:30 -0100')), '2024-05-01T13:30:00.000Z')
  })

  it('takes a fraction after the seconds, as Go does though the layout has none', () => {
    // "2020-01-01 00:00:00.5" was refused; restic takes it.
    assert.equal(parseFindTime('2020-01-01 00:00:00.25 +0000'), 1577836800250000000n)
    assert.equal(parseFindTime('2020-01-01 00:00:00,123456789 +0000'), 1577836800123456789n)
    assert.throws(() => parseFindTime('2020-01-01 00:00.5'), (err) => isAppError(err, 'INVALID_ARGUMENT'))
  })

  it('takes years 0 to 99 as they are, not as 1900 to 1999', () => {
    // "0099-06-01" became 1999-06-01 (Date's constructor adds 1900 to such years).
    assert.equal(iso(parseFindTime('0099-06-01 00:00:00 +0000')), '0099-06-01T00:00:00.000Z')
    const local = new Date(Number(parseFindTime('0050-03-04 05:06:07') / 1_000_000n))
    assert.deepEqual([local.getFullYear(), local.getMonth(), local.getDate(), local.getHours()], [50, 2, 4, 5])
    // Year 0 is a leap year in the proleptic Gregorian calendar, 1900 is not.
    assert.equal(iso(parseFindTime('0000-02-29 00:00:00 +0000')), '0000-02-29T00:00:00.000Z')
    assert.throws(() => parseFindTime('1900-02-29'), (err) => isAppError(err, 'INVALID_ARGUMENT'))
  })
})
