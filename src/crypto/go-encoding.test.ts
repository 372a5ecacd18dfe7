import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeStdBase64, formatRFC3339Nano, goJSONString, isRFC3339 } from './go-encoding.js'

test('goJSONString() escapes like Go json.Marshal', () => {
  assert.equal(goJSONString('plain'), '"plain"')
  assert.equal(goJSONString('a<b>&c'), '"a\\u003cb\\u003e\\u0026c"')
  assert.equal(goJSONString('q"\\'), '"q\\"\\\\"')
  assert.equal(goJSONString('\n\r\t\b\f\x01\x1f'), '"\\n\\r\\t\\u0008\\u000c\\u0001\\u001f"')
  assert.equal(goJSONString('\u2028\u2029'), '"\\u2028\\u2029"')
  assert.equal(goJSONString('ümlaut ✓ 😀'), '"ümlaut ✓ 😀"')
  assert.equal(goJSONString('\ud800x'), '"\ufffdx"')
})

test('goJSONString() leaves an escaped backslash followed by b or f alone', () => {
  assert.equal(goJSONString('\\b\\f'), '"\\\\b\\\\f"')
  assert.equal(JSON.parse(goJSONString('\\b<')), '\\b<')
})

test('decodeStdBase64() accepts padded standard base64 and skips CR/LF', () => {
  assert.equal(decodeStdBase64('aGk=')?.toString(), 'hi')
  assert.equal(decodeStdBase64('aGVsbG8h')?.toString(), 'hello!')
  assert.equal(decodeStdBase64('aGVs\r\nbG8h')?.toString(), 'hello!')
  assert.equal(decodeStdBase64('')?.length, 0)
})

test('decodeStdBase64() rejects what Go rejects: no padding, URL alphabet, junk', () => {
  for (const s of ['aGk', 'aG=k', '-_8=', 'aGk= ', 'a', 'aGk==', '!!!!']) assert.equal(decodeStdBase64(s), undefined, s)
})

test('formatRFC3339Nano() trims trailing zeros of the fraction and drops a zero fraction', () => {
  assert.equal(formatRFC3339Nano(new Date('2026-11-22T03:39:33.734Z')), '2026-11-22T03:39:33.734Z')
  assert.equal(formatRFC3339Nano(new Date('2026-11-22T03:39:33.700Z')), '2026-11-22T03:39:33.7Z')
  assert.equal(formatRFC3339Nano(new Date('2026-11-22T03:39:33.000Z')), '2026-11-22T03:39:33Z')
  assert.equal(formatRFC3339Nano(new Date('2026-11-22T03:39:33.050+02:00')), '2026-11-22T01:39:33.05Z')
  assert.throws(() => formatRFC3339Nano(new Date(NaN)), RangeError)
  assert.throws(() => formatRFC3339Nano(new Date('+010000-01-01T00:00:00Z')), RangeError)
})

test('isRFC3339() accepts Go timestamps and rejects other shapes', () => {
  assert.ok(isRFC3339('2026-11-22T03:37:18.80519754Z'))
  assert.ok(isRFC3339('2026-11-22T04:37:18.805+01:00'))
  assert.ok(isRFC3339('0001-01-01T00:00:00Z'))
  assert.ok(!isRFC3339('2026-11-22 03:37:18Z'))
  assert.ok(!isRFC3339('2026-11-22T03:37:18'))
  assert.ok(!isRFC3339('yesterday'))
})
