import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { formatGoTime, GO_ZERO_TIME_NS, parseGoTime, reprintGoTime } from './go-time.js'

const NS = 1_000_000_000n
const s = (seconds: number, nanos = 0n) => BigInt(seconds) * NS + nanos

/**
 * Times restic 0.14 wrote for files whose mtime was set to the given epoch seconds, with TZ set
 * for the restic process (captured from real backups).
 */
const RESTIC_VECTORS: Record<string, Array<[bigint, string]>> = {
  'Europe/Berlin': [
    [s(0), '1970-01-01T01:00:00+01:00'],
    [s(-1), '1970-01-01T00:59:59+01:00'],
    [s(1577934245, 120_000_000n), '2020-01-02T04:04:05.12+01:00'],
    [s(1700000000, 1n), '2023-11-14T23:13:20.000000001+01:00'],
    [s(1616893200), '2021-03-28T03:00:00+02:00'], // first second of summer time
    [s(1616893199), '2021-03-28T01:59:59+01:00'],
    [s(-2208988800), '1900-01-01T01:00:00+01:00'],
    [s(-3000000000), '1874-12-07T19:33:28+00:53'], // local mean time, +00:53:28
    [s(-62135596800), '0001-01-01T00:53:28+00:53'],
    [s(-62167219201), '0000-01-01T00:53:27+00:53'], // year -1 clamped to 0
    [s(-62162035200), '0000-03-01T00:53:28+00:53'],
    [s(253402300800), '9999-01-01T01:00:00+01:00'], // year 10000 clamped to 9999
    [s(253402300799, 500_000_000n), '9999-01-01T00:59:59.5+01:00'],
    [s(300000000000), '9999-08-15T07:20:00+02:00'],
  ],
  'America/St_Johns': [
    [s(0), '1969-12-31T20:30:00-03:30'],
    [s(1577934245, 120_000_000n), '2020-01-01T23:34:05.12-03:30'],
    [s(-3000000000), '1874-12-07T15:09:08-03:30'], // -03:30:52 prints as -03:30
    [s(-62162035200), '0000-02-29T20:29:08-03:30'],
    [s(300000000000), '9999-08-15T02:50:00-02:30'],
  ],
  'Pacific/Chatham': [
    [s(0), '1970-01-01T12:45:00+12:45'],
    [s(1616893200), '2021-03-28T14:45:00+13:45'],
    [s(-3000000000), '1874-12-08T06:55:00+12:15'],
  ],
  UTC: [
    [s(0), '1970-01-01T00:00:00Z'],
    [GO_ZERO_TIME_NS, '0001-01-01T00:00:00Z'],
    [s(-62135596800, 1n), '0001-01-01T00:00:00.000000001Z'],
  ],
}

describe('formatGoTime()', () => {
  it('writes the offset as +hh:mm, and Z for offset 0', () => {
    assert.equal(formatGoTime(s(1577934245), 60), '2020-01-02T04:04:05+01:00')
    assert.equal(formatGoTime(s(1577934245), -210), '2020-01-01T23:34:05-03:30')
    assert.equal(formatGoTime(s(1577934245), 0), '2020-01-02T03:04:05Z')
  })

  it('trims trailing zeros of the fraction and omits a zero fraction', () => {
    assert.equal(formatGoTime(s(0, 120_000_000n), 0), '1970-01-01T00:00:00.12Z')
    assert.equal(formatGoTime(s(0, 1n), 0), '1970-01-01T00:00:00.000000001Z')
    assert.equal(formatGoTime(s(0, 999_999_999n), 0), '1970-01-01T00:00:00.999999999Z')
  })

  it('handles instants before the epoch with a positive fraction', () => {
    assert.equal(formatGoTime(-1n, 0), '1969-12-31T23:59:59.999999999Z')
    assert.equal(formatGoTime(GO_ZERO_TIME_NS, 0), '0001-01-01T00:00:00Z')
  })

  it('clamps years outside 0…9999 like restic, keeping month, day and clock', () => {
    assert.equal(formatGoTime(s(253402300800), 0), '9999-01-01T00:00:00Z')
    assert.equal(formatGoTime(s(300000000000, 5n), 0), '9999-08-15T05:20:00.000000005Z')
    assert.equal(formatGoTime(s(-70000000000), 0), '0000-10-15T19:33:20Z')
    // 29 February 10000 has no counterpart in 9999: Go's AddDate rolls it to 1 March.
    assert.equal(formatGoTime(s(253407398400), 0), '9999-03-01T00:00:00Z')
  })

  it('uses the local zone at each instant, as restic 0.14 does under TZ', () => {
    const moduleUrl = new URL('./go-time.js', import.meta.url).href
    for (const [zone, vectors] of Object.entries(RESTIC_VECTORS)) {
      const script =
        `import { formatGoTime } from ${JSON.stringify(moduleUrl)};` +
        `const input = JSON.parse(process.argv[1]);` +
        `console.log(JSON.stringify(input.map((ns) => formatGoTime(BigInt(ns)))))`
      const out = execFileSync(
        process.execPath,
        ['--input-type=module', '-e', script, JSON.stringify(vectors.map(([ns]) => String(ns)))],
        { env: { ...process.env, TZ: zone }, encoding: 'utf8' },
      )
      assert.deepEqual(JSON.parse(out), vectors.map(([, text]) => text), zone)
    }
  })
})

describe('parseGoTime()', () => {
  it('reads what formatGoTime writes, in any zone', () => {
    for (const vectors of Object.values(RESTIC_VECTORS)) {
      for (const [ns, text] of vectors) {
        // Clamped years (local year 10000 starts up to a day before UTC's) name a different
        // instant, and local mean time offsets (before about 1900) have seconds that the text
        // leaves out; skip those.
        if (ns < s(-2208988800) || ns >= s(253402214400)) continue
        assert.equal(parseGoTime(text), ns, text)
      }
    }
  })

  it('reads the zero time', () => {
    assert.equal(parseGoTime('0001-01-01T00:00:00Z'), GO_ZERO_TIME_NS)
  })

  it('takes 0 to 9 fraction digits and drops digits past the ninth', () => {
    assert.equal(parseGoTime('1970-01-01T00:00:01Z'), s(1))
    assert.equal(parseGoTime('1970-01-01T00:00:01.5Z'), s(1, 500_000_000n))
    assert.equal(parseGoTime('1970-01-01T00:00:01.123456789Z'), s(1, 123_456_789n))
    assert.equal(parseGoTime('1970-01-01T00:00:01.1234567891Z'), s(1, 123_456_789n))
  })

  it('applies the offset', () => {
    assert.equal(parseGoTime('1970-01-01T01:00:00.5+01:00'), s(0, 500_000_000n))
    assert.equal(parseGoTime('1969-12-31T20:30:00-03:30'), 0n)
  })

  it('rejects malformed or out-of-range times', () => {
    const bad = [
      '',
      '2020-01-02 03:04:05Z',
      '2020-01-02T03:04:05',
      '2020-13-01T00:00:00Z',
      '2021-02-29T00:00:00Z',
      '2020-01-01T24:00:00Z',
      '2020-01-01T00:60:00Z',
      '2020-01-01T00:00:00+01:60',
      '2020-01-01T00:00:00.Z',
      '20-01-01T00:00:00Z',
    ]
    for (const text of bad) assert.throws(() => parseGoTime(text), (err) => isAppError(err, 'INVALID_DATA'), text)
  })
})

describe('reprintGoTime()', () => {
  it('prints a time as Go prints it after parsing it', () => {
    assert.equal(reprintGoTime('2026-11-25T03:40:00.100+00:00'), '2026-11-25T03:40:00.1Z')
    assert.equal(reprintGoTime('2026-11-25T03:40:00.000000000-05:30'), '2026-11-25T03:40:00-05:30')
    assert.equal(reprintGoTime('2026-11-25T03:40:00.123456789+01:00'), '2026-11-25T03:40:00.123456789+01:00')
    assert.equal(reprintGoTime('not a time'), 'not a time')
  })
})
