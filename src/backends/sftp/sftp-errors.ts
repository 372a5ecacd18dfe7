import { AppError } from '../../base/index.js'
import { FX } from './sftp-packets.js'
import { SftpClosedError, SftpStatusError, describeStatus } from './sftp-session.js'

/** What the backend was doing, for the message: `Cannot write "/srv/repo/data/ab/ab12…" …`. */
export type SftpAction = 'create' | 'write' | 'read' | 'list' | 'remove' | 'stat'

const RETRY_HINT = 'Check the network and the server; running the command again will reconnect'

/** A connection problem: code NETWORK, which a retry wrapper may retry. */
export function networkError(message: string, cause?: unknown, hint = RETRY_HINT): AppError {
  return new AppError('NETWORK', message, { hint, ...(cause === undefined ? {} : { cause }) })
}

/**
 * Turns what an SFTP request threw into an AppError naming the remote path and the location:
 * a lost connection is NETWORK, a refused operation PERMISSION_DENIED, an operation the server
 * lacks UNSUPPORTED, anything else IO. AppErrors pass through unchanged.
 */
export function sftpError(action: SftpAction, path: string, location: string, user: string, err: unknown): AppError {
  if (err instanceof AppError) return err
  const where = `Cannot ${action} "${path}" on "${location}"`
  if (err instanceof SftpClosedError) return networkError(`${where}: the connection was lost (${err.message})`, err)
  if (err instanceof SftpStatusError) {
    const reason = statusReason(err)
    switch (err.status) {
      case FX.PERMISSION_DENIED:
        return new AppError('PERMISSION_DENIED', `${where}: ${reason}`, {
          hint: `Check that "${user}" may read and write the repository directory and everything below it on the server`,
          cause: err,
        })
      case FX.NO_SUCH_FILE:
        return new AppError('IO', `${where}: ${reason}`, {
          hint: 'Check the repository path, or run "init" to create a repository there',
          cause: err,
        })
      case FX.OP_UNSUPPORTED:
        return new AppError('UNSUPPORTED', `${where}: ${reason}`, { hint: 'The SFTP server lacks an operation cairn needs', cause: err })
      case FX.NO_CONNECTION:
      case FX.CONNECTION_LOST:
        return networkError(`${where}: ${reason}`, err)
      case FX.FAILURE:
        return new AppError('IO', `${where}: ${reason}`, {
          hint: 'SFTP servers report most file system errors only as "failure"; a full disk or quota on the server is the usual cause',
          cause: err,
        })
      default:
        return new AppError('IO', `${where}: ${reason}`, { cause: err })
    }
  }
  return new AppError('IO', `${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
}

/** `permission denied`, plus the server's own words when they say more. */
function statusReason(err: SftpStatusError): string {
  const base = describeStatus(err.status)
  const said = err.serverMessage.trim()
  return said === '' || said.toLowerCase() === base || said.toLowerCase() === 'no such file' ? base : `${base} (${said})`
}

export function isStatus(err: unknown, status: number): boolean {
  return err instanceof SftpStatusError && err.status === status
}
