/**
 * One process-wide instance of the wasm scan loop, shared by every chunker. Scans are synchronous
 * and a chunker copies its whole state in and out around each one, so sharing is safe. That keeps
 * a chunker small: the archiver may create one per file.
 */
import { polyMod } from './polynomial.js'
import { tablesFor } from './tables.js'
import {
  DATA, DIGEST, HISTORY, scanModuleBytes, SLICE, TABLE_M0, TABLE_M1, TABLE_O0, TABLE_O1, TABLES_SIZE,
} from './wasm-module.js'

export { DATA, HISTORY, SLICE }

export interface WasmScanner {
  /** The module's memory: HISTORY…DATA holds the window, DATA… the bytes to scan. */
  readonly memory: Uint8Array
  /** Makes `pol` the polynomial of the next scans. */
  usePolynomial(pol: bigint): void
  setDigest(hi: number, lo: number): void
  digestHi(): number
  digestLo(): number
  /** See wasm-module.ts: returns the address reached, negated when the last byte scanned is a cut. */
  scan(p: number, stop: number): number
}

let scanner: WasmScanner | null | undefined
const tableImages = new Map<bigint, Uint8Array>()

/** The shared scanner, or null where WebAssembly is unavailable (e.g. node --jitless). */
export function wasmScanner(): WasmScanner | null {
  if (scanner === undefined) scanner = instantiate()
  return scanner
}

// The project's type libraries leave out WebAssembly (it comes with the DOM lib); this is the part used.
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports?: object) => { exports: Record<string, unknown> }
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => { buffer: ArrayBufferLike }
}

/**
 * A buffer to read data into that the chunker scans where it lies: `SCAN_BUFFER_OFFSET` bytes
 * into the shared memory of a scanner of its own (whose tables and digest come first). The
 * chunker recognises it (see scannerOf) and skips copying each slice into its memory, which
 * for a backup of large files is a copy of every byte read. Undefined where shared WebAssembly
 * memory is unavailable.
 */
export function createScanBuffer(size: number): Buffer | undefined {
  const api = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly
  if (api === undefined) return undefined
  const pages = Math.ceil((DATA + size) / 65536)
  try {
    const memory = new api.Memory({ initial: pages, maximum: pages, shared: true })
    const module = (sharedModules.get(pages) ?? sharedModules.set(pages, new api.Module(scanModuleBytes(pages))).get(pages))!
    const exports = new api.Instance(module, { env: { memory } }).exports
    const scanner = scannerOver(exports, memory.buffer)
    ringScanners.set(memory.buffer, scanner)
    return Buffer.from(memory.buffer, DATA, size)
  } catch {
    return undefined
  }
}

/** The scanner whose memory `buf` lies in (a buffer from createScanBuffer), if any. */
export function scannerOf(buf: Uint8Array): WasmScanner | undefined {
  return ringScanners.get(buf.buffer)
}

const ringScanners = new WeakMap<ArrayBufferLike, WasmScanner>()
const sharedModules = new Map<number, object>()

function instantiate(): WasmScanner | null {
  const api = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly
  if (api === undefined) return null
  let exports: Record<string, unknown>
  try {
    exports = new api.Instance(new api.Module(scanModuleBytes())).exports
  } catch {
    return null
  }
  return scannerOver(exports, (exports.memory as { buffer: ArrayBuffer }).buffer)
}

function scannerOver(exports: Record<string, unknown>, buffer: ArrayBufferLike): WasmScanner {
  const memory = new Uint8Array(buffer)
  const view = new DataView(memory.buffer)
  const scan = exports.scan as (p: number, stop: number) => number
  let current: bigint | undefined
  return {
    memory,
    usePolynomial(pol) {
      if (current === pol) return
      memory.set(tableImage(pol), 0)
      current = pol
    },
    setDigest(hi, lo) {
      view.setInt32(DIGEST, lo, true)
      view.setInt32(DIGEST + 4, hi, true)
    },
    digestHi: () => view.getInt32(DIGEST + 4, true),
    digestLo: () => view.getInt32(DIGEST, true),
    scan,
  }
}

/** The four 64-bit tables of wasm-module.ts for `pol`, little-endian, ready to copy to offset 0. */
function tableImage(pol: bigint): Uint8Array {
  let image = tableImages.get(pol)
  if (image !== undefined) return image
  const { outHi, outLo } = tablesFor(pol)
  image = new Uint8Array(TABLES_SIZE)
  const view = new DataView(image.buffer)
  for (let t = 0; t < 256; t++) {
    const out = (BigInt(outHi[t]) << 32n) | BigInt(outLo[t] >>> 0)
    const bt = BigInt(t)
    view.setBigUint64(TABLE_O0 + 8 * t, polyMod(out << 8n, pol), true)
    view.setBigUint64(TABLE_O1 + 8 * t, polyMod(out << 16n, pol), true)
    view.setBigUint64(TABLE_M0 + 8 * t, polyMod(bt << 53n, pol) | (bt << 53n), true)
    view.setBigUint64(TABLE_M1 + 8 * t, BigInt.asUintN(64, polyMod(bt << 61n, pol) | (bt << 61n)), true)
  }
  tableImages.set(pol, image)
  return image
}
