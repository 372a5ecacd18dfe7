import { createHash, timingSafeEqual } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import bcrypt from 'bcryptjs'
import type { BcryptCheck } from './bcrypt-worker.js'

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
  if (BCRYPT.test(hash)) return bcryptCompare(hash, password)
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

/** The thread that checks bcrypt hashes, started at the first check; it keeps the process alive only while a check is under way. */
interface Checker {
  worker: Worker
  pending: Map<number, { check: BcryptCheck; resolve: (ok: boolean) => void }>
  seq: number
}
let checker: Checker | undefined

const checkHere = ({ hash, password }: BcryptCheck): Promise<boolean> => bcrypt.compare(password, hash).catch(() => false)

/**
 * bcrypt.compare on a thread of its own, one check after another: on the server's thread, 100
 * wrong logins at once (each check some tens of milliseconds) held up every other request for
 * seconds. When that thread cannot start or fails, checks are made on this one.
 */
function bcryptCompare(hash: string, password: string): Promise<boolean> {
  if (checker === undefined) {
    let worker: Worker
    try {
      worker = new Worker(new URL('./bcrypt-worker.js', import.meta.url))
    } catch {
      return checkHere({ id: 0, hash, password })
    }
    const c: Checker = { worker, pending: new Map(), seq: 0 }
    worker.unref()
    worker.on('message', ({ id, ok }: { id: number; ok: boolean }) => {
      c.pending.get(id)?.resolve(ok)
      c.pending.delete(id)
      if (c.pending.size === 0) worker.unref()
    })
    const fail = () => {
      if (checker === c) checker = undefined
      for (const { check, resolve } of c.pending.values()) void checkHere(check).then(resolve)
      c.pending.clear()
    }
    worker.on('error', fail)
    worker.on('exit', fail)
    checker = c
  }
  const c = checker
  const check: BcryptCheck = { id: c.seq++, hash, password }
  return new Promise<boolean>((resolve) => {
    c.pending.set(check.id, { check, resolve })
    c.worker.ref()
    c.worker.postMessage(check)
  })
}
