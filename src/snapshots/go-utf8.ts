/**
 * UTF-8 decoding with Go's rules. Go strings are bytes; where they are not valid UTF-8, Go's
 * decoder takes one byte at a time as an error rune, which `strconv.Quote` writes as `\xHH` and
 * `encoding/json` as `\ufffd`. The WHATWG decoder behind `Buffer#toString` instead folds a
 * truncated sequence into a single U+FFFD, so it cannot reproduce restic's bytes.
 */
import { isUtf8 } from 'node:buffer'

/**
 * The non-ASCII rune starting at `i`, decoded as Go's `utf8.DecodeRune` does, or -1 when the
 * byte does not start a valid shortest-form sequence (surrogates and values above U+10FFFF are
 * invalid too); Go then takes that single byte as the error rune.
 */
export function decodeRune(b: Uint8Array, i: number): number {
  const b0 = b[i]
  const n = b.length - i
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    if (n >= 2 && (b[i + 1] & 0xc0) === 0x80) return ((b0 & 0x1f) << 6) | (b[i + 1] & 0x3f)
    return -1
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    if (n < 3) return -1
    const b1 = b[i + 1]
    const lo = b0 === 0xe0 ? 0xa0 : 0x80
    const hi = b0 === 0xed ? 0x9f : 0xbf
    if (b1 < lo || b1 > hi || (b[i + 2] & 0xc0) !== 0x80) return -1
    return ((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b[i + 2] & 0x3f)
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    if (n < 4) return -1
    const b1 = b[i + 1]
    const lo = b0 === 0xf0 ? 0x90 : 0x80
    const hi = b0 === 0xf4 ? 0x8f : 0xbf
    if (b1 < lo || b1 > hi || (b[i + 2] & 0xc0) !== 0x80 || (b[i + 3] & 0xc0) !== 0x80) return -1
    return ((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b[i + 2] & 0x3f) << 6) | (b[i + 3] & 0x3f)
  }
  return -1
}

/**
 * Bytes from the file system (a symlink target, a user or xattr name, a path) as the JS string
 * that goJsonString then encodes exactly as Go encodes those bytes: valid UTF-8 is decoded
 * normally; each byte of invalid UTF-8 becomes a lone surrogate (U+DC80…U+DCFF), which
 * goJsonString writes as `\ufffd`, one per byte, like Go. Use it instead of `toString('utf8')`
 * for every such string that goes into a tree.
 *
 * @example
 * goJsonString(goStringFromBytes(Buffer.from([0x61, 0xf0, 0x9f, 0x98]))) // '"a\\ufffd\\ufffd\\ufffd"'
 */
export function goStringFromBytes(bytes: Uint8Array): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (isUtf8(buf)) return buf.toString('utf8')
  let out = ''
  let start = 0
  let i = 0
  while (i < buf.length) {
    const c = buf[i]
    if (c < 0x80) {
      i++
      continue
    }
    const cp = decodeRune(buf, i)
    if (cp >= 0) {
      i += cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4
      continue
    }
    if (start < i) out += buf.toString('utf8', start, i)
    out += String.fromCharCode(0xdc00 | c)
    i++
    start = i
  }
  return start === 0 ? buf.toString('utf8') : out + buf.toString('utf8', start)
}

/** A lone low surrogate U+DC80…U+DCFF: one byte of invalid UTF-8, as goStringFromBytes writes it. */
const ESCAPED_BYTE = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/

/**
 * The bytes a string from goStringFromBytes was made of: each lone surrogate U+DC80…U+DCFF is
 * the byte it stands for, everything else is UTF-8. The way back for names that are not UTF-8
 * (to match them in a tree, or to print them as the bytes they are, as restic prints them).
 *
 * @example
 * bytesFromGoString(goStringFromBytes(Buffer.from([0x61, 0xff]))) // <Buffer 61 ff>
 */
export function bytesFromGoString(s: string): Buffer {
  if (!ESCAPED_BYTE.test(s)) return Buffer.from(s, 'utf8')
  const parts: Buffer[] = []
  let start = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0xdc80 || c > 0xdcff || (i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff)) continue
    if (start < i) parts.push(Buffer.from(s.slice(start, i), 'utf8'))
    parts.push(Buffer.of(c & 0xff))
    start = i + 1
  }
  if (start < s.length) parts.push(Buffer.from(s.slice(start), 'utf8'))
  return Buffer.concat(parts)
}

/** Whether a string holds bytes of invalid UTF-8 (from goStringFromBytes). */
export function hasEscapedBytes(s: string): boolean {
  return ESCAPED_BYTE.test(s)
}
