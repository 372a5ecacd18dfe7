/**
 * @module crypto/early-scrypt
 * scrypt as key files use it (64 output bytes), and derivations started ahead of time. The
 * program's entry starts the derivation a command will need before loading the rest of the
 * program, so that scrypt's 0.4 s on the thread pool overlaps the loading instead of following
 * it; deriveUserKey() later takes the result. A second entry of crypto/ that imports nothing but
 * Node, because it is loaded first and alone.
 */
import { createHash, scrypt } from 'node:crypto'

/** scrypt's cost parameters, as key files hold them. */
export interface ScryptParams {
  N: number
  r: number
  p: number
}

/** The bytes a key file's derivation yields: AES key, Poly1305 k and r. */
export const DERIVED_SIZE = 64

/** At most this much memory for a derivation started ahead (a key file asking for more is derived the normal way). */
const EARLY_MEMORY_LIMIT = 1 << 30

const early = new Map<string, Promise<Buffer>>()

/**
 * Runs scrypt; rejects with OpenSSL's error (parameters restic allows but OpenSSL refuses, such
 * as r=1 with a large N, or too little memory).
 */
export function runScrypt(password: Buffer, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
  const { N, r, p } = params
  // OpenSSL refuses to run unless maxmem covers its V array (128·r·(N+2)) plus B (128·r·p); Node's
  // default of 32 MiB is too small for restic's usual N=32768, r=8.
  const maxmem = 128 * r * (N + 2 + p) + (1 << 20)
  return new Promise((resolve, reject) => {
    scrypt(password, salt, DERIVED_SIZE, { N, r, p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)))
  })
}

/**
 * Starts deriving the user key of a key file (its bytes as stored) for `password`; a key file
 * that does not parse, or asks for more than 1 GiB, is left alone. Only a head start: the key
 * file is checked properly when it is opened.
 */
export function startEarlyDerivation(keyFile: Uint8Array, password: string): void {
  let params: ScryptParams
  let salt: Buffer
  try {
    const o = JSON.parse(Buffer.from(keyFile).toString('utf8')) as Record<string, unknown>
    if (o.kdf !== 'scrypt' || typeof o.salt !== 'string') return
    params = { N: Number(o.N), r: Number(o.r), p: Number(o.p) }
    salt = Buffer.from(o.salt, 'base64')
  } catch {
    return
  }
  const { N, r, p } = params
  if (![N, r, p].every((v) => Number.isSafeInteger(v) && v >= 1) || 128 * r * (N + p) > EARLY_MEMORY_LIMIT) return
  const pw = Buffer.from(password, 'utf8')
  const derived = runScrypt(pw, salt, params)
  derived.catch(() => {})
  early.set(earlyId(pw, salt, params), derived)
}

/** The derivation started ahead for these inputs, once (undefined when none was). */
export function takeEarlyDerivation(password: Buffer, salt: Uint8Array, params: ScryptParams): Promise<Buffer> | undefined {
  if (early.size === 0) return undefined
  const id = earlyId(password, salt, params)
  const started = early.get(id)
  early.delete(id)
  return started
}

/** How many derivations started ahead are still waiting to be taken (for tests). */
export function earlyDerivations(): number {
  return early.size
}

function earlyId(password: Buffer, salt: Uint8Array, { N, r, p }: ScryptParams): string {
  return createHash('sha256').update(password).update(salt).update(`${N}:${r}:${p}`).digest('hex')
}
