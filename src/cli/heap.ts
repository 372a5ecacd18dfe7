import { PerformanceObserver } from 'node:perf_hooks'
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8'

const FACTOR_ONE = '--semi-space-growth-factor=1'
const MiB = 1024 * 1024

/**
 * Keeps the main thread's young generation at the size V8 starts it with (a few MiB) instead of
 * letting it double up to 32 MiB. For the rest of the process: call it only in a command that
 * does nothing else, before it opens the repository.
 *
 * V8 doubles the young generation whenever as many bytes survived collections since the last
 * doubling as it holds, which any long run reaches. A restore or check keeps what it plans
 * (trees, files, blobs) only for a while, and its main thread waits on its workers most of the
 * time, so the extra collections cost nothing visible. Measured on the Linux source tree (paired
 * runs): restore 19 MiB and `check --read-data` 33 MiB lower at the peak, wall time within
 * 1.5%. A backup is different: its main thread walks, stats and packs, and collecting that often
 * cost it 16% of its wall time.
 *
 * The flag is read each time V8 would grow the space, so it takes effect when set at run time.
 * But it is one flag for the whole process, and each new isolate (a worker thread starting)
 * raises it back to V8's minimum of 2: so it is set again once each worker is running. Workers
 * then keep small young generations too, which suits them: what they allocate dies at once.
 */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString(FACTOR_ONE)
  holdFactorOneAcrossWorkers()
}

/**
 * Lets the main thread's young generation grow as V8 would, but no further than `limit` bytes
 * (its two halves together): for a backup, whose main thread walks, stats and packs all along
 * (`backup`, `run`, and the daemon, which runs backups in its own process).
 * Kept at V8's start size, its collections cost a first backup of the Linux source tree 12% of
 * its wall time; left to grow, it reaches 32 MiB. Held at 16 MiB (11 paired runs there): peak RSS
 * 190-199 against 209-214 MiB, wall time within 1%; a backup with nothing changed and one of six
 * large files are unchanged in both.
 *
 * V8 has no run-time setting for the size itself, only for its growth: this looks at the size
 * after each collection (once the thread's current task ends) and stops the growth once it has
 * reached `limit`, from then on as keepYoungGenerationSmall does. The next doubling needs as many
 * bytes to survive collections as the young generation holds, which takes many tasks. Worker
 * threads keep the young generation their resource limits give.
 */
export function capYoungGeneration(limit = 16 * MiB): void {
  const observer = new PerformanceObserver(() => {
    const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')
    if (young === undefined || young.space_size < limit) return
    observer.disconnect()
    keepYoungGenerationSmall()
  })
  observer.observe({ entryTypes: ['gc'] })
}

let holding = false

function holdFactorOneAcrossWorkers(): void {
  if (holding) return
  holding = true
  process.on('worker', (worker) => {
    // The worker's isolate is made on its own thread, some milliseconds from now.
    const again = setInterval(() => setFlagsFromString(FACTOR_ONE), 1)
    worker.once('online', () => {
      clearInterval(again)
      setFlagsFromString(FACTOR_ONE)
    })
    worker.once('exit', () => clearInterval(again))
  })
}
