#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8'

// Until the command line has loaded (a few tenths of a second) and set its own handlers, Ctrl-C
// and SIGTERM end the run as they do later, with exit code 130; no lock is held yet.
const early = () => {
  process.stderr.write('Fatal: Interrupted\n')
  process.exit(130)
}
process.on('SIGINT', early)
process.on('SIGTERM', early)
process.on('SIGHUP', () => {})

// V8 lets the heap grow to up to four times what survived its last full collection before it
// collects again: with cairn's short-lived objects that is 30 to 70 MiB of garbage at the peak
// of a restore, an incremental backup or a check. Half as much again as survived is enough
// (the flag is read at each collection): peak memory 10-25% lower, CPU within a few per cent.
setFlagsFromString('--heap-growing-percent=50')
// More libuv threads: creating and stat-ing many files is latency-bound on most file systems.
process.env.UV_THREADPOOL_SIZE ??= '16'
// The key derivation (scrypt, about 0.4 s on the thread pool) starts before the rest of the
// program loads, so that the two overlap; the command finds the key derived.
try {
  const { startKeyDerivationEarly } = await import('../dist/src/app/early-key.js')
  startKeyDerivationEarly(process.argv.slice(2), process.env)
} catch {
  // only a head start: the command derives the key itself
}
await import('../dist/src/cli/main.js')
