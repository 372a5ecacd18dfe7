import { AppError } from '../base/index.js'

/**
 * Option helpers. restic's list flags (--tag, --exclude, --host, …) take one value per flag and are
 * repeated; commander's variadic `<x...>` would swallow the positional arguments that follow, so
 * list options collect repeated single values instead.
 */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/**
 * restic's `-o key=value` extended options as a record. A pair without `=` is an error that
 * names it, as restic's is.
 */
export function parseExtendedOptions(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new AppError('INVALID_ARGUMENT', `Invalid option "${pair}": expected key=value`, { hint: 'Write for example -o sftp.command="ssh -p 2222 host -s sftp"' })
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1)
  }
  return out
}

/** A non-negative integer option value (KiB/s, counts); commander hands us the raw string. */
export function nonNegativeInt(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 0) throw new AppError('INVALID_ARGUMENT', `Invalid value "${value}" for ${name}: expected a whole number, 0 or more`)
    return n
  }
}

/**
 * A parser for a Go duration flag (`30s`, `5m`, `1h30m`, `1.5h`, `0`), as restic's take them;
 * gives milliseconds.
 */
export function goDuration(name: string): (value: string) => number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 }
  return (value) => {
    if (value === '0') return 0
    const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)]
    if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) {
      throw new AppError('INVALID_ARGUMENT', `Invalid value "${value}" for ${name}: expected a duration such as 30s, 5m or 1h30m`)
    }
    return Math.round(parts.reduce((ms, p) => ms + Number(p[1]) * units[p[2]], 0))
  }
}
