/**
 * Who a request is, once authenticated, and what they may do: an **account** has a name, an
 * **access level** (read-only < append-only < full), an optional **quota** in bytes and an
 * optional list of repository paths it may reach.
 */

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

/** Longest repository path segment accepted, in characters. */
export const MAX_SEGMENT_LENGTH = 128

/**
 * True when `s` may be a repository path segment: the user name characters, not starting with
 * `.` (so never `.`, `..` or a hidden file such as `.htpasswd`), at most 128 characters.
 */
export function isValidSegment(s: string): boolean {
  return s.length > 0 && s.length <= MAX_SEGMENT_LENGTH && !s.startsWith('.') && NAME_PATTERN.test(s)
}
