#!/usr/bin/env node
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
