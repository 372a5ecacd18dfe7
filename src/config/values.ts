/**
 * Parsers for the small value languages of the config file: byte sizes (`10GiB`, `500M`),
 * timeouts (`30s`, `1h30m`, or a number of seconds), restic's retention durations
 * (`1y2m3d4h`), retention counts and percentages. Pure; each returns undefined for text it
 * does not accept, so the schema can turn that into an issue with a line number.
 */
import { parseReadDataSubset } from '../base/index.js'

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/**
 * Bytes for a size such as `1024`, `10k`, `500M`, `10GiB`, `1.5 TB` (units are powers of 1024,
 * case does not matter, an `i` and a `B` may follow the unit). The same grammar as
 * `--exclude-larger-than`.
 *
 * @example
 * parseByteSize('10GiB') // 10737418240
 */
export function parseByteSize(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? Math.floor(text) : undefined
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$/i.exec(text)
  if (!m) return undefined
  if (m[2] === '' && m[3] !== '') return undefined
  return Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()])
}

/**
 * Milliseconds for a timeout: a number of seconds, or a string of `h`, `m`, `s` parts
 * (`90s`, `5m`, `1h30m`). Zero and negative values are refused.
 *
 * @example
 * parseTimeout('1h30m') // 5400000
 */
export function parseTimeout(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text > 0 ? Math.round(text * 1000) : undefined
  const t = text.trim()
  if (/^\d+(\.\d+)?$/.test(t)) return parseTimeout(Number(t))
  const m = /^(?:(\d+)h)?\s*(?:(\d+)m(?!s))?\s*(?:(\d+)s)?$/.exec(t)
  if (!m || t === '') return undefined
  const ms = (Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)) * 1000
  return ms > 0 ? ms : undefined
}

/** True for restic's retention durations: `1y2m3d4h`, each part optional, at least one. */
export function isRetentionDuration(text: string): boolean {
  const t = text.trim()
  return t !== '' && /^(\d+y)?(\d+m)?(\d+d)?(\d+h)?$/.test(t)
}

/** True for a `keep-*` count: a whole number from -1 up, or `unlimited`. */
export function isRetentionCount(value: number | string): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && value >= -1
  return value.trim() === 'unlimited'
}

/** True for a percentage below 100 such as `5%` or `2.5%`. */
export function isPercentage(text: string): boolean {
  const m = /^\s*(\d+(?:\.\d+)?)%\s*$/.exec(text)
  return m !== null && Number(m[1]) < 100
}

/** True for `check`'s `read-data-subset`: what `check --read-data-subset` takes (parseReadDataSubset). */
export function isReadDataSubset(text: string): boolean {
  try {
    parseReadDataSubset(text)
    return true
  } catch {
    return false
  }
}

/** Formats bytes with binary units for messages (`9.3 GiB`). */
export function formatByteSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = bytes
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`
}
