import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { goTimeText } from './format.js'

describe('goTimeText()', () => {
  const tz = process.env.TZ
  after(() => {
    if (tz === undefined) delete process.env.TZ
    else process.env.TZ = tz
  })

  it("prints a snapshot's time as Go's time.Time String() does, as restic's ls header shows it", () => {
    // The header showed the RFC 3339 text ("2026-11-25T00:34:01.133092724Z").
    process.env.TZ = 'UTC'
    assert.equal(goTimeText('2026-11-25T00:34:01.133092724Z'), '2026-11-25 00:34:01.133092724 +0000 UTC')
    assert.equal(goTimeText('2026-11-25T00:34:01Z'), '2026-11-25 00:34:01 +0000 UTC')
    assert.equal(goTimeText('2026-11-25T01:34:01.5+01:00'), '2026-11-25 01:34:01.5 +0100 +0100', 'an offset not of this machine: a fixed zone')
    process.env.TZ = 'America/New_York'
    assert.equal(goTimeText('2026-11-24T19:34:01.25-05:00'), '2026-11-24 19:34:01.25 -0500 EST', "this machine's offset: its zone's name")
    assert.equal(goTimeText('not a time'), 'not a time')
  })
})
