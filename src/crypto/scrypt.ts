import { createHash, randomBytes, scrypt } from 'node:crypto'
import { AppError } from '../base/index.js'
import type { MasterKey } from './master-key.js'

/**
 * The password KDF of key files (format §2.2): scrypt with a 64-byte salt and 64 output bytes,
 * split into a user key with the same shape as a master key.
 */

export interface ScryptParams {
  N: number
  r: number
  p: number
}

export const SALT_SIZE = 64
const DERIVED_SIZE = 64
const MAX_INT32 = 2 ** 31 - 1

/**
 * Why restic would refuse these parameters, or undefined. These are the checks of the scrypt
 * wrapper restic uses (N a power of two above 1, r and p at least 1, r·p < 2^30, and 32-bit limits
 * on the memory terms); a file that fails them cannot be opened by restic either.
 */
export function scryptParamsProblem({ N, r, p }: ScryptParams): string | undefined {
  for (const [name, v] of [['N', N], ['r', r], ['p', p]] as const) {
    if (!Number.isSafeInteger(v) || v < 1 || v > MAX_INT32) return `${name} must be an integer from 1 to ${MAX_INT32}, got ${v}`
  }
  if (N < 2 || (N & (N - 1)) !== 0) return `N must be a power of two above 1, got ${N}`
  if (r * p >= 2 ** 30) return `r·p must be below 2^30, got r=${r} p=${p}`
  const limit = Math.floor(MAX_INT32 / 128)
  if (r > Math.floor(limit / p) || r > Math.floor(MAX_INT32 / 256) || N > Math.floor(limit / r)) {
    return `N=${N}, r=${r}, p=${p} need more memory than scrypt allows`
  }
  return undefined
}

// OpenSSL refuses to run unless maxmem covers its V array (128·r·(N+2)) plus B (128·r·p); Node's
// default of 32 MiB is too small for restic's usual N=32768, r=8.
function maxmemFor({ N, r, p }: ScryptParams): number {
  return 128 * r * (N + 2 + p) + (1 << 20)
}

/**
 * Derivations started ahead of time (startEarlyDerivation), by a digest of their inputs: the
 * program's entry starts the one it will need before loading the rest of the program, so the
 * 0.4 s of scrypt on the thread pool overlaps loading instead of following it.
 */
const early = new Map<string, Promise<Buffer>>()

function earlyKey(password: Buffer, salt: Uint8Array, { N, r, p }: ScryptParams): string {
  return createHash('sha256').update(password).update(salt).update(`${N}:${r}:${p}`).digest('hex')
}

/**
 * Starts deriving the user key of a key file now; a later deriveUserKey() with the same inputs
 * takes the result instead of deriving again. Inputs deriveUserKey() would refuse are ignored.
 */
export function startEarlyDerivation(password: string, salt: Uint8Array, params: ScryptParams): void {
  if (scryptParamsProblem(params) !== undefined || salt.length !== SALT_SIZE) return
  const pw = Buffer.from(password, 'utf8')
  const derived = runScrypt(pw, salt, params)
  derived.catch(() => {})
  early.set(earlyKey(pw, salt, params), derived)
}

/** How many derivations started ahead of time are still waiting to be taken (for tests). */
export function earlyDerivations(): number {
  return early.size
}

/** Derives the user key of a key file from `password` (UTF-8) and a 64-byte salt. */
export async function deriveUserKey(password: string, salt: Uint8Array, params: ScryptParams): Promise<MasterKey> {
  const problem = scryptParamsProblem(params)
  if (problem !== undefined) throw new RangeError(`Invalid scrypt parameters: ${problem}`)
  if (salt.length !== SALT_SIZE) throw new RangeError(`Scrypt salt must be ${SALT_SIZE} bytes, got ${salt.length}`)
  const pw = Buffer.from(password, 'utf8')
  const id = early.size > 0 ? earlyKey(pw, salt, params) : ''
  const started = early.get(id)
  early.delete(id)
  const derived = await (started ?? runScrypt(pw, salt, params))
  return {
    encrypt: derived.subarray(0, 32),
    macK: derived.subarray(32, 48),
    macR: derived.subarray(48, 64),
  }
}

function runScrypt(password: Buffer, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
  const { N, r, p } = params
  return new Promise((resolve, reject) => {
    scrypt(password, salt, DERIVED_SIZE, { N, r, p, maxmem: maxmemFor(params) }, (err, key) => {
      if (err) {
        // Valid for restic but refused by OpenSSL (e.g. r=1 with a large N), or out of memory.
        reject(new AppError('UNSUPPORTED', `Cannot derive key with scrypt N=${N} r=${r} p=${p}: ${err.message}`, { cause: err }))
      } else resolve(key)
    })
  })
}

/** Memory budget for N, as restic's calibration uses (128·r·N must stay below it). */
const CALIBRATION_MEMORY = 60 * 1024 * 1024
const MIN_N = 1024
/**
 * Upper bound for p. restic does not cap p; we do, because every later open pays p times the
 * single-lane cost, and a repository is often opened from slower machines than the one that made it.
 */
export const MAX_CALIBRATED_P = 16

/**
 * Picks scrypt parameters for this machine the way restic does: r = 8, the largest N with
 * 128·r·N below 60 MiB (normally 32768, halved while one derivation takes longer than the
 * target), then p raised until one derivation takes about `targetMs` (capped at MAX_CALIBRATED_P).
 *
 * @example
 * const params = await calibrateScrypt() // e.g. { N: 32768, r: 8, p: 4 }
 */
export async function calibrateScrypt(targetMs = 500): Promise<ScryptParams> {
  if (!(targetMs > 0)) throw new RangeError(`Calibration target must be a positive number of milliseconds, got ${targetMs}`)
  const password = Buffer.from('calibration')
  const salt = randomBytes(SALT_SIZE)
  const timed = async (params: ScryptParams) => {
    const start = performance.now()
    await runScrypt(password, salt, params)
    return performance.now() - start
  }
  const r = 8
  let N = 1
  while (128 * r * N * 2 < CALIBRATION_MEMORY) N *= 2
  let ms = await timed({ N, r, p: 1 })
  while (ms > targetMs && N > MIN_N) {
    N /= 2
    ms = await timed({ N, r, p: 1 })
  }
  let p = clampP(Math.floor(targetMs / ms))
  if (p > 1) {
    // One measurement with p=1 is noisy; check the estimate once and scale it back if it overshot.
    ms = await timed({ N, r, p })
    if (ms > targetMs) p = clampP(Math.floor(targetMs / (ms / p)))
  }
  return { N, r, p }
}

function clampP(p: number): number {
  return Math.min(MAX_CALIBRATED_P, Math.max(1, p))
}
