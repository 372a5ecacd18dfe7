/**
 * The size limits of prune as restic 0.14 spells them: `--max-unused` ("5%", "200M",
 * "unlimited") and `--max-repack-size` ("1G").
 */
import { AppError } from '../base/index.js'

/** How much unused data may remain after pruning. */
export type MaxUnused = { kind: 'unlimited' } | { kind: 'percent'; percent: number } | { kind: 'bytes'; bytes: number }

const UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/**
 * Parses a byte size with an optional suffix b, k, m, g or t (either case; powers of 1024), as
 * restic's size flags.
 *
 * @example
 * parseByteSize('500M', '--max-repack-size') // 524288000
 */
export function parseByteSize(text: string, flag: string): number {
  const t = text.trim()
  const unit = UNITS[t.slice(-1).toLowerCase()]
  const digits = unit === undefined ? t : t.slice(0, -1)
  if (!/^\+?\d+$/.test(digits)) {
    throw new AppError('INVALID_ARGUMENT', `Invalid size "${text}" for ${flag}`, {
      hint: 'Give a number of bytes with an optional suffix k, M, G or T, such as 500M',
    })
  }
  return Number(digits) * (unit ?? 1)
}

/**
 * Parses `--max-unused`: "unlimited", a percentage of the used data below 100 ("5%", "2.5%"),
 * or a size.
 */
export function parseMaxUnused(text: string): MaxUnused {
  const t = text.trim()
  if (t === '') throw new AppError('INVALID_ARGUMENT', `Invalid value "${text}" for --max-unused`, { hint: 'Give a percentage such as 5%, a size such as 1G, or "unlimited"' })
  if (t === 'unlimited') return { kind: 'unlimited' }
  if (t.endsWith('%')) {
    const p = Number(t.slice(0, -1))
    if (t.length === 1 || !Number.isFinite(p)) {
      throw new AppError('INVALID_ARGUMENT', `Invalid percentage "${text}" for --max-unused`, { hint: 'Give a percentage such as 5%' })
    }
    if (p < 0) throw new AppError('INVALID_ARGUMENT', 'The percentage for --max-unused must be positive')
    if (p >= 100) throw new AppError('INVALID_ARGUMENT', 'The percentage for --max-unused must be below 100%')
    return { kind: 'percent', percent: p }
  }
  return { kind: 'bytes', bytes: parseByteSize(t, '--max-unused') }
}

/**
 * The unused bytes tolerated after pruning when `used` bytes are in use. A percentage p means p%
 * of the repository after pruning, so p / (100 - p) of the used data.
 */
export function maxUnusedBytes(limit: MaxUnused, used: number): number {
  switch (limit.kind) {
    case 'unlimited':
      return Number.POSITIVE_INFINITY
    case 'percent':
      return Math.floor((limit.percent / (100 - limit.percent)) * used)
    case 'bytes':
      return limit.bytes
  }
}
