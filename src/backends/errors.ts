import { AppError } from '../base/index.js'
import type { Handle } from './backend.js'

/** Thrown by Backend.load and Backend.stat when the file does not exist. */
export class NotFoundError extends AppError {
  readonly handle: Handle
  constructor(handle: Handle, location: string) {
    super('NOT_FOUND', `File "${handleToString(handle)}" not found in "${location}"`)
    this.name = 'NotFoundError'
    this.handle = handle
  }
}

/**
 * Thrown by Backend.save when the file exists already: repository files are immutable, and
 * `config` is never replaced. For `config` the code is REPOSITORY_EXISTS, because that is what
 * an existing config file means to the user.
 */
export class FileExistsError extends AppError {
  readonly handle: Handle
  constructor(handle: Handle, location: string) {
    const config = handle.type === 'config'
    super(
      config ? 'REPOSITORY_EXISTS' : 'INVALID_ARGUMENT',
      `Cannot save "${handleToString(handle)}" in "${location}": the file exists already`,
      config ? { hint: 'A repository exists at this location already: open it, or choose another location' } : {},
    )
    this.name = 'FileExistsError'
    this.handle = handle
  }
}

/**
 * The error for a ranged load that reaches past the end of the file (`length` undefined: from
 * `offset` to the end). Backends never return a short result: a truncated pack read as a short
 * buffer would surface later as a confusing decryption failure.
 */
export function shortReadError(h: Handle, location: string, offset: number, length: number | undefined, size: number): AppError {
  const wanted = length === undefined ? `from offset ${offset}` : `${length} bytes at offset ${offset}`
  return new AppError(
    'INVALID_DATA',
    `File "${handleToString(h)}" in "${location}" is too short: cannot read ${wanted}, it has ${size} bytes`,
    { hint: 'The file is truncated or the index is out of date; run "check" on the repository' },
  )
}

export function handleToString(h: Handle): string {
  return h.type === 'config' ? 'config' : `${h.type}/${h.name}`
}

/**
 * What to do about a connection that failed with `errno` (ECONNREFUSED, ENOTFOUND, …), for a
 * backend reached at `address` ("the URL", "the endpoint").
 */
export function networkHint(errno: string | undefined, address: string): string {
  if (errno === 'ECONNREFUSED') return `Is the server running, and listening on the port ${address} names? Check ${address} and the server`
  if (errno === 'ENOTFOUND') return `Check the host name in ${address} (and the DNS of this machine)`
  if (errno === 'EHOSTUNREACH' || errno === 'ENETUNREACH') return 'Check that this machine can reach the server (network, VPN, firewall)'
  return 'Check the network and the server; running the command again goes on where it stopped'
}

/**
 * For a TLS connection that failed because the other side does not speak TLS at all (an https://
 * address given for a plain-HTTP server: OpenSSL's "wrong version number", under EPROTO), the
 * words and hint that say so; undefined for any other error. Retrying cannot help there.
 */
export function notTlsServer(errno: string | undefined, message: string, address: string): { detail: string; hint: string } | undefined {
  if (errno !== 'EPROTO' && errno !== 'ERR_SSL_WRONG_VERSION_NUMBER') return undefined
  if (!/wrong[ _]version[ _]number|packet[ _]length[ _]too[ _]long|http[ _]request|unknown[ _]protocol/i.test(message)) return undefined
  return {
    detail: 'the server does not speak TLS there (OpenSSL: wrong version number)',
    hint: `Use http:// in ${address} if the server serves plain HTTP on that port, or the port where it serves https`,
  }
}
