import { AppError, errnoCode } from '../../base/index.js'

/**
 * Node and undici error codes of connections that failed, were cut or timed out: trying again
 * may well work.
 */
const TRANSIENT_ERRNO = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENETRESET',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
])

/**
 * True when an error is worth retrying: an AppError with code NETWORK, or a plain (non-AppError)
 * error whose errno is a connection failure (ECONNRESET, ETIMEDOUT, EPIPE, ECONNREFUSED, …).
 * A NETWORK error caused by ENOTFOUND (no such host name) is final. Every other AppError (NOT_FOUND, PERMISSION_DENIED, INVALID_DATA, WRONG_PASSWORD,
 * REPOSITORY_EXISTS, FileExistsError, …) and TypeError/RangeError are final: a wrong password or
 * a missing file does not get better by asking again.
 */
export function isTransient(err: unknown): boolean {
  // A name the resolver does not know stays unknown (a passing failure is EAI_AGAIN): asking
  // again for a minute only delays the answer, and a NAS that is away is skipped at once.
  if (err instanceof AppError) return err.code === 'NETWORK' && errnoCode(err.cause) !== 'ENOTFOUND'
  if (err instanceof TypeError || err instanceof RangeError) {
    // fetch() reports network failures as TypeError('fetch failed') with the socket error as cause.
    return err.cause !== undefined && err.cause !== err && isTransient(err.cause)
  }
  const code = errnoCode(err)
  return code !== undefined && TRANSIENT_ERRNO.has(code)
}
