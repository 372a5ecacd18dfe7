import { createHash, timingSafeEqual } from 'node:crypto'
import bcrypt from 'bcryptjs'

/** The password hash formats rest-server accepts: bcrypt (`$2a$`, `$2b$`, `$2y$`) and `{SHA}` (base64 SHA-1). */
const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/
const SHA1 = /^\{SHA\}[A-Za-z0-9+/]{27}=$/

/** Cost of the bcrypt hashes cairn writes (rest-server's create_user uses htpasswd -B, cost 5; Apache's default is 5, Go's 10). */
export const BCRYPT_COST = 10

/** True when `hash` is in a format {@link verifyPassword} can check. */
export function isSupportedHash(hash: string): boolean {
  return BCRYPT.test(hash) || SHA1.test(hash)
}

/**
 * Checks `password` against a stored hash. Unsupported formats (MD5/apr1, crypt, plain text)
 * never match, as with rest-server.
 */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  if (BCRYPT.test(hash)) {
    try {
      return await bcrypt.compare(password, hash)
    } catch {
      return false
    }
  }
  if (SHA1.test(hash)) {
    const want = Buffer.from(hash.slice(5))
    const got = Buffer.from(createHash('sha1').update(password, 'utf8').digest('base64'))
    return want.length === got.length && timingSafeEqual(want, got)
  }
  return false
}

/** A new bcrypt hash (`$2b$`, cost {@link BCRYPT_COST}) for the users or htpasswd file. */
export function hashPassword(password: string, cost = BCRYPT_COST): Promise<string> {
  return bcrypt.hash(password, cost)
}
