/**
 * Go `time.Time` JSON text (RFC 3339 with nanoseconds) as restic 0.14 writes it: in the local
 * zone of the writing process, `Z` when the offset is zero, the fraction trimmed of trailing
 * zeros and left out when zero, years clamped to 0…9999 (restic-format.md §6.3, §6.4).
 *
 * Instants are bigint nanoseconds since the Unix epoch, so `lstat(…, { bigint: true })` values
 * (`mtimeNs`) go in unchanged.
 */
import { AppError } from '../base/index.js'

const NS_PER_SECOND = 1_000_000_000n
const SECONDS_PER_DAY = 86_400

/** Go's zero `time.Time` (`0001-01-01T00:00:00Z`) in nanoseconds since the epoch. */
export const GO_ZERO_TIME_NS = -62_135_596_800n * NS_PER_SECOND

/** JS Date's limit, in seconds; far beyond the years restic can write anyway. */
const MAX_DATE_SECONDS = 8_640_000_000_000

/** Days since 1970-01-01 of a proleptic Gregorian date (month 1…12). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yearOfEra = y - era * 400
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear
  return era * 146_097 + dayOfEra - 719_468
}

/** The proleptic Gregorian date of a day number (inverse of daysFromCivil). */
function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const dayOfEra = z - era * 146_097
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
  )
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100))
  const mp = Math.floor((5 * dayOfYear + 2) / 153)
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day }
}

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

/** 1973-03-03: no time zone has had an offset with seconds since. */
const LAST_ODD_OFFSET = 100_000_000

/**
 * The local zone's UTC offset in seconds at an instant. getTimezoneOffset rounds to whole
 * minutes, but before standard time zones offsets had seconds (Berlin's local mean time was
 * +00:53:28), and Go shifts the printed clock by the full offset; recover them in that case.
 */
function localOffsetSeconds(epochSeconds: number): number {
  const d = new Date(epochSeconds * 1000)
  // The last zone with such an offset (Monrovia, -00:44:30) dropped it in 1972.
  if (epochSeconds >= LAST_ODD_OFFSET || d.getSeconds() === d.getUTCSeconds()) return -d.getTimezoneOffset() * 60
  const wall = new Date(0)
  wall.setUTCFullYear(d.getFullYear(), d.getMonth(), d.getDate())
  wall.setUTCHours(d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds())
  return Math.round((wall.getTime() - d.getTime()) / 1000)
}

/** '00' … '99': formatting runs for every node of every backup, so avoid padStart. */
const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => (i < 10 ? '0' : '') + i)

function pad2(n: number): string {
  return TWO_DIGITS[n]
}

function pad4(n: number): string {
  return TWO_DIGITS[Math.floor(n / 100)] + TWO_DIGITS[n % 100]
}

/** The digits of a non-zero fraction of a second, without trailing zeros. */
function fractionDigits(nanos: number): string {
  let digits = 9
  while (nanos % 10 === 0) {
    nanos /= 10
    digits--
  }
  return String(nanos).padStart(digits, '0')
}

/** Go's `Z07:00`: Z for zero, else the offset in whole minutes, truncated toward zero. */
function formatZone(offsetSeconds: number): string {
  if (offsetSeconds === 0) return 'Z'
  let minutes = Math.trunc(offsetSeconds / 60)
  let sign = '+'
  if (minutes < 0) {
    sign = '-'
    minutes = -minutes
  }
  return sign + pad2(Math.floor(minutes / 60) % 100) + ':' + pad2(minutes % 60)
}

/**
 * An instant as Go's RFC3339Nano text, as restic 0.14 writes node and snapshot times.
 *
 * `offsetMinutes` fixes the zone (east of UTC is positive); by default it is the process's
 * local zone at that instant (the `TZ` environment variable is honoured), as Go's `time.Local`.
 * Like restic, this formats GO_ZERO_TIME_NS in the local zone too; only Go's uninitialised
 * time (offset 0 here) gives `0001-01-01T00:00:00Z`.
 * Instants whose local year is outside 0…9999 get their year replaced by 0 or 9999, keeping
 * month, day and clock, as restic's FixTime does.
 *
 * @example
 * formatGoTime(1_577_934_245_000_000_000n, 60) // '2020-01-02T04:04:05+01:00'
 * formatGoTime(1_577_934_245_120_000_000n, 0) // '2020-01-02T03:04:05.12Z'
 */
export function formatGoTime(ns: bigint, offsetMinutes?: number): string {
  let seconds = ns / NS_PER_SECOND
  let nanos = ns % NS_PER_SECOND
  if (nanos < 0n) {
    nanos += NS_PER_SECOND
    seconds -= 1n
  }
  let epochSeconds = Number(seconds)
  if (epochSeconds > MAX_DATE_SECONDS) epochSeconds = MAX_DATE_SECONDS
  else if (epochSeconds < -MAX_DATE_SECONDS) epochSeconds = -MAX_DATE_SECONDS
  const fraction = nanos === 0n ? '' : '.' + fractionDigits(Number(nanos))
  if (offsetMinutes !== undefined) {
    const [text, zone] = formatSeconds(epochSeconds, offsetMinutes)
    return text + fraction + zone
  }
  let local = localSeconds.get(epochSeconds)
  if (local === undefined) {
    if (localSeconds.size >= LOCAL_SECONDS_KEPT) localSeconds.clear()
    local = formatSeconds(epochSeconds, undefined)
    localSeconds.set(epochSeconds, local)
  }
  return local[0] + fraction + local[1]
}

/**
 * The local zone's text of recent whole seconds, without fraction ([clock, zone]): files
 * written together share their seconds, and working out the date and zone of each took most
 * of a node's encoding. As with Go's time.Local, the zone is the one the process started in.
 */
const localSeconds = new Map<number, readonly [string, string]>()
const LOCAL_SECONDS_KEPT = 4096

/** An instant's whole seconds as RFC 3339 text without fraction, and its zone, apart. */
function formatSeconds(epochSeconds: number, offsetMinutes: number | undefined): readonly [string, string] {
  const fixedZone = offsetMinutes !== undefined
  let offset = fixedZone ? Math.round(offsetMinutes * 60) : localOffsetSeconds(epochSeconds)

  const wall = epochSeconds + offset
  const days = Math.floor(wall / SECONDS_PER_DAY)
  const secondOfDay = wall - days * SECONDS_PER_DAY
  let { year, month, day } = civilFromDays(days)
  if (year < 0 || year > 9999) {
    year = year < 0 ? 0 : 9999
    if (day > daysInMonth(year, month)) {
      // Go's AddDate normalises 29 February of a year that lost its leap day to 1 March.
      day -= daysInMonth(year, month)
      month += 1
    }
    if (!fixedZone) offset = localOffsetSeconds(daysFromCivil(year, month, day) * SECONDS_PER_DAY + secondOfDay - offset)
  }

  const hours = Math.floor(secondOfDay / 3600)
  const minutes = Math.floor(secondOfDay / 60) % 60
  const text = pad4(year) + '-' + pad2(month) + '-' + pad2(day) + 'T' + pad2(hours) + ':' + pad2(minutes) + ':' + pad2(secondOfDay % 60)
  return [text, formatZone(offset)]
}

const GO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/

/**
 * Nanoseconds since the epoch of an RFC 3339 time as Go's `time.Parse(RFC3339, …)` reads it:
 * any zone offset, any number of fraction digits (digits past the ninth are dropped, as Go
 * does). `0001-01-01T00:00:00Z` gives GO_ZERO_TIME_NS.
 *
 * @throws AppError INVALID_DATA when `s` is not such a time or a field is out of range
 *
 * @example
 * parseGoTime('1970-01-01T01:00:00.5+01:00') // 500_000_000n
 */
export function parseGoTime(s: string): bigint {
  const m = GO_TIME.exec(s)
  const invalid = () =>
    new AppError('INVALID_DATA', `Cannot parse time "${s}": expected RFC 3339 such as "2006-01-02T15:04:05.999999999Z07:00"`)
  if (m === null) throw invalid()
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  const hour = Number(m[4])
  const minute = Number(m[5])
  const second = Number(m[6])
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) throw invalid()
  if (hour > 23 || minute > 59 || second > 59) throw invalid()
  let offset = 0
  if (m[8] !== undefined) {
    const zoneHours = Number(m[9])
    const zoneMinutes = Number(m[10])
    if (zoneMinutes > 59) throw invalid()
    offset = (zoneHours * 60 + zoneMinutes) * 60 * (m[8] === '-' ? -1 : 1)
  }
  const epochSeconds = daysFromCivil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset
  const fraction = m[7] === undefined ? 0n : BigInt(m[7].slice(0, 9).padEnd(9, '0'))
  return BigInt(epochSeconds) * NS_PER_SECOND + fraction
}

/**
 * `s` as Go prints it again after parsing it, as restic's JSON output does: the same instant
 * and offset, the fraction without trailing zeros, a zero offset as `Z`. Text that is not such
 * a time is returned as it is.
 *
 * @example
 * reprintGoTime('2026-11-25T03:40:00.100+00:00') // '2026-11-25T03:40:00.1Z'
 */
export function reprintGoTime(s: string): string {
  const m = GO_TIME.exec(s)
  if (m === null) return s
  try {
    const offsetMinutes = m[8] === undefined ? 0 : (Number(m[9]) * 60 + Number(m[10])) * (m[8] === '-' ? -1 : 1)
    return formatGoTime(parseGoTime(s), offsetMinutes)
  } catch {
    return s
  }
}
