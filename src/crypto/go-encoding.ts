/**
 * The few pieces of Go's encoding/json behaviour that restic's key files depend on: how strings,
 * `[]byte` (standard base64) and `time.Time` (RFC 3339 with nanoseconds) are written and read.
 * Matching them keeps our key files byte-for-byte in the style restic writes.
 */

// Go escapes these for safe embedding in HTML; JSON.stringify does not.
const GO_EXTRA_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
  '\\b': '\\u0008',
  '\\f': '\\u000c',
}
// Matches an escaped backslash first, so that `\\b` (backslash, then the letter b) is left alone.
const GO_EXTRA_RE = /\\\\|[<>&\u2028\u2029]|\\[bf]/g

/**
 * A JSON string literal as Go's json.Marshal (go1.19, which built restic 0.14) writes it: `<`, `>`,
 * `&`, U+2028 and U+2029 escaped as \u00XX, \b and \f as \u0008 and \u000c, and unpaired
 * surrogates replaced by U+FFFD (Go strings are UTF-8, so they cannot hold them).
 */
export function goJSONString(s: string): string {
  const wellFormed = Buffer.from(s, 'utf8').toString('utf8')
  return JSON.stringify(wellFormed).replace(GO_EXTRA_RE, (m) => GO_EXTRA_ESCAPES[m] ?? m)
}

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Decodes standard base64 with padding the way Go's `[]byte` JSON decoding does: strict alphabet
 * and padding, but CR and LF are skipped. Returns undefined when the text is not valid base64
 * (Buffer.from would silently drop bad characters instead).
 */
export function decodeStdBase64(text: string): Buffer | undefined {
  const s = text.includes('\r') || text.includes('\n') ? text.replace(/[\r\n]/g, '') : text
  return STD_BASE64.test(s) ? Buffer.from(s, 'base64') : undefined
}

/**
 * A Date in Go's RFC3339Nano layout in UTC: fraction trimmed of trailing zeros and dropped when
 * zero, e.g. `2026-11-22T03:39:33.734Z` or `2026-11-22T03:39:33Z`.
 */
export function formatRFC3339Nano(date: Date): string {
  const ms = date.getTime()
  if (!Number.isFinite(ms)) throw new RangeError('Cannot format an invalid Date as RFC 3339')
  const year = date.getUTCFullYear()
  // Go's Time.MarshalJSON refuses years outside [0, 9999].
  if (year < 0 || year > 9999) throw new RangeError(`Cannot format year ${year} as RFC 3339`)
  const iso = date.toISOString() // YYYY-MM-DDTHH:mm:ss.sssZ for years 0..9999
  const fraction = iso.slice(20, 23).replace(/0+$/, '')
  return iso.slice(0, 19) + (fraction === '' ? '' : '.' + fraction) + 'Z'
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/

/** True for the timestamp shapes Go's time.Time JSON decoding accepts. */
export function isRFC3339(s: string): boolean {
  return RFC3339.test(s)
}
