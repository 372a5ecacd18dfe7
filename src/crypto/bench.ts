import { createCipheriv, randomBytes } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { newMasterKey, open, seal, sealInto, CRYPTO_OVERHEAD } from './index.js'

/**
 * Throughput of seal, sealInto and open for typical blob sizes. Not a test: run it by hand after
 * building, e.g. `node dist/src/crypto/bench.js`. The `aes-ctr` row is Node's bare AES-256-CTR
 * (new cipher + one update) measured in the same run: the ceiling our seal/open can reach, and a
 * yardstick when the machine is busy.
 */

interface Result {
  op: string
  size: number
  /** Median over the rounds, in MB/s (10^6 bytes per second). */
  mbPerSec: number
  /** Best round, in MB/s. */
  bestMbPerSec: number
}

const ROUNDS = 9

function measure(op: string, size: number, fn: () => void): Result {
  // Each round processes about 16 MiB (at least 50 calls); the median round resists noisy neighbours.
  const calls = Math.max(50, Math.floor((16 << 20) / size))
  for (let i = 0; i < Math.min(calls, 100); i++) fn()
  const rates: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) fn()
    const ns = Number(process.hrtime.bigint() - start)
    rates.push(((size * calls) / ns) * 1e3)
  }
  rates.sort((a, b) => a - b)
  return { op, size, mbPerSec: rates[ROUNDS >> 1], bestMbPerSec: rates[ROUNDS - 1] }
}

export function main(): Result[] {
  const key = newMasterKey()
  const results: Result[] = []
  for (const size of [1 << 20, 4 << 10]) {
    const plaintext = randomBytes(size)
    const sealed = seal(key, plaintext)
    const out = Buffer.allocUnsafe(size + CRYPTO_OVERHEAD)
    results.push(measure('aes-ctr', size, () => createCipheriv('aes-256-ctr', key.encrypt, sealed.subarray(0, 16)).update(plaintext)))
    results.push(measure('seal', size, () => seal(key, plaintext)))
    results.push(measure('sealInto', size, () => sealInto(key, plaintext, out, 0)))
    results.push(measure('open', size, () => open(key, sealed)))
  }
  for (const r of results) {
    const label = r.size >= 1 << 20 ? `${r.size >> 20} MiB` : `${r.size >> 10} KiB`
    const usPerOp = r.size / r.mbPerSec
    console.log(
      `${r.op.padEnd(9)} ${label.padStart(6)}  ${r.mbPerSec.toFixed(0).padStart(5)} MB/s median` +
        `  ${r.bestMbPerSec.toFixed(0).padStart(5)} MB/s best  ${usPerOp.toFixed(1).padStart(7)} µs/op`,
    )
  }
  return results
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main()
