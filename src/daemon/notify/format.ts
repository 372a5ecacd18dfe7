/** Sizes, durations and times in notification messages. */
import { formatBytes as formatSize } from '../../base/index.js'

/** "1.50 GiB", "512 B". */
export function formatBytes(n: number): string {
  return formatSize(n, 'short')
}

/** "2h 05m", "3m 07s", "12s", "0.4s". */
export function formatDuration(ms: number): string {
  if (ms < 10_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`
  const s = Math.round(ms / 1000)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`
  if (m > 0) return `${m}m ${String(sec).padStart(2, '0')}s`
  return `${sec}s`
}

/** "2025-03-29 02:30:00" in the local time zone. */
export function formatTime(ms: number): string {
  const d = new Date(ms)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

/** "1,234". */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US')
}
