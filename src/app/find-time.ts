import { AppError } from '../base/index.js'

// restic's find accepts these layouts (Go's time.ParseInLocation, local zone):
// "2006-01-02[ 15:04[:05][ -0700]]" and "02.01.2006[ 15:04[:05][ -0700]]". Go also takes a
// fraction after the seconds ("05.25" or "05,25") that the layout does not name.
const CLOCK = ' (\\d{2}):(\\d{2})(?::(\\d{2})(?:[.,](\\d{1,9}))?)?(?: ([+-])(\\d{2})(\\d{2}))?'
const ISO = new RegExp(`^(\\d{4})-(\\d{2})-(\\d{2})(?:${CLOCK})?$`)
const GERMAN = new RegExp(`^(\\d{2})\\.(\\d{2})\\.(\\d{4})(?:${CLOCK})?$`)

/**
 * Parses a time given to find's --oldest/--newest (and backup's --time), in the local zone
 * unless an offset is given.
 * Returns nanoseconds since the epoch.
 *
 * @example
 * parseFindTime('2024-05-01 12:00') // local noon on 1 May 2024
 */
export function parseFindTime(text: string): bigint {
  const t = text.trim()
  let m = ISO.exec(t)
  let year: number, month: number, day: number
  if (m) {
    year = Number(m[1])
    month = Number(m[2])
    day = Number(m[3])
  } else {
    m = GERMAN.exec(t)
    if (!m) throw new AppError('INVALID_ARGUMENT', `Unable to parse time "${text}"`, { hint: 'Use a form such as "2024-05-01", "2024-05-01 12:00" or "01.05.2024 12:00:00"' })
    day = Number(m[1])
    month = Number(m[2])
    year = Number(m[3])
  }
  const hour = Number(m[4] ?? 0)
  const minute = Number(m[5] ?? 0)
  const second = Number(m[6] ?? 0)
  // Date would roll a 13th month or a 30th of February over into the next: Go refuses them.
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    throw new AppError('INVALID_ARGUMENT', `Unable to parse time "${text}": a field is out of range`)
  }
  const fraction = BigInt((m[7] ?? '').padEnd(9, '0'))
  let ms: number
  if (m[8] !== undefined) {
    const offset = (Number(m[9]) * 60 + Number(m[10])) * (m[8] === '-' ? -1 : 1)
    const d = new Date(0)
    d.setUTCFullYear(year, month - 1, day)
    d.setUTCHours(hour, minute, second, 0)
    ms = d.getTime() - offset * 60_000
  } else {
    const d = new Date(2000, 0, 1)
    d.setFullYear(year, month - 1, day)
    d.setHours(hour, minute, second, 0)
    ms = d.getTime()
  }
  return BigInt(ms) * 1_000_000n + fraction
}

/** Days in a month of the proleptic Gregorian calendar; set*FullYear, unlike Date's constructor, takes years 0-99 as they are. */
function daysInMonth(year: number, month: number): number {
  const d = new Date(0)
  d.setUTCFullYear(year, month, 0)
  return d.getUTCDate()
}
