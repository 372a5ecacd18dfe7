import * as crypto from 'node:crypto'

/** An ID is a SHA-256 digest: 32 bytes, written as 64 lowercase hex characters. */
export type Id = string

export const ID_SIZE = 32
const HEX64 = /^[0-9a-f]{64}$/

/**
 * Node's one-shot hash (20.12 and later): no hash object, so nothing native waits for the
 * garbage collector, and a little faster for the small blobs that dominate a backup.
 */
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'hex' | 'buffer') => string | Buffer }).hash

/** SHA-256 of `data` as an Id. */
export function hashId(data: Uint8Array): Id {
  return oneShot !== undefined ? (oneShot('sha256', data, 'hex') as string) : crypto.createHash('sha256').update(data).digest('hex')
}

/** SHA-256 of `data` as raw bytes. */
export function hashBytes(data: Uint8Array): Buffer {
  return oneShot !== undefined ? (oneShot('sha256', data, 'buffer') as Buffer) : crypto.createHash('sha256').update(data).digest()
}

export function isId(s: string): boolean {
  return HEX64.test(s)
}

export function idToBytes(id: Id): Buffer {
  if (!isId(id)) throw new TypeError(`Invalid ID "${id}": expected 64 lowercase hex characters`)
  return Buffer.from(id, 'hex')
}

export function idFromBytes(b: Uint8Array, offset = 0): Id {
  return Buffer.from(b.buffer, b.byteOffset + offset, ID_SIZE).toString('hex')
}

/** A random Id (used for the repository ID). */
export function randomId(): Id {
  return crypto.randomBytes(ID_SIZE).toString('hex')
}

/** The first 8 hex characters, as restic prints IDs. */
export function shortId(id: Id): string {
  return id.slice(0, 8)
}
