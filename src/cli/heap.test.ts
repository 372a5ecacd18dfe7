import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'

// In a process of its own: the flag holds for the rest of the process it is set in.
function youngGenerationPeak(small: boolean): number {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8'
    import { Worker } from 'node:worker_threads'
    import { keepYoungGenerationSmall } from ${JSON.stringify(new URL('./heap.js', import.meta.url).href)}
    if (${small}) keepYoungGenerationSmall()
    // A command starts its worker threads after this: each new isolate resets V8's growth factor.
    const worker = new Worker('setTimeout(() => {}, 50)', { eval: true })
    await new Promise((resolve) => worker.once('online', resolve))
    // Objects that live through several young collections, as a restore's plan does.
    const window = new Array(200000)
    let peak = 0
    for (let i = 0; i < 3000000; i++) {
      window[i % window.length] = { i, name: 'file' + i }
      if (i % 10000 === 0) peak = Math.max(peak, getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size)
    }
    process.stdout.write(String(peak))
  `
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }))
}

test('keepYoungGenerationSmall stops the young generation from growing where it otherwise does, worker threads or not', () => {
  const MiB = 1024 * 1024
  const grown = youngGenerationPeak(false)
  const kept = youngGenerationPeak(true)
  assert.ok(grown >= 16 * MiB, `without it the young generation grows (got ${grown / MiB} MiB)`)
  assert.ok(kept <= 8 * MiB, `with it the young generation stays small (got ${kept / MiB} MiB)`)
})
