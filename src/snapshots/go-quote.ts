/**
 * Go `strconv.Quote` / `strconv.Unquote` for node names.
 *
 * restic stores a node's name as `strconv.Quote(name)` without the outer quotes, and only then
 * JSON-encodes it (restic-format.md §6.3, "The name field is double-encoded"). Names are raw
 * bytes: Quote turns bytes that are not UTF-8 into `\xHH`, which is how a Latin-1 file name
 * survives a JSON document. Both directions work on bytes, as Go does, never on JS strings.
 */
import { AppError } from '../base/index.js'
import { isGoPrint } from './go-print.js'
import { decodeRune } from './go-utf8.js'

const HEX = '0123456789abcdef'

/** Short escapes strconv.Quote uses for ASCII control characters. */
const SHORT_ESCAPES: Record<number, string> = {
  0x07: '\\a',
  0x08: '\\b',
  0x09: '\\t',
  0x0a: '\\n',
  0x0b: '\\v',
  0x0c: '\\f',
  0x0d: '\\r',
}

function hexDigits(value: number, width: number): string {
  let s = ''
  for (let shift = (width - 1) * 4; shift >= 0; shift -= 4) s += HEX[(value >>> shift) & 0xf]
  return s
}

function runeLength(cp: number): number {
  return cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4
}

/**
 * Go `strconv.Quote` of the raw name bytes, without the surrounding quotes.
 *
 * @example
 * goQuoteName(Buffer.from('tab\there')) // 'tab\\there'
 * goQuoteName(Buffer.from([0x62, 0xff])) // 'b\\xff'
 */
export function goQuoteName(name: Uint8Array): string {
  const buf = Buffer.isBuffer(name) ? name : Buffer.from(name.buffer, name.byteOffset, name.byteLength)
  const len = buf.length
  let i = 0
  // Most names are plain printable ASCII with nothing to escape.
  while (i < len) {
    const c = buf[i]
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) break
    i++
  }
  if (i === len) return buf.toString('latin1', 0, len)

  let out = buf.toString('latin1', 0, i)
  // Start of a run of bytes that are copied through unchanged (valid UTF-8).
  let start = i
  while (i < len) {
    const c = buf[i]
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) {
      i++
      continue
    }
    let escape: string
    let width = 1
    if (c < 0x80) {
      if (c === 0x22 || c === 0x5c) escape = c === 0x22 ? '\\"' : '\\\\'
      else escape = SHORT_ESCAPES[c] ?? '\\x' + hexDigits(c, 2)
    } else {
      const cp = decodeRune(buf, i)
      if (cp < 0) {
        escape = '\\x' + hexDigits(c, 2)
      } else {
        width = runeLength(cp)
        if (isGoPrint(cp)) {
          i += width
          continue
        }
        escape = cp < 0x10000 ? '\\u' + hexDigits(cp, 4) : '\\U' + hexDigits(cp, 8)
      }
    }
    if (start < i) out += buf.toString('utf8', start, i)
    out += escape
    i += width
    start = i
  }
  if (start < len) out += buf.toString('utf8', start, len)
  return out
}

function invalidName(s: string): AppError {
  return new AppError('INVALID_DATA', `Cannot decode node name "${s}": not a valid Go-quoted string`, {
    hint: 'The tree blob is damaged or was written by an incompatible program; run "check"',
  })
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10
  return -1
}

function readHex(b: Uint8Array, at: number, digits: number): number {
  if (at + digits > b.length) return -1
  let v = 0
  for (let j = 0; j < digits; j++) {
    const h = hexValue(b[at + j])
    if (h < 0) return -1
    v = v * 16 + h
  }
  return v
}

/** Writes `cp` as UTF-8 at `at`; returns the new end. */
function putRune(out: Buffer, at: number, cp: number): number {
  if (cp < 0x80) {
    out[at] = cp
    return at + 1
  }
  if (cp < 0x800) {
    out[at] = 0xc0 | (cp >> 6)
    out[at + 1] = 0x80 | (cp & 0x3f)
    return at + 2
  }
  if (cp < 0x10000) {
    out[at] = 0xe0 | (cp >> 12)
    out[at + 1] = 0x80 | ((cp >> 6) & 0x3f)
    out[at + 2] = 0x80 | (cp & 0x3f)
    return at + 3
  }
  out[at] = 0xf0 | (cp >> 18)
  out[at + 1] = 0x80 | ((cp >> 12) & 0x3f)
  out[at + 2] = 0x80 | ((cp >> 6) & 0x3f)
  out[at + 3] = 0x80 | (cp & 0x3f)
  return at + 4
}

const SHORT_UNESCAPES: Record<number, number> = {
  0x61: 0x07, // a
  0x62: 0x08, // b
  0x66: 0x0c, // f
  0x6e: 0x0a, // n
  0x72: 0x0d, // r
  0x74: 0x09, // t
  0x76: 0x0b, // v
  0x5c: 0x5c, // backslash
  0x22: 0x22, // double quote (a single quote is not allowed inside double quotes)
}

/**
 * Go `strconv.Unquote('"' + s + '"')`, giving the raw name bytes. Lone surrogates in `s` (from
 * JSON `\ud800` escapes) become U+FFFD, as Go's JSON decoder makes them.
 *
 * @throws AppError INVALID_DATA for anything Unquote rejects: an unescaped `"` or newline, an
 * unknown escape, `\'`, short or non-hex `\x`/`\u`/`\U` digits, a surrogate or out-of-range
 * `\u`/`\U` value, an octal escape above `\377`, or a trailing lone backslash.
 *
 * @example
 * goUnquoteName('b\\xff') // <Buffer 62 ff>
 */
export function goUnquoteName(s: string): Buffer {
  const src = Buffer.from(s, 'utf8')
  const len = src.length
  let i = 0
  while (i < len) {
    const c = src[i]
    if (c === 0x5c || c === 0x22 || c === 0x0a) break
    i++
  }
  if (i === len) return src

  // Every escape is at least as long as what it stands for, so the output fits in `len`.
  const out = Buffer.allocUnsafe(len)
  src.copy(out, 0, 0, i)
  let o = i
  while (i < len) {
    const c = src[i]
    if (c === 0x22 || c === 0x0a) throw invalidName(s)
    if (c !== 0x5c) {
      out[o++] = c
      i++
      continue
    }
    if (i + 1 >= len) throw invalidName(s)
    const e = src[i + 1]
    i += 2
    const short = SHORT_UNESCAPES[e]
    if (short !== undefined) {
      out[o++] = short
      continue
    }
    if (e === 0x78) {
      // \xHH is one raw byte, which need not be valid UTF-8 on its own.
      const v = readHex(src, i, 2)
      if (v < 0) throw invalidName(s)
      out[o++] = v
      i += 2
    } else if (e === 0x75 || e === 0x55) {
      const digits = e === 0x75 ? 4 : 8
      const v = readHex(src, i, digits)
      if (v < 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) throw invalidName(s)
      o = putRune(out, o, v)
      i += digits
    } else if (e >= 0x30 && e <= 0x37) {
      if (i + 2 > len) throw invalidName(s)
      const d1 = src[i] - 0x30
      const d2 = src[i + 1] - 0x30
      if (d1 < 0 || d1 > 7 || d2 < 0 || d2 > 7) throw invalidName(s)
      const v = (e - 0x30) * 64 + d1 * 8 + d2
      if (v > 255) throw invalidName(s)
      out[o++] = v
      i += 2
    } else {
      throw invalidName(s)
    }
  }
  return out.subarray(0, o)
}
