import { AppError } from '../../base/index.js'
import { anyText, nonBlank, OptionValueError, parseBackendOptions, wholeNumber } from '../options.js'

/** restic's defaults (restic-format.md §7.4). */
export const DEFAULT_PROGRAM = 'rclone'
export const DEFAULT_ARGS = 'serve restic --stdio --b2-hard-delete'
export const DEFAULT_TIMEOUT_MS = 60_000

/** `-o rclone.*` options, as restic names them. */
export const RCLONE_OPTIONS = {
  /** The program, split like a shell word list (`rclone.program="ssh host rclone"` works). */
  program: nonBlank('expected a program'),
  /** Arguments before the remote; they replace the defaults. */
  args: anyText,
  /** How long rclone may take to answer its first request, as a Go duration (`1m`, `30s`). */
  timeout: (text: string): number => {
    const ms = parseGoDuration(text)
    if (ms === undefined || ms <= 0) throw new OptionValueError('expected a duration such as "1m", "30s" or "1m30s"')
    return ms
  },
  /** Requests in flight at once; restic's default is 5. */
  connections: wholeNumber(1, 1000),
}

/** The command to run and how to talk to it. */
export interface RcloneConfig {
  /** argv[0]. */
  program: string
  /** The arguments, the remote last. */
  args: string[]
  timeoutMs: number
  connections: number
}

/**
 * The rclone settings for `rclone:<remote>`: like restic, the command is the program's words,
 * then the args' words (default `serve restic --stdio --b2-hard-delete`), then the remote.
 *
 * @example
 * rcloneConfig('b2:bucket/repo', { 'rclone.args': 'serve restic --stdio -v' })
 * // → { program: 'rclone', args: ['serve', 'restic', '--stdio', '-v', 'b2:bucket/repo'], timeoutMs: 60000, connections: 5 }
 */
export function rcloneConfig(remote: string, extended: Readonly<Record<string, string>> | undefined): RcloneConfig {
  const o = parseBackendOptions('rclone', RCLONE_OPTIONS, extended)
  const program = splitWords(o.program ?? DEFAULT_PROGRAM, 'rclone.program')
  if (program.length === 0) throw new AppError('INVALID_ARGUMENT', 'Invalid option "-o rclone.program=": expected a program')
  return {
    program: program[0],
    args: [...program.slice(1), ...splitWords(o.args ?? DEFAULT_ARGS, 'rclone.args'), remote],
    timeoutMs: o.timeout ?? DEFAULT_TIMEOUT_MS,
    connections: o.connections ?? 5,
  }
}

/**
 * Splits a command line into words as a POSIX shell would without expansions: blanks separate
 * words, '…' and "…" quote (a quoted part joins the word it touches), and a backslash escapes the
 * next character outside single quotes.
 *
 * @example
 * splitWords(`serve restic --stdio --config "/my dir/rclone.conf"`, 'rclone.args')
 * // → ['serve', 'restic', '--stdio', '--config', '/my dir/rclone.conf']
 */
export function splitWords(s: string, option: string): string[] {
  const words: string[] = []
  let word: string | undefined
  let quote: "'" | '"' | undefined
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (quote === "'") {
      if (c === "'") quote = undefined
      else word += c
    } else if (quote === '"') {
      if (c === '"') quote = undefined
      else if (c === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) word += s[++i]
      else word += c
    } else if (c === "'" || c === '"') {
      quote = c
      word ??= ''
    } else if (c === '\\' && i + 1 < s.length) {
      word = (word ?? '') + s[++i]
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word)
      word = undefined
    } else {
      word = (word ?? '') + c
    }
  }
  if (quote !== undefined) {
    throw new AppError('INVALID_ARGUMENT', `Invalid option "-o ${option}=${s}": a ${quote === "'" ? 'single' : 'double'}-quoted string is not closed`)
  }
  if (word !== undefined) words.push(word)
  return words
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * A Go duration (`1m`, `90s`, `1h30m`, `1.5s`, `500ms`) in milliseconds, or undefined when
 * malformed. `0` alone is 0.
 *
 * @example
 * parseGoDuration('1m30s') // → 90000
 */
export function parseGoDuration(s: string): number | undefined {
  if (s === '0') return 0
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y
  let ms = 0
  let pos = 0
  while (pos < s.length) {
    re.lastIndex = pos
    const m = re.exec(s)
    if (m === null) return undefined
    ms += Number(m[1]) * UNIT_MS[m[2]]
    pos = re.lastIndex
  }
  return pos === 0 ? undefined : ms
}
