import { randomBytes } from 'node:crypto'
import { clampR } from './poly1305-aes.js'
import { decodeStdBase64 } from './go-encoding.js'
import { invalidData } from './errors.js'

/**
 * The repository's master key (also the shape of a user key derived from a password). Treat the
 * buffers as immutable once the key has been used: derived per-key state is cached.
 */
export interface MasterKey {
  /** AES-256 key for CTR encryption, 32 bytes. */
  encrypt: Buffer
  /** AES-128 key that turns a nonce into the Poly1305 `s`, 16 bytes. */
  macK: Buffer
  /** Poly1305 `r`, 16 bytes, clamped when used. */
  macR: Buffer
}

export const ENCRYPT_KEY_SIZE = 32
export const MAC_KEY_SIZE = 16

/** A fresh random master key; r is stored clamped, as restic 0.14 does. */
export function newMasterKey(): MasterKey {
  const encrypt = nonZeroRandom(ENCRYPT_KEY_SIZE)
  const macK = nonZeroRandom(MAC_KEY_SIZE)
  let macR: Buffer
  do macR = clampR(randomBytes(MAC_KEY_SIZE))
  while (isAllZero(macR))
  return { encrypt, macK, macR }
}

/**
 * Why a key cannot be used, or undefined when it can. Besides restic's rules (right sizes, no
 * all-zero part) we refuse an r that is zero after clamping: Poly1305 with r = 0 authenticates nothing.
 */
export function masterKeyProblem(key: MasterKey): string | undefined {
  if (key.encrypt?.length !== ENCRYPT_KEY_SIZE) return `encrypt must be ${ENCRYPT_KEY_SIZE} bytes, got ${key.encrypt?.length}`
  if (key.macK?.length !== MAC_KEY_SIZE) return `mac.k must be ${MAC_KEY_SIZE} bytes, got ${key.macK?.length}`
  if (key.macR?.length !== MAC_KEY_SIZE) return `mac.r must be ${MAC_KEY_SIZE} bytes, got ${key.macR?.length}`
  if (isAllZero(key.encrypt)) return 'encrypt is all zero'
  if (isAllZero(key.macK)) return 'mac.k is all zero'
  if (isAllZero(clampR(key.macR))) return 'mac.r is zero after clamping'
  return undefined
}

/**
 * The master key as restic stores it inside a key file: compact, `mac` before `encrypt`.
 *
 * @example
 * masterKeyToJSON(k) // '{"mac":{"k":"hHKT…","r":"YqBx…"},"encrypt":"Tosb…"}'
 */
export function masterKeyToJSON(k: MasterKey): string {
  const problem = masterKeyProblem(k)
  if (problem !== undefined) throw new RangeError(`Invalid master key: ${problem}`)
  const b64 = (b: Buffer) => b.toString('base64')
  return `{"mac":{"k":"${b64(k.macK)}","r":"${b64(k.macR)}"},"encrypt":"${b64(k.encrypt)}"}`
}

/** Parses master key JSON (unknown fields ignored); throws INVALID_DATA on bad shape, sizes or zero parts. */
export function masterKeyFromJSON(text: string | Uint8Array): MasterKey {
  let doc: unknown
  try {
    doc = JSON.parse(typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8'))
  } catch (err) {
    throw invalidData('Cannot parse master key: not valid JSON', err)
  }
  if (!isObject(doc) || !isObject(doc.mac)) throw invalidData('Cannot parse master key: expected {"mac":{"k","r"},"encrypt"}')
  const key: MasterKey = {
    encrypt: base64Field(doc.encrypt, 'encrypt'),
    macK: base64Field(doc.mac.k, 'mac.k'),
    macR: base64Field(doc.mac.r, 'mac.r'),
  }
  const problem = masterKeyProblem(key)
  if (problem !== undefined) throw invalidData(`Invalid master key: ${problem}`)
  return key
}

function base64Field(value: unknown, name: string): Buffer {
  const bytes = typeof value === 'string' ? decodeStdBase64(value) : undefined
  if (bytes === undefined) throw invalidData(`Cannot parse master key: "${name}" is not a base64 string`)
  return bytes
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function isAllZero(b: Uint8Array): boolean {
  let acc = 0
  for (let i = 0; i < b.length; i++) acc |= b[i]
  return acc === 0
}

function nonZeroRandom(size: number): Buffer {
  let b: Buffer
  do b = randomBytes(size)
  while (isAllZero(b))
  return b
}
