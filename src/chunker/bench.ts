/**
 * Chunker throughput on 256 MiB of pseudo-random data, fed in 8 MiB blocks, for the default
 * (WebAssembly) path, the same on a scan buffer (as backup reads large files: no copy into the
 * chunker's memory), and the JS reference path.
 * Run: node dist/src/chunker/bench.js [MiB]
 */
import { randomFillSync } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { createChunker, createJsChunker, type Chunker } from './chunker.js'
import { createScanBuffer } from './wasm-scanner.js'

const MiB = 1024 * 1024
const BLOCK = 8 * MiB
const POLYNOMIAL = 0x3da3358b4dc173n

function chunkAll(c: Chunker, data: Uint8Array): number {
  let chunks = 0
  for (let off = 0; off < data.length; off += BLOCK) {
    const end = Math.min(data.length, off + BLOCK)
    for (let pos = off; ; chunks++) {
      const split = c.nextSplitPoint(data, pos, end)
      if (split < 0) break
      pos = split
    }
  }
  return chunks + 1
}

function measure(name: string, create: () => Chunker, data: Uint8Array, rounds: number): void {
  let best = Infinity
  let bestCpu = Infinity
  let chunks = 0
  for (let r = 0; r < rounds; r++) {
    const cpu = process.cpuUsage()
    const t = performance.now()
    chunks = chunkAll(create(), data)
    best = Math.min(best, performance.now() - t)
    bestCpu = Math.min(bestCpu, process.cpuUsage(cpu).user / 1000)
  }
  const mib = data.length / MiB
  const rate = (ms: number) => ((mib / ms) * 1000).toFixed(0)
  console.log(`${name.padEnd(16)} ${rate(best).padStart(5)} MiB/s wall, ${rate(bestCpu).padStart(5)} MiB/s CPU (best of ${rounds}; ${chunks} chunks)`)
}

export function main(args: string[] = process.argv.slice(2)): void {
  const size = Number(args[0] ?? 256) * MiB
  const data = randomFillSync(new Uint8Array(size))
  console.log(`chunking ${size / MiB} MiB of random data in ${BLOCK / MiB} MiB blocks`)
  measure('wasm', () => createChunker(POLYNOMIAL), data, 3)
  // As a backup reads large files: into a scan buffer, which the chunker scans where it lies.
  const ring = createScanBuffer(size)
  if (ring !== undefined) {
    ring.set(data)
    measure('wasm, in place', () => createChunker(POLYNOMIAL), ring, 3)
  }
  measure('js', () => createJsChunker(POLYNOMIAL), data, 3)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main()
