import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isAppError } from '../base/index.js'
import { masterKeyFromJSON, masterKeyToJSON, newMasterKey, open, seal } from './index.js'

// The master key of the format notes' complete vector (§2.2/§2.3), as restic 0.14 wrote it.
const RESTIC_MASTER_JSON =
  '{"mac":{"k":"hHKT2pNW3zq7hflsn4dBtQ==","r":"YqBxD2jtzAhkjQwBWAijAA=="},"encrypt":"Tosb78+1YlnizQkmUfOisHuNKOoX/b1ktYS3DIYlJJs="}'
const isInvalidData = (err: unknown) => isAppError(err, 'INVALID_DATA')

test('masterKeyFromJSON() then masterKeyToJSON() reproduces restic\'s bytes', () => {
  const key = masterKeyFromJSON(RESTIC_MASTER_JSON)
  assert.equal(key.encrypt.toString('hex'), Buffer.from('Tosb78+1YlnizQkmUfOisHuNKOoX/b1ktYS3DIYlJJs=', 'base64').toString('hex'))
  assert.equal(key.macK.length, 16)
  assert.equal(key.macR.length, 16)
  assert.equal(masterKeyToJSON(key), RESTIC_MASTER_JSON)
})

test('masterKeyFromJSON() accepts bytes and ignores unknown fields', () => {
  const withExtra = RESTIC_MASTER_JSON.replace('{"mac"', '{"note":[1,2],"mac"')
  assert.equal(masterKeyToJSON(masterKeyFromJSON(Buffer.from(withExtra))), RESTIC_MASTER_JSON)
})

test('masterKeyFromJSON() rejects all-zero parts', () => {
  const zero16 = Buffer.alloc(16).toString('base64')
  const zero32 = Buffer.alloc(32).toString('base64')
  const base = JSON.parse(RESTIC_MASTER_JSON)
  const cases = [
    { ...base, encrypt: zero32 },
    { ...base, mac: { ...base.mac, k: zero16 } },
    { ...base, mac: { ...base.mac, r: zero16 } },
    // Non-zero, but zero once clamped: Poly1305 with r = 0 would authenticate nothing.
    { ...base, mac: { ...base.mac, r: Buffer.from('000000f0030000f0030000f0030000f0', 'hex').toString('base64') } },
  ]
  for (const doc of cases) assert.throws(() => masterKeyFromJSON(JSON.stringify(doc)), isInvalidData)
})

test('masterKeyFromJSON() rejects wrong sizes, bad base64, missing fields and non-JSON', () => {
  const base = JSON.parse(RESTIC_MASTER_JSON)
  const cases = [
    JSON.stringify({ ...base, encrypt: Buffer.alloc(31, 1).toString('base64') }),
    JSON.stringify({ ...base, mac: { ...base.mac, k: Buffer.alloc(17, 1).toString('base64') } }),
    JSON.stringify({ ...base, mac: { ...base.mac, r: 'not base64!' } }),
    JSON.stringify({ ...base, encrypt: base.encrypt.replace(/=$/, '') }), // missing padding
    JSON.stringify({ ...base, encrypt: 42 }),
    JSON.stringify({ encrypt: base.encrypt }),
    JSON.stringify([base]),
    '{"mac":',
    '',
  ]
  for (const text of cases) assert.throws(() => masterKeyFromJSON(text), isInvalidData, text)
})

test('newMasterKey() makes distinct keys with the right sizes, no zero part and a clamped r', () => {
  const a = newMasterKey()
  const b = newMasterKey()
  assert.equal(a.encrypt.length, 32)
  assert.equal(a.macK.length, 16)
  assert.equal(a.macR.length, 16)
  assert.notDeepEqual(a.encrypt, b.encrypt)
  assert.notDeepEqual(a.macK, b.macK)
  for (const k of [a, b]) {
    for (const part of [k.encrypt, k.macK, k.macR]) assert.ok(part.some((x) => x !== 0))
    const r = k.macR
    for (const i of [3, 7, 11, 15]) assert.equal(r[i] & 0xf0, 0, `top bits of r[${i}]`)
    for (const i of [4, 8, 12]) assert.equal(r[i] & 0x03, 0, `low bits of r[${i}]`)
  }
})

test('a master key survives a JSON round trip and still opens what it sealed', () => {
  const key = newMasterKey()
  const sealed = seal(key, Buffer.from('payload'))
  const again = masterKeyFromJSON(masterKeyToJSON(key))
  assert.equal(open(again, sealed).toString(), 'payload')
})

test('masterKeyToJSON() refuses an invalid key', () => {
  assert.throws(() => masterKeyToJSON({ ...newMasterKey(), macK: Buffer.alloc(16) }), RangeError)
})
