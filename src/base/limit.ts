/**
 * A concurrency limit: `run(fn)` starts fn when fewer than `n` are running.
 *
 * @example
 * const limit = createLimit(4)
 * await Promise.all(items.map((x) => limit(() => work(x))))
 */
export function createLimit(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  if (!(n >= 1)) throw new RangeError(`Concurrency limit must be at least 1, got ${n}`)
  let active = 0
  const waiting: Array<() => void> = []
  const next = () => {
    active--
    const w = waiting.shift()
    if (w) w()
  }
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve))
    active++
    try {
      return await fn()
    } finally {
      next()
    }
  }
}
