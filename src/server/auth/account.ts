/**
 * Who a request is, once authenticated, and what they may do: an **account** has a name, an
 * **access level** (read-only < append-only < full), an optional **quota** in bytes and an
 * optional list of repository paths it may reach.
 */
import { AppError } from '../../base/index.js'

/** Access levels, weakest first. */
export const ACCESS_LEVELS = ['read-only', 'append-only', 'full'] as const
/** An access level: read-only, append-only or full. */
export type Access = (typeof ACCESS_LEVELS)[number]

/**
 * rest-server's user name rule (letters, digits, `@`, `.`, `_`, `-`), which is also the rule for
 * every repository path segment: with --private-repos the first segment is a user name.
 */
export const NAME_PATTERN = /^[\p{L}0-9@._-]+$/u

/** An authenticated user and what they may do. */
export interface Account {
  /** The user name; '' when authentication is off. */
  name: string
  access: Access
  /** Most bytes the user's repositories may hold; undefined = no per-user limit. */
  quota?: number
  /** Repository paths (as segments) the user may reach, each with everything below it; undefined = any. */
  repos?: readonly (readonly string[])[]
}

/** The weaker of two access levels. */
export function weakerAccess(a: Access, b: Access): Access {
  return ACCESS_LEVELS.indexOf(a) <= ACCESS_LEVELS.indexOf(b) ? a : b
}

/** True when `name` is a valid user name (rest-server's rule, and never `.` or `..`). */
export function isValidUserName(name: string): boolean {
  return NAME_PATTERN.test(name) && name !== '.' && name !== '..'
}

/** Names a repository path cannot start with: `/data/…` is the root repository's data. */
const ROUTE_WORDS = new Set(['config', 'data', 'index', 'keys', 'locks', 'snapshots'])

/**
 * Refuses a name for a new user that could never reach a repository of its own name (under
 * --private-repos every request of such a user would be refused, with no hint why): one that is
 * no valid path segment (`.hidden`), or a word of restic's paths (`data`, `keys`, …).
 *
 * @throws AppError INVALID_ARGUMENT naming the rule
 */
export function checkNewUserName(name: string): void {
  if (!isValidUserName(name)) {
    throw new AppError('INVALID_ARGUMENT', `Invalid user name "${name}"`, { hint: 'Use letters, digits, "@", ".", "_" and "-"' })
  }
  if (!isValidSegment(name) || ROUTE_WORDS.has(name)) {
    throw new AppError('INVALID_ARGUMENT', `User name "${name}" cannot name a repository of its own (${ROUTE_WORDS.has(name) ? 'it is a word of restic\'s paths' : 'it starts with "." or is longer than 128 characters'})`, {
      hint: 'Choose another name: with --private-repos a user reaches only /<name>/',
    })
  }
}

/** Longest repository path segment accepted, in characters. */
export const MAX_SEGMENT_LENGTH = 128

/**
 * True when `s` may be a repository path segment: the user name characters, not starting with
 * `.` (so never `.`, `..` or a hidden file such as `.htpasswd`), at most 128 characters.
 */
export function isValidSegment(s: string): boolean {
  return s.length > 0 && s.length <= MAX_SEGMENT_LENGTH && !s.startsWith('.') && NAME_PATTERN.test(s)
}
