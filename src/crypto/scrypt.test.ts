import { test } from 'node:test'
import assert from 'node:assert/strict'
import { scryptSync } from 'node:crypto'
import { calibrateScrypt, deriveUserKey, MAX_CALIBRATED_P, scryptParamsProblem } from './scrypt.js'

test('scryptParamsProblem() accepts what restic accepts', () => {
  for (const p of [
    { N: 32768, r: 8, p: 4 },
    { N: 16384, r: 8, p: 1 },
    { N: 2, r: 1, p: 1 },
    { N: 1 << 20, r: 8, p: 1 },
  ]) {
    assert.equal(scryptParamsProblem(p), undefined, JSON.stringify(p))
  }
})

test('scryptParamsProblem() rejects what restic rejects', () => {
  for (const p of [
    { N: 1, r: 8, p: 1 }, // N must exceed 1
    { N: 0, r: 8, p: 1 },
    { N: 3000, r: 8, p: 1 }, // not a power of two
    { N: 1024, r: 0, p: 1 },
    { N: 1024, r: 8, p: 0 },
    { N: 1024, r: -8, p: 1 },
    { N: 1024.5, r: 8, p: 1 },
    { N: 1024, r: 8, p: 2 ** 27 }, // r·p ≥ 2^30
    { N: 1 << 22, r: 8, p: 1 }, // 128·r·N beyond the 32-bit limit
    { N: 1024, r: 2 ** 24, p: 1 },
    { N: '1024', r: 8, p: 1 } as unknown as { N: number; r: number; p: number },
  ]) {
    assert.notEqual(scryptParamsProblem(p), undefined, JSON.stringify(p))
  }
})

test('deriveUserKey() splits the 64 scrypt bytes into encrypt, mac.k and mac.r, password as UTF-8', async () => {
  const salt = Buffer.alloc(64, 7)
  const password = 'pässwort ✓'
  const params = { N: 1024, r: 8, p: 1 }
  const key = await deriveUserKey(password, salt, params)
  const expected = scryptSync(Buffer.from(password, 'utf8'), salt, 64, params)
  assert.ok(key.encrypt.equals(expected.subarray(0, 32)))
  assert.ok(key.macK.equals(expected.subarray(32, 48)))
  assert.ok(key.macR.equals(expected.subarray(48, 64)))
})

test('deriveUserKey() runs N=32768, r=8, p=1, which needs more than the default scrypt memory limit', async () => {
  const key = await deriveUserKey('pw', Buffer.alloc(64, 1), { N: 32768, r: 8, p: 1 })
  assert.equal(key.encrypt.length, 32)
})

test('deriveUserKey() rejects a salt that is not 64 bytes and invalid parameters', async () => {
  await assert.rejects(deriveUserKey('pw', Buffer.alloc(32), { N: 1024, r: 8, p: 1 }), RangeError)
  await assert.rejects(deriveUserKey('pw', Buffer.alloc(64), { N: 1000, r: 8, p: 1 }), RangeError)
})

test('calibrateScrypt() keeps r=8 and N within 60 MiB, with p between 1 and the cap', async () => {
  const params = await calibrateScrypt(50)
  assert.equal(params.r, 8)
  assert.equal(params.N & (params.N - 1), 0)
  assert.ok(params.N >= 1024 && params.N <= 32768, `N=${params.N}`)
  assert.ok(128 * params.r * params.N < 60 * 1024 * 1024)
  assert.ok(params.p >= 1 && params.p <= MAX_CALIBRATED_P, `p=${params.p}`)
  assert.equal(scryptParamsProblem(params), undefined)
})

test('calibrateScrypt() lowers N and keeps p=1 when even one derivation is too slow', async () => {
  assert.deepEqual(await calibrateScrypt(0.001), { N: 1024, r: 8, p: 1 })
})

test('calibrateScrypt() rejects a target that is not positive', async () => {
  await assert.rejects(calibrateScrypt(0), RangeError)
  await assert.rejects(calibrateScrypt(Number.NaN), RangeError)
})
