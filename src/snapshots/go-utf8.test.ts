import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { goJsonString } from './go-json.js'
import { bytesFromGoString, goStringFromBytes, hasEscapedBytes } from './go-utf8.js'

describe('goStringFromBytes()', () => {
  it('decodes valid UTF-8 like toString', () => {
    const text = 'plain ünï 😀 \ufffd'
    assert.equal(goStringFromBytes(Buffer.from(text)), text)
  })

  it('makes goJsonString write one \\ufffd per invalid byte, as Go does', () => {
    const bytes = Buffer.from([0x74, 0x67, 0x74, 0x3c, 0xff, 0x3e, 0x01])
    assert.equal(goJsonString(goStringFromBytes(bytes)), '"tgt\\u003c\\ufffd\\u003e\\u0001"')
    // A truncated four-byte sequence is three errors to Go, one to the WHATWG decoder.
    const truncated = Buffer.from([0x61, 0xf0, 0x9f, 0x98, 0x62])
    assert.equal(goJsonString(goStringFromBytes(truncated)), '"a\\ufffd\\ufffd\\ufffdb"')
    assert.equal(truncated.toString('utf8'), 'a\ufffdb')
  })

  it('keeps a real U+FFFD apart from an invalid byte', () => {
    const bytes = Buffer.from([0xef, 0xbf, 0xbd, 0xed, 0xa0, 0x80])
    assert.equal(goJsonString(goStringFromBytes(bytes)), '"\ufffd\\ufffd\\ufffd\\ufffd"')
  })
})

describe('bytesFromGoString()', () => {
  it('gives back the bytes goStringFromBytes was made of, invalid UTF-8 and emoji alike', () => {
    for (const bytes of [Buffer.from([0x61, 0xff, 0x62]), Buffer.from('plain ascii'), Buffer.from('😀 ünï'), Buffer.from([0xf0, 0x9f, 0x98, 0x41, 0xc3]), Buffer.from([0xed, 0xb2, 0x80])]) {
      assert.deepEqual(bytesFromGoString(goStringFromBytes(bytes)), bytes, bytes.toString('hex'))
    }
    assert.equal(hasEscapedBytes(goStringFromBytes(Buffer.from([0x61, 0xff]))), true)
    assert.equal(hasEscapedBytes('😀 ünï'), false)
  })
})
