import { weakerAccess, type Account } from '../auth/account.js'
import type { RestRoute } from './request-path.js'

/** What a request does to a repository. */
export type Operation = 'read' | 'write' | 'delete'

/** The server-wide switches authorize() needs. */
export interface PolicyOptions {
  /** rest-server's --private-repos: the first path segment must be the user's name. */
  privateRepos: boolean
  /** rest-server's --append-only, for everyone. */
  appendOnly: boolean
  /** False with --no-auth: then there are no users to keep apart. */
  authEnabled: boolean
}

/** Why a request is refused: 401 (not this user's repository) or 403 (not allowed to). */
export interface Denial {
  status: 401 | 403
  reason: string
}

/**
 * Decides whether an account may do an operation on a route, before any backend is touched:
 * - --private-repos: a repository outside `/<user>/` is 401, as in rest-server;
 * - the account's `repos` list: a repository outside it is 403;
 * - access (the weaker of the account's and the server's): read-only refuses every write and
 *   delete; append-only refuses deletes except of locks (restic removes its own locks), like
 *   rest-server's --append-only. Overwrites are refused for everyone elsewhere (files are
 *   immutable).
 */
export function authorize(account: Account, route: RestRoute, op: Operation, opts: PolicyOptions): Denial | undefined {
  if (opts.authEnabled && opts.privateRepos && route.repo[0] !== account.name) {
    return { status: 401, reason: `user "${account.name}" may only use repositories under /${account.name}/` }
  }
  if (account.repos !== undefined && !account.repos.some((allowed) => isPrefix(allowed, route.repo))) {
    return { status: 403, reason: `user "${account.name}" may not use the repository /${route.repo.map((s) => s + '/').join('')}` }
  }
  const access = opts.appendOnly ? weakerAccess(account.access, 'append-only') : account.access
  if (op === 'read') return undefined
  if (access === 'read-only') return { status: 403, reason: 'read-only access: writing and deleting are refused (use restic --no-lock to read)' }
  if (op === 'delete' && access === 'append-only' && !(route.kind === 'object' && route.type === 'locks')) {
    return { status: 403, reason: 'append-only access: only lock files may be deleted' }
  }
  return undefined
}

function isPrefix(prefix: readonly string[], repo: readonly string[]): boolean {
  return prefix.length <= repo.length && prefix.every((s, i) => repo[i] === s)
}
