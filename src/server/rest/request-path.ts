import { isId } from '../../base/index.js'
import { isValidSegment } from '../auth/account.js'

/** The directory types of a repository, as they appear in URLs (`/data/<id>`, flat). */
export const OBJECT_TYPES = ['data', 'keys', 'locks', 'snapshots', 'index'] as const
/** A directory type: every file type but `config`. */
export type ObjectType = (typeof OBJECT_TYPES)[number]

/** Most repository path segments before the type (rest-server's MaxFolderDepth). */
export const MAX_REPO_DEPTH = 2
/** Longest request target accepted, in bytes. */
const MAX_TARGET_LENGTH = 2048

/**
 * What a request addresses, after strict validation. `repo` is the repository path as segments
 * (`[]` = the repository at the root of the served tree, `['alice']`, `['alice', 'laptop']`).
 */
export type RestRoute =
  | { kind: 'repository'; repo: string[] }
  | { kind: 'config'; repo: string[] }
  | { kind: 'list'; repo: string[]; type: ObjectType }
  | { kind: 'object'; repo: string[]; type: ObjectType; id: string }

/** A route with its query, or the status (400 malformed, 404 nothing there) and reason to refuse the target with. */
export type ParsedTarget =
  | { ok: true; route: RestRoute; query: URLSearchParams }
  | { ok: false; status: 400 | 404; reason: string }

/**
 * Characters allowed raw in a path (RFC 3986 pchar plus `/`); everything else must be
 * percent-encoded, and a raw backslash, space, quote or control character is refused.
 */
const RAW_PATH = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/
const TYPES = new Set<string>([...OBJECT_TYPES, 'config'])

/**
 * Parses a raw request target (`req.url`, never normalised) into a route, before anything
 * touches a backend. The rules are rest-server's, made stricter:
 * - the target starts with `/` (no absolute or asterisk form) and is at most 2048 bytes;
 * - each segment is percent-decoded once and must then be a valid name (letters, digits, `@`,
 *   `.`, `_`, `-`, not starting with `.`): so `..`, `.`, empty segments (`//`), encoded slashes
 *   and backslashes (`%2F`, `%5C`), NUL and double encodings (`%252e`) never pass;
 * - up to 2 repository segments, ended by a type (`config`, `data`, `keys`, `locks`,
 *   `snapshots`, `index`); a repository root ends with `/`; object names are exactly
 *   `[0-9a-f]{64}`.
 * Malformed targets (bad characters, bad percent-encoding) give 400; well-formed targets that
 * name nothing servable give 404.
 *
 * @example
 * parseRestTarget('/alice/data/' + id) // → { ok: true, route: { kind: 'object', repo: ['alice'], type: 'data', id } }
 * parseRestTarget('/alice/%2e%2e/config') // → { ok: false, status: 404, … }
 */
export function parseRestTarget(target: string): ParsedTarget {
  if (target.length > MAX_TARGET_LENGTH) return bad(400, 'request target too long')
  if (!target.startsWith('/')) return bad(400, 'request target must be a path starting with "/"')
  const q = target.indexOf('?')
  const rawPath = q < 0 ? target : target.slice(0, q)
  const query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1))
  if (!RAW_PATH.test(rawPath)) return bad(400, 'request path holds characters that must be percent-encoded')
  const rawSegments = rawPath.slice(1).split('/')
  const trailingSlash = rawSegments[rawSegments.length - 1] === ''
  if (trailingSlash) rawSegments.pop()
  const segments: string[] = []
  for (const raw of rawSegments) {
    let seg: string
    try {
      seg = decodeURIComponent(raw)
    } catch {
      return bad(400, 'bad percent-encoding in request path')
    }
    segments.push(seg)
  }
  const typeAt = segments.findIndex((s) => TYPES.has(s))
  const repoEnd = typeAt < 0 ? segments.length : typeAt
  if (repoEnd > MAX_REPO_DEPTH) return bad(404, `more than ${MAX_REPO_DEPTH} repository path segments`)
  const repo = segments.slice(0, repoEnd)
  if (!repo.every(isValidSegment)) return bad(404, 'invalid repository path segment')
  const rest = segments.slice(repoEnd)
  if (rest.length === 0) {
    return trailingSlash ? ok({ kind: 'repository', repo }, query) : bad(404, 'no such route')
  }
  const type = rest[0]
  if (type === 'config') {
    return rest.length === 1 && !trailingSlash ? ok({ kind: 'config', repo }, query) : bad(404, 'no such route')
  }
  if (rest.length === 1 && trailingSlash) return ok({ kind: 'list', repo, type: type as ObjectType }, query)
  if (rest.length === 2 && !trailingSlash && isId(rest[1])) {
    return ok({ kind: 'object', repo, type: type as ObjectType, id: rest[1] }, query)
  }
  return bad(404, 'no such route')
}

function ok(route: RestRoute, query: URLSearchParams): ParsedTarget {
  return { ok: true, route, query }
}

function bad(status: 400 | 404, reason: string): ParsedTarget {
  return { ok: false, status, reason }
}

/** `['alice', 'laptop']` → `alice/laptop`; `[]` → `` (rest-server's `repo` metric label). */
export function repoLabel(repo: readonly string[]): string {
  return repo.join('/')
}
