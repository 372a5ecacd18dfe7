/**
 * Byte sizes in options and the users file: a plain number of bytes (`1073741824`, as
 * rest-server's --max-size takes) or a number with a binary unit (`500M`, `10GiB`, `1.5T`).
 */
const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }

/**
 * Parses a size; throws RangeError naming the value for anything else.
 *
 * @example
 * parseByteSize('10GiB') // → 10737418240
 */
export function parseByteSize(text: string | number): number {
  if (typeof text === 'number') {
    if (Number.isSafeInteger(text) && text >= 0) return text
    throw new RangeError(`Invalid size ${text}: expected a whole number of bytes, 0 or more`)
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(text)
  if (!m) throw new RangeError(`Invalid size "${text}": use a number of bytes, or a number with a unit K, M, G, T (powers of 1024), e.g. 500M or 10GiB`)
  const n = Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()])
  if (!Number.isSafeInteger(n)) throw new RangeError(`Invalid size "${text}": too large`)
  return n
}
