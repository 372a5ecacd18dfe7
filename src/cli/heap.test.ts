import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'

// In a process of its own: the flag holds for the rest of the process it is set in.
function youngGenerationPeak(mode: 'grow' | 'small' | 'cap'): number {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8'
    import { Worker } from 'node:worker_threads'
    import { capYoungGeneration, keepYoungGenerationSmall } from ${JSON.stringify(new URL('./heap.js', import.meta.url).href)}
    if (${JSON.stringify(mode)} === 'small') keepYoungGenerationSmall()
    if (${JSON.stringify(mode)} === 'cap') capYoungGeneration(8 * 1024 * 1024)
    // A command starts its worker threads after this: each new isolate resets V8's growth factor.
    const worker = new Worker('setTimeout(() => {}, 50)', { eval: true })
    await new Promise((resolve) => worker.once('online', resolve))
    // Objects that live through several young collections, as a restore's plan does.
    const window = new Array(200000)
    let peak = 0
    // In short tasks, as a command's main thread runs, so that the cap gets to look between them.
    for (let i = 0; i < 3000000; i++) {
      window[i % window.length] = { i, name: 'file' + i }
      if (i % 10000 === 0) {
        peak = Math.max(peak, getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size)
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    process.stdout.write(String(peak))
  `
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }))
}

test('keepYoungGenerationSmall stops the young generation from growing where it otherwise does, worker threads or not', () => {
  const MiB = 1024 * 1024
  const grown = youngGenerationPeak('grow')
  const kept = youngGenerationPeak('small')
  assert.ok(grown >= 16 * MiB, `without it the young generation grows (got ${grown / MiB} MiB)`)
  assert.ok(kept <= 8 * MiB, `with it the young generation stays small (got ${kept / MiB} MiB)`)
})

test('capYoungGeneration lets the young generation grow up to its limit and no further, worker threads or not', () => {
  const MiB = 1024 * 1024
  const capped = youngGenerationPeak('cap')
  assert.equal(capped, 8 * MiB, `it grows to the limit and stops there (got ${capped / MiB} MiB)`)
})
