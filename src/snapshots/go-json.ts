/**
 * Go 1.19 `encoding/json` string encoding (restic-format.md §6.4). It differs from
 * `JSON.stringify` in every point that matters for byte-exact trees: `<`, `>` and `&` are
 * HTML-escaped, U+2028 and U+2029 are escaped, control characters other than `\n`, `\r` and
 * `\t` are written as `\u00XX` (Go 1.19 has no `\b`/`\f` short forms; those came in Go 1.22),
 * DEL stays raw, and text that is not valid Unicode becomes `\ufffd`.
 */

const NEEDS_ESCAPE = /[\u0000-\u001f"\\<>&\u2028\u2029\ud800-\udfff]/
const ESCAPE_ALL =
  /[\u0000-\u001f"\\<>&\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

const HEX = '0123456789abcdef'

function escapeOne(ch: string): string {
  switch (ch) {
    case '"':
      return '\\"'
    case '\\':
      return '\\\\'
    case '\n':
      return '\\n'
    case '\r':
      return '\\r'
    case '\t':
      return '\\t'
    case '\u2028':
      return '\\u2028'
    case '\u2029':
      return '\\u2029'
  }
  const code = ch.charCodeAt(0)
  // A lone surrogate: Go sees invalid UTF-8 there and writes the replacement character.
  if (code >= 0xd800) return '\\ufffd'
  return '\\u00' + HEX[code >> 4] + HEX[code & 0xf]
}

/**
 * `s` as a JSON string literal, quotes included, byte for byte as Go 1.19's `json.Marshal`
 * writes it.
 *
 * @example
 * goJsonString('a<b>&c') // '"a\\u003cb\\u003e\\u0026c"'
 * goJsonString('\b') // '"\\u0008"'
 */
export function goJsonString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"'
  return '"' + s.replace(ESCAPE_ALL, escapeOne) + '"'
}
