/** Sizes for people: binary units, as restic prints them. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/**
 * A byte count in binary units. `digits` is the number of decimals above bytes; 'short' gives
 * 2 below 10 and 1 above ("1.50 GiB", "512.0 MiB"), for one-line messages.
 *
 * @example
 * formatBytes(1536) // → '1.500 KiB' (restic's three decimals)
 * formatBytes(1536, 'short') // → '1.50 KiB'
 * formatBytes(512) // → '512 B'
 */
export function formatBytes(n: number, digits: number | 'short' = 3): string {
  let v = n
  let i = 0
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024
    i++
  }
  if (i === 0) return `${n} B`
  return `${v.toFixed(digits === 'short' ? (v < 10 ? 2 : 1) : digits)} ${UNITS[i]}`
}

/** Resolves to the outcome of `p` instead of rejecting, so work started ahead of its consumer never goes unhandled. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown }

export function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  )
}
