import { randomBytes } from 'node:crypto'
import { AppError } from '../base/index.js'
import { runScrypt as scryptRaw, takeEarlyDerivation, type ScryptParams } from './early-scrypt.js'
import type { MasterKey } from './master-key.js'

/**
 * The password KDF of key files (format §2.2): scrypt with a 64-byte salt and 64 output bytes,
 * split into a user key with the same shape as a master key.
 */

export type { ScryptParams }

export const SALT_SIZE = 64
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

/** Derives the user key of a key file from `password` (UTF-8) and a 64-byte salt. */
export async function deriveUserKey(password: string, salt: Uint8Array, params: ScryptParams): Promise<MasterKey> {
  const problem = scryptParamsProblem(params)
  if (problem !== undefined) throw new RangeError(`Invalid scrypt parameters: ${problem}`)
  if (salt.length !== SALT_SIZE) throw new RangeError(`Scrypt salt must be ${SALT_SIZE} bytes, got ${salt.length}`)
  const pw = Buffer.from(password, 'utf8')
  const derived = await (takeEarlyDerivation(pw, salt, params) ?? runScrypt(pw, salt, params))
  return {
    encrypt: derived.subarray(0, 32),
    macK: derived.subarray(32, 48),
    macR: derived.subarray(48, 64),
  }
}

function runScrypt(password: Buffer, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
  return scryptRaw(password, salt, params).catch((err: Error) => {
    // Valid for restic but refused by OpenSSL (e.g. r=1 with a large N), or out of memory.
    const { N, r, p } = params
    throw new AppError('UNSUPPORTED', `Cannot derive key with scrypt N=${N} r=${r} p=${p}: ${err.message}`, { cause: err })
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
