/** What to send for a GET, from its Range header and the file size. */
export type RangeDecision =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'unsatisfiable' }

/**
 * Interprets a Range header as Go's http.ServeContent (used by rest-server) does for the forms
 * clients send: `bytes=a-b` (inclusive end, clipped to the size), `bytes=a-`, `bytes=-n` (the
 * last n bytes). A range that starts at or past the end, a reversed range or a malformed header
 * is unsatisfiable (416). Several ranges are answered with the whole file (200), which HTTP
 * allows; restic never asks for more than one.
 *
 * @example
 * decideRange('bytes=0-9', 100) // → { kind: 'partial', start: 0, end: 9 }
 */
export function decideRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined || header === '') return { kind: 'full' }
  const m = /^bytes=(.*)$/i.exec(header.trim())
  if (!m) return { kind: 'unsatisfiable' }
  const specs = m[1].split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (specs.length === 0) return { kind: 'unsatisfiable' }
  const parsed = specs.map((s) => one(s, size))
  if (parsed.some((p) => p === 'invalid')) return { kind: 'unsatisfiable' }
  const satisfiable = parsed.filter((p): p is { start: number; end: number } => p !== 'invalid' && p !== 'no-overlap')
  if (satisfiable.length === 0) return { kind: 'unsatisfiable' }
  if (satisfiable.length > 1) return { kind: 'full' }
  return { kind: 'partial', ...satisfiable[0] }
}

function one(spec: string, size: number): { start: number; end: number } | 'invalid' | 'no-overlap' {
  const m = /^(\d*)-(\d*)$/.exec(spec)
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid'
  if (m[1] === '') {
    const n = Number(m[2])
    if (!Number.isSafeInteger(n)) return 'invalid'
    if (n === 0 || size === 0) return 'no-overlap'
    return { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(m[1])
  if (!Number.isSafeInteger(start)) return 'invalid'
  if (m[2] === '') return start >= size ? 'no-overlap' : { start, end: size - 1 }
  const end = Number(m[2])
  if (!Number.isSafeInteger(end) || end < start) return 'invalid'
  if (start >= size) return 'no-overlap'
  return { start, end: Math.min(end, size - 1) }
}

/** The single `bytes=a-b` range with both ends given (a <= b), or undefined for any other header. */
export function closedRange(header: string | undefined): { start: number; end: number } | undefined {
  if (header === undefined) return undefined
  const m = /^bytes=(\d{1,15})-(\d{1,15})$/.exec(header)
  if (!m) return undefined
  const start = Number(m[1])
  const end = Number(m[2])
  return start <= end ? { start, end } : undefined
}
