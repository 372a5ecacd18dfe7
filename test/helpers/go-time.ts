/**
 * Reads the RFC 3339 timestamps with nanoseconds that restic prints (Go's RFC3339Nano), so two
 * tools can be compared by instant, whatever zone or trailing-zero trimming each one used.
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/

/** Nanoseconds since the Unix epoch of an RFC 3339 timestamp; throws on anything else. */
export function parseTimeNs(text: string): bigint {
  const m = RFC3339.exec(text)
  if (!m) throw new Error(`not an RFC 3339 timestamp: "${text}"`)
  const [, y, mo, d, h, mi, s, frac, zone] = m
  const seconds = BigInt(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) / 1000)
  let offset = 0n
  if (zone !== 'Z') {
    const sign = zone[0] === '-' ? -1n : 1n
    offset = sign * (BigInt(zone.slice(1, 3)) * 3600n + BigInt(zone.slice(4, 6)) * 60n)
  }
  return (seconds - offset) * 1_000_000_000n + BigInt((frac ?? '').padEnd(9, '0'))
}
