#!/usr/bin/env node
// More libuv threads: creating and stat-ing many files is latency-bound on most file systems.
process.env.UV_THREADPOOL_SIZE ??= '16'
await import('../dist/src/cli/main.js')
