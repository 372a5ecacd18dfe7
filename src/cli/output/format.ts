/** Human-readable sizes, durations, modes and listing lines, as restic prints them. */
import type { Node } from '../../snapshots/index.js'
export { formatBytes } from '../../base/index.js'

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m)
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`
}

/** A plain text table with a header line and dashes, as `restic snapshots` prints. */
export function table(header: string[], rows: string[][], footer?: string): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()
  const rule = '-'.repeat(Math.max(10, widths.reduce((a, b) => a + b + 2, -2)))
  const out = [line(header), rule, ...rows.map(line), rule]
  if (footer) out.push(footer)
  return out.join('\n') + '\n'
}

/** "2026-11-22 05:07:00" from a Go RFC 3339 time string, in the local zone. */
export function formatTime(goTime: string): string {
  const d = new Date(goTime.replace(/(\.\d{3})\d+/, '$1'))
  if (Number.isNaN(d.getTime())) return goTime
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

/**
 * A Go RFC 3339 time string as Go's time.Time String() prints it, which restic uses in some
 * headers (`ls`): "2026-11-25 00:34:01.133092724 +0000 UTC". The zone's name is UTC for "Z";
 * for an offset, the local zone's short name when the offset is this machine's at that time (as
 * Go's parser takes the local zone then), else the offset again ("+0100 +0100"), as for Go's
 * fixed zones.
 */
export function goTimeText(goTime: string): string {
  const m = /^(\d{4,}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(goTime)
  if (m === null) return goTime
  const [, date, clock, fraction = '', zone] = m
  const offset = zone === 'Z' ? '+0000' : zone.replace(':', '')
  const minutes = zone === 'Z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)))
  const at = new Date(goTime.replace(/(\.\d{3})\d+/, '$1'))
  let name = zone === 'Z' ? 'UTC' : offset
  if (zone !== 'Z' && !Number.isNaN(at.getTime()) && -at.getTimezoneOffset() === minutes) {
    const local = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(at).find((p) => p.type === 'timeZoneName')?.value
    if (local !== undefined && /^[A-Z]{2,5}$/.test(local)) name = local
  }
  return `${date} ${clock}${fraction.replace(/\.?0+$/, '')} ${offset} ${name}`
}

/**
 * The mode as Go's FileMode.String prints it (what restic shows): type and flag letters, then
 * rwx bits, e.g. "-rw-r--r--", "drwxr-xr-x", "Lrwxrwxrwx", "dtrwxrwxrwx" (sticky), "Dcrw-r--r--".
 */
export function permissionString(mode: number): string {
  // Go's letters for bits 31 down to 19: d a l T L D p S u g c t ?
  const letters = 'dalTLDpSugct?'
  let s = ''
  for (let i = 0; i < letters.length; i++) if ((mode >>> (31 - i)) & 1) s += letters[i]
  if (s === '') s = '-'
  const rwx = 'rwxrwxrwx'
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? rwx[i] : '-'
  return s
}

/**
 * restic's long listing line (ls -l, find -l): mode, uid, gid, size, time, path, and a
 * symlink's target, in restic's widths, so scripts that cut columns read both tools alike.
 */
export function longListing(path: string, n: Node): string {
  const target = n.type === 'symlink' ? ` -> ${n.linktarget ?? ''}` : ''
  return `${permissionString(n.mode)} ${String(n.uid).padStart(5)} ${String(n.gid).padStart(5)} ${String(n.size).padStart(6)} ${formatTime(n.mtime)} ${path}${target}`
}
