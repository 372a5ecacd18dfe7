import { AppError } from '../../base/index.js'

/** What the backend was doing, for the start of an error message. */
export type RestOperation = 'create' | 'save' | 'load' | 'stat' | 'list' | 'remove'

/**
 * The start of an error message: `Cannot save "data/…" to "rest:http://host/"`. `target` is a
 * handle as text (or a file type for list); `location` has no password.
 */
export function failurePrefix(op: RestOperation, target: string, location: string): string {
  switch (op) {
    case 'create':
      return `Cannot create a repository at "${location}"`
    case 'save':
      return `Cannot save "${target}" to "${location}"`
    case 'load':
      return `Cannot load "${target}" from "${location}"`
    case 'stat':
      return `Cannot stat "${target}" in "${location}"`
    case 'list':
      return `Cannot list "${target}" in "${location}"`
    case 'remove':
      return `Cannot remove "${target}" from "${location}"`
  }
}

const CREDENTIALS_HINT = 'Check the user name and password (in the URL, or in CAIRN_REST_USERNAME and CAIRN_REST_PASSWORD, or RESTIC_REST_USERNAME and RESTIC_REST_PASSWORD)'

/**
 * The error for an HTTP status the operation did not expect (restic-format.md §7.2–7.4):
 * 401/403 → PERMISSION_DENIED, 507 → IO (out of space), other 5xx → NETWORK (worth retrying),
 * anything else → IO. `serverText` is the start of the server's explanation, if any.
 *
 * @example
 * statusError('Cannot remove "data/ab…" from "rest:http://nas:8000/"', 'remove', 403, 'Forbidden', '')
 * // → PERMISSION_DENIED with a hint about append-only servers
 */
export function statusError(prefix: string, op: RestOperation, status: number, statusText: string, serverText: string): AppError {
  const answer = `${status}${statusText === '' ? '' : ` ${statusText}`}`
  const detail = serverText === '' ? '' : `: ${serverText}`
  if (status === 401) {
    return new AppError('PERMISSION_DENIED', `${prefix}: the server refused the credentials (${answer})${detail}`, { hint: CREDENTIALS_HINT })
  }
  if (status === 403) {
    const hint =
      op === 'remove'
        ? 'The server may be append-only (rest-server or "rclone serve restic" with --append-only), which refuses to delete anything but locks; run forget and prune against a server without it'
        : `${CREDENTIALS_HINT}, and that this user may use this repository path; an append-only server also refuses to replace files`
    return new AppError('PERMISSION_DENIED', `${prefix}: the server refused the operation (${answer})${detail}`, { hint })
  }
  if (status === 507) {
    return new AppError('IO', `${prefix}: the server is out of space or over its quota (${answer})${detail}`, {
      hint: 'Free space on the server, or raise the repository quota (rest-server --max-size)',
    })
  }
  if (status >= 500) {
    return new AppError('NETWORK', `${prefix}: the server failed (${answer})${detail}`, { hint: "If this persists, look at the server's log" })
  }
  if (status === 404) {
    return new AppError('IO', `${prefix}: the server has no such path (${answer})${detail}`, {
      hint: 'Check the path in the repository URL (rest-server accepts at most two levels, such as /user/repo/)',
    })
  }
  return new AppError('IO', `${prefix}: unexpected answer ${answer}${detail}`, { hint: 'Check that the URL points at a restic REST server' })
}
