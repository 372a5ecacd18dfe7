import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { goJsonString } from './go-json.js'
import { isGoPrint } from './go-print.js'
import { goQuoteName, goUnquoteName } from './go-quote.js'

const b = (s: string) => Buffer.from(s, 'utf8')

/** A small deterministic generator (xorshift32), so failures can be replayed. */
function seededBytes(seed: number): (n: number) => Buffer {
  let x = seed >>> 0 || 1
  return (n) => {
    const out = Buffer.alloc(n)
    for (let i = 0; i < n; i++) {
      x ^= x << 13
      x >>>= 0
      x ^= x >>> 17
      x ^= x << 5
      x >>>= 0
      out[i] = x & 0xff
    }
    return out
  }
}

describe('goQuoteName()', () => {
  it('gives the JSON text of the name table in restic-format.md §6.3 byte for byte', () => {
    const table: Array<[Buffer, string]> = [
      [b('a<b>&c'), '"a\\u003cb\\u003e\\u0026c"'],
      [Buffer.concat([b('bad'), Buffer.from([0xff]), b('name')]), '"bad\\\\xffname"'],
      [b('line\u2028sep'), '"line\\\\u2028sep"'],
      [b('quote"back\\slash'), '"quote\\\\\\"back\\\\\\\\slash"'],
      [b('tab\there'), '"tab\\\\there"'],
      [b('ünï'), '"ünï"'],
    ]
    for (const [name, json] of table) assert.equal(goJsonString(goQuoteName(name)), json, name.toString('hex'))
  })

  it('returns plain printable ASCII unchanged', () => {
    assert.equal(goQuoteName(b('hello world.txt ~!#$%^*()')), 'hello world.txt ~!#$%^*()')
  })

  it('uses Go short escapes, and \\x for other ASCII controls and DEL', () => {
    assert.equal(goQuoteName(b('\x07\b\f\n\r\t\v')), '\\a\\b\\f\\n\\r\\t\\v')
    assert.equal(goQuoteName(Buffer.from([0x01, 0x1b, 0x1f, 0x7f])), '\\x01\\x1b\\x1f\\x7f')
  })

  it('escapes non-printable runes as \\u or \\U with lowercase hex', () => {
    assert.equal(goQuoteName(b('\u0085')), '\\u0085') // C1 control
    assert.equal(goQuoteName(b('\u00a0')), '\\u00a0') // no-break space
    assert.equal(goQuoteName(b('\u00ad')), '\\u00ad') // soft hyphen
    assert.equal(goQuoteName(b('\u200b')), '\\u200b') // zero-width space
    assert.equal(goQuoteName(b('\ufeff')), '\\ufeff') // byte order mark
    assert.equal(goQuoteName(b('\u2028\u2029')), '\\u2028\\u2029')
    assert.equal(goQuoteName(b('\u3000')), '\\u3000') // ideographic space
    assert.equal(goQuoteName(b('\ue000')), '\\ue000') // private use
    assert.equal(goQuoteName(b('\u{e0001}')), '\\U000e0001') // language tag (format)
    assert.equal(goQuoteName(b('\u{10ffff}')), '\\U0010ffff') // noncharacter
  })

  it('keeps printable non-ASCII runes, combining marks and emoji as UTF-8', () => {
    assert.equal(goQuoteName(b('e\u0301 ñ 日本 😀 ß')), 'e\u0301 ñ 日本 😀 ß')
    assert.equal(goQuoteName(b('\ufffd')), '\ufffd') // a real U+FFFD is a printable symbol
  })

  it('escapes characters newer than Unicode 13, as Go 1.19 does', () => {
    assert.equal(goQuoteName(b('\u{1fae0}')), '\\U0001fae0') // melting face, Unicode 14
    assert.equal(goQuoteName(b('\u{1f979}')), '\\U0001f979') // face holding back tears, Unicode 14
    assert.equal(goQuoteName(b('\u{1f978}')), '\u{1f978}') // disguised face, Unicode 13
    assert.equal(goQuoteName(b('\u20c0')), '\\u20c0') // som sign, Unicode 14
    assert.equal(goQuoteName(b('\u20bf')), '\u20bf') // bitcoin sign, Unicode 10
  })

  it('escapes each byte of invalid UTF-8 on its own, surrogates and overlong forms included', () => {
    assert.equal(goQuoteName(Buffer.from([0xc0, 0x80])), '\\xc0\\x80')
    assert.equal(goQuoteName(Buffer.from([0xed, 0xa0, 0x80])), '\\xed\\xa0\\x80')
    assert.equal(goQuoteName(Buffer.from([0xf4, 0x90, 0x80, 0x80])), '\\xf4\\x90\\x80\\x80')
    assert.equal(goQuoteName(Buffer.from([0xe2, 0x82, 0x41])), '\\xe2\\x82A')
    assert.equal(goQuoteName(Buffer.from([0xc3, 0xc3, 0xa9])), '\\xc3é')
    assert.equal(goQuoteName(Buffer.from([0x61, 0xf0, 0x9f, 0x98])), 'a\\xf0\\x9f\\x98')
  })
})

describe('isGoPrint()', () => {
  it('matches Go exactly on ASCII and Latin-1', () => {
    for (let cp = 0; cp < 0x100; cp++) {
      const expected = (cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa1 && cp !== 0xad)
      assert.equal(isGoPrint(cp), expected, cp.toString(16))
    }
  })

  it('rejects surrogates and values past U+10FFFF', () => {
    assert.equal(isGoPrint(0xd800), false)
    assert.equal(isGoPrint(0x110000), false)
  })
})

describe('goUnquoteName()', () => {
  it('decodes every escape Go accepts inside double quotes', () => {
    assert.deepEqual(goUnquoteName('\\a\\b\\f\\n\\r\\t\\v\\\\\\"'), b('\x07\b\f\n\r\t\v\\"'))
    assert.deepEqual(goUnquoteName('\\x41\\xFf\\101\\377'), Buffer.from([0x41, 0xff, 0x41, 0xff]))
    assert.deepEqual(goUnquoteName('\\u00e9\\u00E9\\U0001F600'), b('éé😀'))
  })

  it('gives raw bytes for \\x escapes, not code points', () => {
    assert.deepEqual(goUnquoteName('bad\\xffname'), Buffer.concat([b('bad'), Buffer.from([0xff]), b('name')]))
  })

  it('accepts raw tabs and other raw characters except newline and double quote', () => {
    assert.deepEqual(goUnquoteName('a\tb\u2028ü'), b('a\tb\u2028ü'))
  })

  it('turns a lone surrogate into U+FFFD, as Go JSON decoding does', () => {
    assert.deepEqual(goUnquoteName('x\ud800'), b('x\ufffd'))
  })

  it('rejects what Go Unquote rejects', () => {
    const bad = ['a"b', 'a\nb', '\\', 'a\\', "\\'", '\\q', '\\x4', '\\xg0', '\\400', '\\18', '\\u12', '\\ud800', '\\U00110000', '\\U0000d800']
    for (const s of bad) {
      assert.throws(() => goUnquoteName(s), (err) => isAppError(err, 'INVALID_DATA'), JSON.stringify(s))
    }
  })

  it('inverts goQuoteName for awkward names', () => {
    const names = [
      b('quote"back\\slash'),
      b('new\nline'),
      b('tab\there'),
      Buffer.from([0x62, 0xff, 0xfe, 0x00, 0x01]),
      b('line\u2028sep\u2029'),
      b('emoji 😀 \u{1fae0}'),
      b('e\u0301\u0308'),
      b('<a>&b'),
      b('\u00a0\u00ad\ufeff\u200b'),
      b(''),
    ]
    for (const name of names) assert.deepEqual(goUnquoteName(goQuoteName(name)), name, name.toString('hex'))
  })

  it('inverts goQuoteName for 3000 random byte strings', () => {
    const random = seededBytes(0xc0ffee)
    for (let i = 0; i < 3000; i++) {
      const name = random(1 + (i % 40))
      assert.deepEqual(goUnquoteName(goQuoteName(name)), name, name.toString('hex'))
    }
  })
})
