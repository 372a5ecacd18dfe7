import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hashId, isAppError, type Id } from '../base/index.js'
import { parseReadDataSubset, selectPacks } from './read-data-subset.js'

/** 200 packs of 1000 bytes each, with IDs spread over every first byte. */
const PACKS = new Map<Id, number>(Array.from({ length: 200 }, (_, i) => [hashId(Buffer.from(`pack ${i}`)), 1000]))

/** A seeded generator in [0, 1), so random choices repeat. */
function seeded(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

describe('parseReadDataSubset()', () => {
  it('reads n/t, percentages and sizes with restic suffixes', () => {
    assert.deepEqual(parseReadDataSubset('1/5'), { kind: 'group', n: 1, t: 5 })
    assert.deepEqual(parseReadDataSubset('256/256'), { kind: 'group', n: 256, t: 256 })
    assert.deepEqual(parseReadDataSubset('10%'), { kind: 'percent', percent: 10 })
    assert.deepEqual(parseReadDataSubset('2.5%'), { kind: 'percent', percent: 2.5 })
    assert.deepEqual(parseReadDataSubset('500M'), { kind: 'size', bytes: 500 * 1024 * 1024 })
    assert.deepEqual(parseReadDataSubset('3g'), { kind: 'size', bytes: 3 * 1024 ** 3 })
    assert.deepEqual(parseReadDataSubset('2K'), { kind: 'size', bytes: 2048 })
    assert.deepEqual(parseReadDataSubset('100b'), { kind: 'size', bytes: 100 })
  })

  // A number without a unit (read as bytes, "1" checked one pack and exited 0), a value that
  // overflows (it read every pack) and one with spaces were taken; restic 0.14 refuses them.
  it('rejects what restic rejects', () => {
    for (const bad of ['0/5', '6/5', '1/0', '1/257', '1/2/3', 'a/b', '0%', '101%', 'x%', '%', '0', '-5M', '5X', '', '1.5M', '1', '200000', ' 1/3', '1/3 ', '99999999999999999999M', '9007199254740993k']) {
      assert.throws(() => parseReadDataSubset(bad), (err) => isAppError(err, 'INVALID_ARGUMENT') && /--read-data-subset/.test(err.message), bad)
    }
  })
})

describe('selectPacks()', () => {
  it('n/t takes the packs whose first ID byte mod t is n-1; the t groups partition all packs', () => {
    const seen = new Set<Id>()
    for (let n = 1; n <= 7; n++) {
      const group = selectPacks(PACKS, { kind: 'group', n, t: 7 })
      for (const id of group) {
        assert.equal(Number.parseInt(id.slice(0, 2), 16) % 7, n - 1)
        assert.ok(!seen.has(id), 'no pack in two groups')
        seen.add(id)
      }
    }
    assert.equal(seen.size, PACKS.size)
  })

  it('x% takes that share of the packs at random, at least one', () => {
    const a = selectPacks(PACKS, { kind: 'percent', percent: 10 }, seeded(1))
    const b = selectPacks(PACKS, { kind: 'percent', percent: 10 }, seeded(2))
    assert.equal(a.length, 20)
    assert.equal(new Set(a).size, 20)
    assert.ok(a.every((id) => PACKS.has(id)))
    assert.notDeepEqual(a.sort(), b.sort(), 'different random choices')
    assert.equal(selectPacks(PACKS, { kind: 'percent', percent: 0.01 }, seeded(3)).length, 1)
    assert.equal(selectPacks(PACKS, { kind: 'percent', percent: 100 }, seeded(3)).length, 200)
    assert.deepEqual(selectPacks(new Map(), { kind: 'percent', percent: 50 }), [])
  })

  it('a size takes the same share of packs as it is of the repository, capped at all of them', () => {
    assert.equal(selectPacks(PACKS, { kind: 'size', bytes: 50_000 }, seeded(4)).length, 50)
    assert.equal(selectPacks(PACKS, { kind: 'size', bytes: 10 ** 9 }, seeded(4)).length, 200)
    assert.equal(selectPacks(PACKS, { kind: 'size', bytes: 1 }, seeded(4)).length, 1)
  })
})
