import { AppError } from '../base/index.js'

/**
 * The `-o prefix.key=value` options meant for one backend (restic's extended options). Each key
 * the backend knows has a parser from the option's text to its value; a parser throws
 * OptionValueError saying what it expected. Options of other backends are ignored; an unknown
 * key with this prefix, or a bad value, is an INVALID_ARGUMENT error naming the option, as restic
 * refuses unknown options. Absent options are absent from the result: defaults are the caller's.
 *
 * @example
 * parseBackendOptions('rest', { connections: wholeNumber(1, 1000) }, { 'rest.connections': '8', 's3.region': 'x' })
 * // → { connections: 8 }
 */
export function parseBackendOptions<P extends OptionParsers>(prefix: string, parsers: P, extended: Readonly<Record<string, string>> = {}): ParsedOptions<P> {
  const out: Record<string, unknown> = {}
  for (const [key, text] of Object.entries(extended)) {
    if (!key.startsWith(`${prefix}.`)) continue
    const name = key.slice(prefix.length + 1)
    if (!Object.hasOwn(parsers, name)) {
      const known = Object.keys(parsers).map((k) => `${prefix}.${k}`)
      throw new AppError('INVALID_ARGUMENT', `Unknown option "-o ${key}"`, { hint: `Options of this backend: ${known.join(', ')}` })
    }
    try {
      out[name] = parsers[name](text)
    } catch (err) {
      if (!(err instanceof OptionValueError)) throw err
      throw new AppError('INVALID_ARGUMENT', `Invalid option "-o ${key}=${text}": ${err.message}`)
    }
  }
  return out as ParsedOptions<P>
}

/** What a value parser throws: the message says what it expected ("expected a whole number …"). */
export class OptionValueError extends Error {}

export type OptionParsers = Readonly<Record<string, (text: string) => unknown>>
export type ParsedOptions<P extends OptionParsers> = { -readonly [K in keyof P]?: ReturnType<P[K]> }

/** Any text, as given. */
export function anyText(text: string): string {
  return text
}

/** Text that is not blank; `problem` says what is missing ("the path is empty"). */
export function nonBlank(problem: string): (text: string) => string {
  return (text) => {
    if (text.trim() === '') throw new OptionValueError(problem)
    return text
  }
}

/** A whole number from `min` to `max` (blanks around it are allowed). */
export function wholeNumber(min: number, max: number): (text: string) => number {
  return (text) => {
    const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN
    if (!(n >= min && n <= max)) throw new OptionValueError(`expected a whole number from ${min} to ${max}`)
    return n
  }
}
