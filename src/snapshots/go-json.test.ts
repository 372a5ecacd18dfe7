import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { goJsonString } from './go-json.js'

describe('goJsonString()', () => {
  it('leaves plain text alone apart from the quotes', () => {
    assert.equal(goJsonString('hello, wörld 😀'), '"hello, wörld 😀"')
    assert.equal(goJsonString(''), '""')
  })

  it('HTML-escapes <, > and &', () => {
    assert.equal(goJsonString('a<b>&c'), '"a\\u003cb\\u003e\\u0026c"')
  })

  it('escapes the line and paragraph separators', () => {
    assert.equal(goJsonString('x\u2028y\u2029'), '"x\\u2028y\\u2029"')
  })

  it('writes \\n \\r \\t short and every other control character as \\u00XX (Go 1.19)', () => {
    assert.equal(goJsonString('\n\r\t'), '"\\n\\r\\t"')
    assert.equal(goJsonString('\b\f\u0000\u0001\u001f'), '"\\u0008\\u000c\\u0000\\u0001\\u001f"')
  })

  it('keeps DEL and C1 controls raw', () => {
    assert.equal(goJsonString('\u007f\u0085'), '"\u007f\u0085"')
  })

  it('escapes quote and backslash', () => {
    assert.equal(goJsonString('a"b\\c'), '"a\\"b\\\\c"')
  })

  it('turns lone surrogates into \\ufffd and keeps surrogate pairs', () => {
    assert.equal(goJsonString('a\ud800b\udc00c'), '"a\\ufffdb\\ufffdc"')
    assert.equal(goJsonString('\udc00\ud800'), '"\\ufffd\\ufffd"')
    assert.equal(goJsonString('\ud83d\ude00<'), '"\ud83d\ude00\\u003c"')
  })

  it('differs from JSON.stringify exactly where Go does', () => {
    const s = 'tgt<\ufffd>\u0001'
    assert.equal(goJsonString(s), '"tgt\\u003c\ufffd\\u003e\\u0001"')
    assert.notEqual(goJsonString(s), JSON.stringify(s))
  })
})
