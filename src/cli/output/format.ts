/** Human-readable sizes and durations, as restic prints them. */
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
