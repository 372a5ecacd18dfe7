import { AppError } from './errors.js'

/**
 * Which packs `check --read-data-subset` reads, as restic 0.14 chooses them:
 * - `n/t`: group n of t (1 ≤ n ≤ t ≤ 256): the packs whose ID's first byte mod t is n − 1, so
 *   running 1/t … t/t reads every pack exactly once;
 * - `x%`: that share of the packs, at random (at least one);
 * - a size with its unit (`500M`, `2G`, `4096b`; b/k/m/g/t, powers of 1024): the same share of
 *   the packs as that size is of the repository, at random.
 */
export type ReadDataSubset =
  | { kind: 'group'; n: number; t: number }
  | { kind: 'percent'; percent: number }
  | { kind: 'size'; bytes: number }

const MAX_GROUPS = 256

function invalid(detail?: string): AppError {
  return new AppError('INVALID_ARGUMENT', `Invalid value for --read-data-subset${detail ? `: ${detail}` : ''}`, {
    hint: 'Give "n/t" (e.g. 1/5), a percentage (e.g. 10%), or a size (e.g. 500M)',
  })
}

/** Parses a --read-data-subset value; throws INVALID_ARGUMENT with restic's rules. */
export function parseReadDataSubset(text: string): ReadDataSubset {
  if (text.includes('/')) {
    const parts = text.split('/')
    if (parts.length !== 2 || !parts.every((p) => /^\d+$/.test(p))) throw invalid(`"${text}"`)
    const [n, t] = parts.map(Number)
    if (n === 0 || t === 0 || n > t) throw invalid(`in "n/t", n and t must be positive and n <= t (got "${text}")`)
    if (t > MAX_GROUPS) throw invalid(`in "n/t", t must be at most ${MAX_GROUPS} (got "${text}")`)
    return { kind: 'group', n, t }
  }
  if (text.endsWith('%')) {
    const num = text.slice(0, -1)
    if (!/^(\d+(\.\d*)?|\.\d+)$/.test(num)) throw invalid(`"${text}"`)
    const percent = Number(num)
    if (percent <= 0 || percent > 100) throw invalid(`the percentage must be above 0% and at most 100% (got "${text}")`)
    return { kind: 'percent', percent }
  }
  // A unit is required, as restic requires it: "1" more likely meant 1/t or 1% than one byte.
  const m = /^(\d+)([bkmgt])$/i.exec(text)
  if (m === null) throw invalid(`"${text}"`)
  const unit = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as 'b' | 'k' | 'm' | 'g' | 't']
  const bytes = Number(m[1]) * unit
  if (!Number.isSafeInteger(bytes)) throw invalid(`the size is too large (got "${text}")`)
  if (bytes <= 0) throw invalid(`the size must be above 0 (got "${text}")`)
  return { kind: 'size', bytes }
}
