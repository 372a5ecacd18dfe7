/**
 * The chunker's hot loop as a hand-written WebAssembly module, assembled from the instruction list
 * below when first needed (no toolchain, no binary blob in the repository).
 *
 * Why WebAssembly: the digest is a 53-bit value. JS bit operators are 32-bit, so JS has to carry it
 * as two halves; wasm has i64 and, with the two-byte rounds below, runs 2–3 times faster.
 *
 * Why two bytes per round (four per round measured no faster: the extra loads cost what the
 * shorter chain saves): one restic step (D' = D·x^8 + b − out·x^512 mod P) is a chain of shift →
 * table load → XOR, and that latency bounds the speed. By linearity, two steps can be written as
 *   D'' = (D << 16) ^ M1[D >> 45] ^ M0[(D >> 37) & 255] ^ O1[o1] ^ O0[o2] ^ (b1 << 8 | b2)
 * (o = bytes leaving the window, b = bytes entering). The two loads run in parallel, so the chain
 * is paid once per two bytes. The intermediate D' is still computed for its cut test, but nothing
 * waits on it.
 *   M0[t] = (t·x^53 mod P) | t·x^53   (restic's mod table: the high part clears what << 8 overflows)
 *   M1[t] = (t·x^61 mod P) | t·x^61   (truncated to 64 bits; with M0[c] it clears what << 16 overflows)
 *   O0[o] = out[o]·x^8 mod P,  O1[o] = out[o]·x^16 mod P   (slide-out, already advanced by 1 or 2 bytes)
 *
 * Memory layout: the tables O0, M0, M1, O1 (2 KiB each) from 0, the digest (i64) at DIGEST, the
 * window's 64 bytes at HISTORY, immediately followed by up to SLICE bytes to scan at DATA.
 * scan(p, stop): p is the address of the byte leaving the window; the byte entering is at p + 64.
 * It processes bytes until p reaches stop and returns p, or stops after the first byte whose
 * digest has its low 20 bits zero and returns −p (p then already points past that byte's partner).
 * The digest is read from and written back to DIGEST.
 */

export const TABLE_O0 = 0
export const TABLE_M0 = 2048
export const TABLE_M1 = 4096
export const TABLE_O1 = 6144
export const TABLES_SIZE = 8192
export const DIGEST = 8192
export const DATA = 16384
export const HISTORY = DATA - 64
export const SLICE = 1024 * 1024
const PAGES = Math.ceil((DATA + SLICE) / 65536)

const I32 = 0x7f
const I64 = 0x7e
const EMPTY = 0x40 // block type with no result

function uleb(n: number): number[] {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n !== 0) b |= 0x80
    out.push(b)
  } while (n !== 0)
  return out
}

function sleb(n: number): number[] {
  const out: number[] = []
  for (;;) {
    const b = n & 0x7f
    n >>= 7
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b]
    out.push(b | 0x80)
  }
}

// The instructions used, named as in the text format.
const block = [0x02, EMPTY]
const loop = [0x03, EMPTY]
const if_ = [0x04, EMPTY]
const end = [0x0b]
const br = (depth: number) => [0x0c, depth]
const brIf = (depth: number) => [0x0d, depth]
const return_ = [0x0f]
const get = (local: number) => [0x20, local]
const set = (local: number) => [0x21, local]
const tee = (local: number) => [0x22, local]
const i32Load8u = (offset: number) => [0x2d, 0, ...uleb(offset)]
const i64Load = (offset: number) => [0x29, 3, ...uleb(offset)]
const i64Store = (offset: number) => [0x37, 3, ...uleb(offset)]
const i32Const = (v: number) => [0x41, ...sleb(v)]
const i64Const = (v: number) => [0x42, ...sleb(v)]
const i32GeU = [0x4f]
const i64Eqz = [0x50]
const i32Add = [0x6a]
const i32Sub = [0x6b]
const i32And = [0x71]
const i32Or = [0x72]
const i32Shl = [0x74]
const i64And = [0x83]
const i64Or = [0x84]
const i64Xor = [0x85]
const i64Shl = [0x86]
const i64ShrU = [0x88]
const i32WrapI64 = [0xa7]
const i64ExtendI32U = [0xad]

// Locals: parameters first.
const P = 0 // i32: address of the byte leaving the window
const STOP = 1 // i32
const D = 2 // i64: digest
const D1 = 3 // i64: digest after the first byte of a pair
const A = 4 // i32: 8 × (D >> 45)
const C = 5 // i32: 8 × ((D >> 37) & 255)
const O = 6 // i32: 8 × first leaving byte

const SPLIT_MASK = 0xfffff
const isCut = (local: number) => [...get(local), ...i64Const(SPLIT_MASK), ...i64And, ...i64Eqz]
const advance = (n: number) => [...get(P), ...i32Const(n), ...i32Add, ...set(P)]

/** One restic step from D: (D << 8 | in) ^ M0[D >> 45] ^ O0[out]; leaves the new digest on the stack. */
const oneStep = [
  ...get(D), ...i64Const(8), ...i64Shl, ...get(P), ...i32Load8u(64), ...i64ExtendI32U, ...i64Or,
  ...get(D), ...i64Const(45), ...i64ShrU, ...i32WrapI64, ...i32Const(3), ...i32Shl, ...i64Load(TABLE_M0), ...i64Xor,
  ...get(P), ...i32Load8u(0), ...i32Const(3), ...i32Shl, ...i64Load(TABLE_O0), ...i64Xor,
]

const body = [
  ...i32Const(0), ...i64Load(DIGEST), ...set(D),
  ...block, // $cut
  ...block, // $pairsDone
  ...loop, // $pairs
  // while at least two bytes remain
  ...get(P), ...i32Const(1), ...i32Add, ...get(STOP), ...i32GeU, ...brIf(1),
  ...get(D), ...i64Const(45), ...i64ShrU, ...i32WrapI64, ...i32Const(3), ...i32Shl, ...set(A),
  ...get(D), ...i64Const(37), ...i64ShrU, ...i32WrapI64, ...i32Const(255), ...i32And, ...i32Const(3), ...i32Shl, ...set(C),
  ...get(P), ...i32Load8u(0), ...i32Const(3), ...i32Shl, ...set(O),
  // D1 = (D << 8 | b1) ^ M0[a] ^ O0[o1]: only its cut test needs it
  ...get(D), ...i64Const(8), ...i64Shl, ...get(P), ...i32Load8u(64), ...i64ExtendI32U, ...i64Or,
  ...get(A), ...i64Load(TABLE_M0), ...i64Xor,
  ...get(O), ...i64Load(TABLE_O0), ...i64Xor,
  ...tee(D1),
  ...i64Const(SPLIT_MASK), ...i64And, ...i64Eqz,
  ...if_,
  ...get(D1), ...set(D), ...advance(1), ...br(3), // to $cut
  ...end,
  // D = (D << 16) ^ M1[a] ^ M0[c] ^ O1[o1] ^ O0[o2] ^ (b1 << 8 | b2)
  ...get(D), ...i64Const(16), ...i64Shl,
  ...get(A), ...i64Load(TABLE_M1), ...i64Xor,
  ...get(C), ...i64Load(TABLE_M0), ...i64Xor,
  ...get(O), ...i64Load(TABLE_O1), ...i64Xor,
  ...get(P), ...i32Load8u(1), ...i32Const(3), ...i32Shl, ...i64Load(TABLE_O0), ...i64Xor,
  ...get(P), ...i32Load8u(64), ...i32Const(8), ...i32Shl, ...get(P), ...i32Load8u(65), ...i32Or, ...i64ExtendI32U, ...i64Xor,
  ...set(D),
  ...advance(2),
  ...isCut(D), ...brIf(2), // to $cut
  ...br(0), // to $pairs
  ...end, // loop
  ...end, // $pairsDone
  // at most one byte left
  ...block, // $done
  ...get(P), ...get(STOP), ...i32GeU, ...brIf(0),
  ...oneStep, ...set(D),
  ...advance(1),
  ...isCut(D), ...brIf(1), // to $cut
  ...end, // $done
  ...i32Const(0), ...get(D), ...i64Store(DIGEST),
  ...get(P), ...return_,
  ...end, // $cut
  ...i32Const(0), ...get(D), ...i64Store(DIGEST),
  ...i32Const(0), ...get(P), ...i32Sub,
  ...end, // function
]

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content]
}

function vector(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()]
}

function name(s: string): number[] {
  return vector([...s].map((ch) => [ch.charCodeAt(0)]))
}

/**
 * The module's bytes: exports `scan(p: i32, stop: i32) → i32` and `memory`. With `sharedPages`
 * the memory is not its own but imported (`env.memory`, shared, of that many pages), so that
 * data read into it can be scanned where it lies and handed to worker threads as it is.
 */
export function scanModuleBytes(sharedPages?: number): Uint8Array {
  const locals = vector([
    [2, I64], // D, D1
    [3, I32], // A, C, O
  ])
  const code = [...locals, ...body]
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
    ...section(1, vector([[0x60, ...vector([[I32], [I32]]), ...vector([[I32]])]])), // type 0: (i32, i32) → i32
    ...(sharedPages === undefined
      ? []
      : section(2, vector([[...name('env'), ...name('memory'), 0x02, 0x03, ...uleb(sharedPages), ...uleb(sharedPages)]]))), // import: shared memory
    ...section(3, vector([[0]])), // function 0 has type 0
    ...(sharedPages === undefined ? section(5, vector([[0x01, ...uleb(PAGES), ...uleb(PAGES)]])) : []), // memory, fixed size
    ...section(7, vector([[...name('scan'), 0x00, 0], [...name('memory'), 0x02, 0]])),
    ...section(10, vector([[...uleb(code.length), ...code]])),
  ])
}
