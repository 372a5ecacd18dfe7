/**
 * Waits until `check()` holds (it may return a promise), polling every 10 ms; fails naming
 * `what` after `timeoutMs`. For tests that wait for a sign of what they test rather than sleep.
 */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const start = Date.now()
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
