import { z } from 'zod'
import { AppError, lazyRequire } from '../../base/index.js'
import { parseByteSize } from '../size.js'
import { ACCESS_LEVELS, checkNewUserName, isValidSegment, isValidUserName, type Access } from './account.js'
import { isSupportedHash } from './password-hash.js'
import { readOptionalFile, writeSecretFile } from './secret-file.js'

const yaml = lazyRequire<typeof import('yaml')>('yaml')

/**
 * The users file (YAML): per user a password hash, an access level, an optional quota and an
 * optional list of repositories. docs/rest-server.md documents it.
 *
 * ```yaml
 * users:
 *   alice:
 *     password: $2b$10$…      # bcrypt or {SHA}, as in htpasswd
 *     access: append-only      # read-only | append-only | full (default full)
 *     quota: 50GiB             # optional: bytes, or a size with K/M/G/T
 *     repos: [alice, shared/photos]   # optional: only these repositories (and below)
 * ```
 */
const UserSchema = z.strictObject({
  password: z.string().refine(isSupportedHash, { message: 'expected a bcrypt ($2a$, $2b$, $2y$) or {SHA} hash' }),
  access: z.enum(ACCESS_LEVELS).default('full'),
  quota: z.union([z.number(), z.string()]).optional(),
  repos: z.array(z.string()).optional(),
})

const UsersFileSchema = z.strictObject({
  users: z.record(z.string(), UserSchema).nullable().default({}),
})

/** One user as the users file describes them, validated. */
export interface UserRecord {
  name: string
  passwordHash: string
  access: Access
  /** Bytes; undefined = no limit. */
  quota?: number
  /** Repository paths as segments ([] = the root repository and so everything); undefined = any. */
  repos?: string[][]
}

/**
 * Parses the text of a users file; throws AppError('CONFIG') naming the file, the user and the
 * field for anything invalid.
 */
export function parseUsersFile(text: string, path: string): Map<string, UserRecord> {
  let data: unknown
  try {
    const doc = yaml().parseDocument(text)
    if (doc.errors.length > 0) throw doc.errors[0]
    data = doc.toJS() ?? {}
  } catch (err) {
    throw new AppError('CONFIG', `Cannot read users file "${path}": ${err instanceof Error ? err.message : String(err)}`, {
      hint: 'The file must be YAML with a top-level "users:" map (see docs/rest-server.md)',
    })
  }
  const parsed = UsersFileSchema.safeParse(data)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue.path.length > 0 ? ` at "${issue.path.join('.')}"` : ''
    throw new AppError('CONFIG', `Invalid users file "${path}"${where}: ${issue.message}`, {
      hint: 'Each user needs "password" (a bcrypt or {SHA} hash) and may have "access", "quota" and "repos" (see docs/rest-server.md)',
    })
  }
  const users = new Map<string, UserRecord>()
  for (const [name, u] of Object.entries(parsed.data.users ?? {})) {
    const fail = (what: string) =>
      new AppError('CONFIG', `Invalid users file "${path}" at "users.${name}": ${what}`, { hint: 'See docs/rest-server.md for the format' })
    if (!isValidUserName(name)) throw fail('invalid user name (use letters, digits, "@", ".", "_" and "-")')
    const record: UserRecord = { name, passwordHash: u.password, access: u.access }
    if (u.quota !== undefined) {
      let quota: number
      try {
        quota = parseByteSize(u.quota)
      } catch (err) {
        throw fail(err instanceof Error ? err.message : String(err))
      }
      // 0 is no limit, as the server's --max-size 0 is (it refused every upload).
      if (quota > 0) record.quota = quota
    }
    if (u.repos !== undefined) {
      record.repos = u.repos.map((r) => {
        const segs = parseRepoList(r)
        if (segs === undefined) throw fail(`invalid repository path "${r}" (1 or 2 segments such as "alice" or "alice/laptop", or "/" for all)`)
        return segs
      })
    }
    users.set(name, record)
  }
  return users
}

/** `alice/laptop` → ['alice', 'laptop']; `/` → []; undefined when invalid. */
export function parseRepoList(text: string): string[] | undefined {
  const trimmed = text.trim().replace(/^\/+|\/+$/g, '')
  if (trimmed === '') return []
  const segs = trimmed.split('/')
  if (segs.length > 2 || !segs.every(isValidSegment)) return undefined
  return segs
}

/** Reads a users file; a missing file is an AppError('CONFIG') naming it. */
export async function loadUsersFile(path: string): Promise<Map<string, UserRecord>> {
  const text = await readOptionalFile(path)
  if (text === undefined) {
    throw new AppError('CONFIG', `Users file "${path}" does not exist`, {
      hint: 'Create it with "cairn serve rest --users-file FILE --create-user NAME"',
    })
  }
  return parseUsersFile(text, path)
}

/** What to set for a user; fields left undefined keep their value when the user exists. */
export interface UserUpdate {
  passwordHash: string
  access?: Access
  quota?: number
  repos?: string[]
}

/**
 * Adds or replaces a user in a users file, keeping the rest of the file (other users and
 * comments) as it is. Creates the file when missing. The file is written atomically, mode 0600.
 */
export async function setUsersFileUser(path: string, name: string, update: UserUpdate): Promise<'added' | 'replaced'> {
  checkNewUserName(name)
  for (const r of update.repos ?? []) {
    if (parseRepoList(r) === undefined) {
      throw new AppError('INVALID_ARGUMENT', `Invalid repository path "${r}"`, { hint: 'Use 1 or 2 segments such as "alice" or "alice/laptop", or "/" for all' })
    }
  }
  const text = (await readOptionalFile(path)) ?? ''
  if (text.trim() !== '') parseUsersFile(text, path) // refuse to edit a broken file
  const doc = yaml().parseDocument(text.trim() === '' ? 'users: {}\n' : text)
  if (doc.get('users') == null) doc.set('users', doc.createNode({}))
  const existed = doc.hasIn(['users', name])
  const entry: Record<string, unknown> = { password: update.passwordHash }
  const previous = existed ? (doc.getIn(['users', name], false) as { toJSON(): Record<string, unknown> }).toJSON() : {}
  entry.access = update.access ?? previous.access ?? 'full'
  const quota = update.quota ?? previous.quota
  if (quota !== undefined) entry.quota = quota
  const repos = update.repos ?? previous.repos
  if (repos !== undefined) entry.repos = repos
  doc.setIn(['users', name], doc.createNode(entry))
  await writeSecretFile(path, doc.toString())
  return existed ? 'replaced' : 'added'
}

/** Removes a user from a users file; false when the user (or the file) does not exist. */
export async function removeUsersFileUser(path: string, name: string): Promise<boolean> {
  const text = await readOptionalFile(path)
  if (text === undefined) return false
  parseUsersFile(text, path)
  const doc = yaml().parseDocument(text)
  if (!doc.hasIn(['users', name])) return false
  doc.deleteIn(['users', name])
  await writeSecretFile(path, doc.toString())
  return true
}

