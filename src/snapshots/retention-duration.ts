/**
 * Calendar durations for `--keep-within*` ("1y2m3d4h"), and the calendar arithmetic restic 0.14
 * does with them: Go's `t.AddDate(-y, -m, -d).Add(-h * time.Hour)` in the zone the snapshot time
 * was written in.
 */
import { AppError } from '../base/index.js'

/** Years, months, days and hours, as restic's `Duration`; each may be negative. */
export interface RetentionDuration {
  years: number
  months: number
  days: number
  hours: number
}

const UNITS = { y: 'years', m: 'months', d: 'days', h: 'hours' } as const

function invalidDuration(text: string, detail: string): AppError {
  return new AppError('INVALID_ARGUMENT', `Invalid duration "${text}": ${detail}`, {
    hint: 'Give a duration such as "1y2m3d4h" (years, months, days, hours), e.g. --keep-within 30d',
  })
}

/**
 * Parses "6y5m234d37h" as restic does: surrounding space is ignored, every number needs a unit,
 * a unit given twice keeps the last value, and "" is the zero duration.
 *
 * @example
 * parseRetentionDuration('1y2m') // { years: 1, months: 2, days: 0, hours: 0 }
 */
export function parseRetentionDuration(text: string): RetentionDuration {
  const d: RetentionDuration = { years: 0, months: 0, days: 0, hours: 0 }
  let rest = text.trim()
  while (rest !== '') {
    const m = /^(-?)(\d*)/.exec(rest)!
    if (m[2] === '') throw invalidDuration(text, 'no number found')
    const num = Number(m[2]) * (m[1] === '-' ? -1 : 1)
    rest = rest.slice(m[0].length)
    if (rest === '') throw invalidDuration(text, `no unit found after number ${num}`)
    const unit = UNITS[rest[0] as keyof typeof UNITS]
    if (unit === undefined) throw invalidDuration(text, `invalid unit "${rest[0]}" found after number ${num}`)
    d[unit] = num
    rest = rest.slice(1)
  }
  return d
}

/** "1y2m3d4h" with zero parts left out, as restic prints durations (the zero duration is ""). */
export function formatRetentionDuration(d: RetentionDuration): string {
  let s = ''
  if (d.years !== 0) s += `${d.years}y`
  if (d.months !== 0) s += `${d.months}m`
  if (d.days !== 0) s += `${d.days}d`
  if (d.hours !== 0) s += `${d.hours}h`
  return s
}

export function isZeroDuration(d: RetentionDuration | undefined): boolean {
  return d === undefined || (d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0)
}

/** Where a time's wall clock is read: Go keeps the zone a time was parsed with. */
export type ClockZone = { kind: 'utc' } | { kind: 'local' } | { kind: 'fixed'; offsetSeconds: number }

/** A snapshot time as restic holds it after decoding: instant, wall clock, and zone. */
export interface SnapshotClock {
  /** Nanoseconds since the Unix epoch. */
  ns: bigint
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
  zone: ClockZone
}

const NS = 1_000_000_000n
const GO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,]\d+)?(Z|([+-])(\d{2}):(\d{2}))$/

/** The local zone's UTC offset in seconds at an instant (seconds since the epoch). */
function localOffset(epochSeconds: number): number {
  return -new Date(epochSeconds * 1000).getTimezoneOffset() * 60
}

/**
 * The wall clock and zone of a Go RFC 3339 time. Go's parser gives a time ending in "Z" the UTC
 * zone, one whose offset is the local zone's offset at that instant the local zone, and any other
 * a fixed zone. Bucketing (day, week, …) uses the wall clock as written, whatever the reader's
 * zone; only date arithmetic in the local zone follows its summer time rules.
 */
export function snapshotClock(time: string, ns: bigint): SnapshotClock {
  const m = GO_TIME.exec(time)
  if (m === null) {
    throw new AppError('INVALID_DATA', `Cannot read snapshot time "${time}": expected RFC 3339 such as "2006-01-02T15:04:05Z"`)
  }
  let zone: ClockZone = { kind: 'utc' }
  if (m[7] !== 'Z') {
    const offsetSeconds = (Number(m[9]) * 3600 + Number(m[10]) * 60) * (m[8] === '-' ? -1 : 1)
    const local = localOffset(Number(floorDiv(ns, NS)))
    zone = local === offsetSeconds ? { kind: 'local' } : { kind: 'fixed', offsetSeconds }
  }
  return {
    ns,
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: Number(m[4]),
    minute: Number(m[5]),
    second: Number(m[6]),
    zone,
  }
}

/** Go's zero time (0001-01-01T00:00:00Z), which restic uses when no snapshot is in the past. */
export const ZERO_CLOCK: SnapshotClock = {
  ns: -62_135_596_800n * NS,
  year: 1,
  month: 1,
  day: 1,
  hour: 0,
  minute: 0,
  second: 0,
  zone: { kind: 'utc' },
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q
}

/** Days since 1970-01-01 of a proleptic Gregorian date; `month` is 1…12. */
function epochDay(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146_097 + doe - 719_468
}

/**
 * The instant `c` moved back by `d`: Go's `AddDate(-years, -months, -days)` (the date is
 * normalised, so 31 March minus one month is 3 March, and the clock is kept in `c`'s zone),
 * then minus `hours` of elapsed time.
 */
export function subtractDuration(c: SnapshotClock, d: RetentionDuration): bigint {
  // Normalise the month first, then let the day count run over month ends, as Go's Date does.
  const month0 = c.month - 1 - d.months
  const year = c.year - d.years + Math.floor(month0 / 12)
  const month = (((month0 % 12) + 12) % 12) + 1
  const days = epochDay(year, month, 1) + c.day - d.days - 1
  const wall = days * 86_400 + c.hour * 3600 + c.minute * 60 + c.second
  let offset = 0
  if (c.zone.kind === 'fixed') offset = c.zone.offsetSeconds
  else if (c.zone.kind === 'local') {
    // Go guesses the offset at the wall time read as UTC, and corrects it once when the
    // resulting instant lies in another zone period (around summer time changes).
    offset = localOffset(wall)
    if (offset !== 0) offset = localOffset(wall - offset)
  }
  const subSecond = c.ns - floorDiv(c.ns, NS) * NS
  return BigInt(wall - offset - d.hours * 3600) * NS + subSecond
}
