/**
 * Schedules: when a backup set or a maintenance task runs. A schedule is written as a 5-field
 * cron expression (`30 2 * * *`) or a shorthand (`daily 02:30`, `weekly sun 03:00`,
 * `monthly last 23:00`, `every 6h`, `@daily`), read in a time zone (the system's unless one is
 * given), with an optional jitter (a random delay added to each run so many machines do not hit
 * one server at the same second).
 *
 * Daylight saving time follows what people expect of a fixed time of day: a job at 02:30 runs
 * once on the day the clocks jump from 02:00 to 03:00 (at 03:00) and once, not twice, on the day
 * 02:30 happens twice. Minute intervals (`every 15m`, `*\/15 * * * *`) keep their interval; hour
 * intervals (`every 2h`) follow the clock as cron's do (see docs/daemon.md).
 */
import { Cron } from 'croner'
import { z } from 'zod'
import { AppError } from '../base/index.js'

/** A parsed schedule. Pure: `nextRun` depends only on its arguments. */
export interface Schedule {
  /** The schedule as the user wrote it. */
  readonly text: string
  /** The same schedule as a 5-field cron expression (minute hour day-of-month month day-of-week). */
  readonly cron: string
  /** The IANA time zone it is read in; undefined means the system's zone. */
  readonly timeZone?: string
  /** The largest random delay added to each run, in milliseconds (0: none). */
  readonly jitterMs: number
  /**
   * The first time strictly after `after` at which the schedule fires (before jitter), read in
   * `timeZone` when given, else the schedule's own zone, else the system's.
   */
  nextRun(after: Date, timeZone?: string): Date
}

/** Options of {@link parseSchedule}. */
export interface ScheduleOptions {
  /** Largest random delay added to each run: seconds, or a duration such as "15m". */
  jitter?: number | string
  /** IANA time zone name such as "Europe/Berlin"; default: the system's. */
  timeZone?: string
}

/** Examples shown in every schedule error. */
export const SCHEDULE_EXAMPLES = [
  'hourly',
  'daily 02:30',
  'weekly sun 03:00',
  'monthly last 23:00',
  'every 6h',
  '@daily',
  '30 2 * * *',
] as const

const EXAMPLES_HINT = `Write a cron expression "minute hour day month weekday" or a shorthand, for example: ${SCHEDULE_EXAMPLES.map((e) => `"${e}"`).join(', ')}`

const NICKNAMES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
}

const DAYS: Record<string, number> = {
  sun: 0, sunday: 0, mon: 1, monday: 1, tue: 2, tues: 2, tuesday: 2, wed: 3, wednesday: 3,
  thu: 4, thur: 4, thurs: 4, thursday: 4, fri: 5, friday: 5, sat: 6, saturday: 6,
}

/**
 * Parses a schedule. Throws AppError CONFIG naming the schedule, what is wrong, and valid
 * examples. A schedule that can never fire (`0 0 30 2 *`) is an error too.
 *
 * @example
 * const s = parseSchedule('daily 02:30', { timeZone: 'Europe/Berlin', jitter: '10m' })
 * s.cron // "30 2 * * *"
 * s.nextRun(new Date('2025-03-29T12:00:00Z')) // 2025-03-30T01:00:00Z (03:00 CEST: 02:30 does not exist that day)
 */
export function parseSchedule(text: string, options: ScheduleOptions = {}): Schedule {
  if (typeof text !== 'string' || text.trim() === '') throw scheduleError(String(text), 'it is empty')
  const cron = toCron(text)
  const timeZone = options.timeZone
  if (timeZone !== undefined) checkTimeZone(timeZone, text)
  const jitterMs = options.jitter === undefined ? 0 : parseDuration(options.jitter)
  if (!Number.isFinite(jitterMs) || jitterMs < 0) throw scheduleError(text, `the jitter "${options.jitter}" is not a duration of zero or more`)

  let base: Cron
  try {
    base = makeCron(cron, timeZone)
  } catch (err) {
    throw scheduleError(text, cronDetail(err))
  }
  if (base.nextRun(new Date(Date.UTC(2000, 0, 1))) === null) throw scheduleError(text, 'it never fires (no such date exists)')

  const byZone = new Map<string | undefined, Cron>([[timeZone, base]])
  return {
    text,
    cron,
    ...(timeZone === undefined ? {} : { timeZone }),
    jitterMs,
    nextRun(after: Date, tz?: string): Date {
      const zone = tz ?? timeZone
      let c = byZone.get(zone)
      if (c === undefined) {
        if (zone !== undefined) checkTimeZone(zone, text)
        c = makeCron(cron, zone)
        byZone.set(zone, c)
      }
      const next = c.nextRun(after)
      if (next === null) throw scheduleError(text, `it does not fire after ${after.toISOString()}`)
      return next
    },
  }
}

/**
 * Parses a duration into milliseconds: a number of seconds (as a hook's timeout, and systemd's
 * durations, take a bare number), or units ms, s, m, h, d, w joined together ("90s", "15m",
 * "1h30m", "7d"). Throws AppError CONFIG otherwise.
 */
export function parseDuration(text: string | number): number {
  if (typeof text === 'number') {
    // Milliseconds once: `timeout: 30` on a notification gave up after 0.03 s.
    if (Number.isFinite(text) && text >= 0) return Math.round(text * 1000)
    throw durationError(String(text))
  }
  const t = text.trim().toLowerCase()
  if (t === '' || !/^(\d+(\.\d+)?\s*(ms|s|m|h|d|w)\s*)+$/.test(t)) throw durationError(text)
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
  let total = 0
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/g)) total += Number(m[1]) * units[m[2]]
  return Math.round(total)
}

/** A duration in a config file: "15m", "1h30m", "7d", or a number of seconds. */
export const durationSchema = z.union([z.number().nonnegative(), z.string()]).superRefine((v, ctx) => {
  try {
    parseDuration(v)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as AppError).message })
  }
})

/** A schedule string in a config file, checked with {@link parseSchedule}. */
export const scheduleTextSchema = z.string().superRefine((v, ctx) => {
  try {
    parseSchedule(v)
  } catch (err) {
    const e = err as AppError
    ctx.addIssue({ code: 'custom', message: `${e.message}. ${e.hint ?? ''}`.trim() })
  }
})

/**
 * A schedule in a config file: either the schedule text (`schedule: daily 02:30`), or an object
 * with a jitter and a time zone (`schedule: { when: "daily 02:30", jitter: 15m, timezone: Europe/Berlin }`).
 */
export const scheduleSpecSchema = z.union([
  scheduleTextSchema,
  z
    .object({
      when: scheduleTextSchema,
      jitter: durationSchema.optional(),
      timezone: z.string().optional(),
    })
    .strict(),
])

/** What {@link scheduleSpecSchema} accepts. */
export type ScheduleSpec = z.infer<typeof scheduleSpecSchema>

/** Turns a validated {@link ScheduleSpec} into a Schedule. `jitter` is the default for the text form. */
export function scheduleFromSpec(spec: ScheduleSpec, defaults: ScheduleOptions = {}): Schedule {
  if (typeof spec === 'string') return parseSchedule(spec, defaults)
  return parseSchedule(spec.when, {
    jitter: spec.jitter ?? defaults.jitter,
    timeZone: spec.timezone ?? defaults.timeZone,
  })
}

function makeCron(cron: string, timeZone: string | undefined): Cron {
  return new Cron(cron, { paused: true, mode: '5-part', ...(timeZone === undefined ? {} : { timezone: timeZone }) })
}

/** The cron expression for a schedule text; throws AppError CONFIG for an unknown shorthand. */
function toCron(text: string): string {
  const t = text.trim().replace(/\s+/g, ' ')
  const lower = t.toLowerCase()
  if (lower.startsWith('@')) {
    const cron = NICKNAMES[lower]
    if (cron === undefined) throw scheduleError(text, `"${t}" is not one of ${Object.keys(NICKNAMES).join(', ')}`)
    return cron
  }
  const words = lower.split(' ')
  const head = words[0]
  const rest = words.slice(1)
  switch (head) {
    case 'hourly': {
      if (rest.length === 0) return '0 * * * *'
      const m = rest.length === 1 ? /^:?(\d{1,2})$/.exec(rest[0]) : null
      if (!m || Number(m[1]) > 59) throw scheduleError(text, 'after "hourly" only a minute such as ":15" may follow')
      return `${Number(m[1])} * * * *`
    }
    case 'daily':
    case 'weekdays':
    case 'weekends': {
      if (rest.length > 1) throw scheduleError(text, `after "${head}" only a time such as "02:30" may follow`)
      const [h, m] = rest.length === 1 ? parseTime(text, rest[0]) : [0, 0]
      const dow = head === 'daily' ? '*' : head === 'weekdays' ? '1-5' : '0,6'
      return `${m} ${h} * * ${dow}`
    }
    case 'weekly': {
      let days = '0'
      let time: [number, number] = [0, 0]
      for (const w of rest) {
        if (/\d:\d/.test(w)) time = parseTime(text, w)
        else days = parseDays(text, w)
      }
      if (rest.length > 2) throw scheduleError(text, 'write "weekly [DAY] [HH:MM]", e.g. "weekly sun 03:00"')
      return `${time[1]} ${time[0]} * * ${days}`
    }
    case 'monthly': {
      let day = '1'
      let time: [number, number] = [0, 0]
      for (const w of rest) {
        if (/\d:\d/.test(w)) time = parseTime(text, w)
        else day = parseMonthDay(text, w)
      }
      if (rest.length > 2) throw scheduleError(text, 'write "monthly [DAY|last] [HH:MM]", e.g. "monthly 1 04:00"')
      return `${time[1]} ${time[0]} ${day} * *`
    }
    case 'every':
      return everyToCron(text, rest.join(''))
  }
  if (words.length === 5) return words.join(' ')
  if (words.length === 6 || words.length === 7) {
    throw scheduleError(text, `it has ${words.length} fields; cairn schedules have 5 (minute hour day month weekday), without seconds or years`)
  }
  if (/^[\d*/,\- a-z#?]+$/.test(lower) && /[\d*]/.test(head)) {
    throw scheduleError(text, `a cron expression needs 5 fields (minute hour day month weekday), this one has ${words.length}`)
  }
  throw scheduleError(text, `"${words[0]}" is not a known shorthand (hourly, daily, weekdays, weekends, weekly, monthly, every, @daily, ...)`)
}

function parseTime(text: string, word: string): [number, number] {
  const m = /^(\d{1,2}):(\d{2})$/.exec(word)
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) {
    throw scheduleError(text, `"${word}" is not a time of day; write HH:MM from 00:00 to 23:59`)
  }
  return [Number(m[1]), Number(m[2])]
}

function parseDays(text: string, word: string): string {
  const out: number[] = []
  for (const part of word.split(',')) {
    const range = part.split('-')
    const nums = range.map((d) => DAYS[d])
    if (range.length > 2 || nums.some((n) => n === undefined)) {
      throw scheduleError(text, `"${word}" is not a day of the week; write sun, mon, tue, wed, thu, fri or sat (lists like mon,thu allowed)`)
    }
    if (nums.length === 2) out.push(...rangeOf(nums[0], nums[1]))
    else out.push(nums[0])
  }
  return [...new Set(out)].sort((a, b) => a - b).join(',')
}

function rangeOf(a: number, b: number): number[] {
  const r: number[] = []
  for (let d = a; ; d = (d + 1) % 7) {
    r.push(d)
    if (d === b) return r
  }
}

function parseMonthDay(text: string, word: string): string {
  if (word === 'last') return 'L'
  const n = /^\d{1,2}$/.test(word) ? Number(word) : NaN
  if (n >= 29 && n <= 31) {
    throw scheduleError(text, `day ${n} does not exist in every month; write "monthly last" for the last day of each month, or a cron expression "0 0 ${n} * *" to skip shorter months`)
  }
  if (!(n >= 1 && n <= 28)) throw scheduleError(text, `"${word}" is not a day of the month; write 1 to 28 or "last"`)
  return String(n)
}

function everyToCron(text: string, amount: string): string {
  const m = /^(\d+)(m|min|mins|minutes?|h|hours?|d|days?)$/.exec(amount)
  if (!m) throw scheduleError(text, 'write "every" with a number of minutes or hours, e.g. "every 15m" or "every 6h"')
  const n = Number(m[1])
  const unit = m[2][0]
  if (unit === 'm') {
    if (n === 60) return '0 * * * *'
    if (n < 1 || 60 % n !== 0) throw scheduleError(text, `${n} minutes does not divide an hour; use 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60 minutes`)
    return `*/${n} * * * *`
  }
  if (unit === 'h') {
    if (n === 24) return '0 0 * * *'
    if (n < 1 || 24 % n !== 0) throw scheduleError(text, `${n} hours does not divide a day; use 1, 2, 3, 4, 6, 8, 12 or 24 hours`)
    return n === 1 ? '0 * * * *' : `0 */${n} * * *`
  }
  if (n !== 1) throw scheduleError(text, 'only "every 1d" is supported in days; use "weekly" or a cron expression for longer periods')
  return '0 0 * * *'
}

function checkTimeZone(zone: string, text: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
  } catch {
    throw new AppError('CONFIG', `Invalid time zone "${zone}" for schedule "${text}"`, {
      hint: 'Use an IANA zone name such as "Europe/Berlin", "America/New_York" or "UTC"',
    })
  }
}

function cronDetail(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err)
  return msg.replace(/^CronPattern:\s*/, '').replace(/\.$/, '')
}

function scheduleError(text: string, detail: string): AppError {
  return new AppError('CONFIG', `Invalid schedule "${text}": ${detail}`, { hint: EXAMPLES_HINT })
}

function durationError(text: string): AppError {
  return new AppError('CONFIG', `Invalid duration "${text}"`, {
    hint: 'Write a number with a unit: ms, s, m, h, d or w, e.g. "90s", "15m", "1h30m", "7d"',
  })
}
