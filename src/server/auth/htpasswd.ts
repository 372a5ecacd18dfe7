import { checkNewUserName, isValidUserName } from './account.js'
import { isSupportedHash } from './password-hash.js'
import { readOptionalFile, writeSecretFile } from './secret-file.js'

/** An htpasswd file read as rest-server reads it. */
export interface HtpasswdEntries {
  /** User name → password hash, for lines with a valid user name. */
  users: Map<string, string>
  /** One message per line that was skipped (bad user name, unsupported hash), without the hash. */
  skipped: string[]
}

/**
 * Parses htpasswd text as rest-server does: `name:hash` lines, `#` comments and blank lines
 * skipped, leading spaces trimmed, names limited to letters, digits, `@`, `.`, `_`, `-`. Lines
 * whose hash is neither bcrypt nor `{SHA}` are kept out (they could never match) and reported.
 *
 * @example
 * parseHtpasswd('alice:$2y$05$…\n# comment\n').users.get('alice')
 */
export function parseHtpasswd(text: string): HtpasswdEntries {
  const users = new Map<string, string>()
  const skipped: string[] = []
  const lines = text.split(/\r?\n/)
  lines.forEach((raw, i) => {
    const line = raw.trimStart()
    if (line === '' || line.startsWith('#')) return
    const colon = line.indexOf(':')
    if (colon < 0) {
      skipped.push(`line ${i + 1}: no ":" between user name and hash`)
      return
    }
    const name = line.slice(0, colon)
    const rest = line.slice(colon + 1).trimStart()
    const end = rest.indexOf(':')
    const hash = (end < 0 ? rest : rest.slice(0, end)).trimEnd()
    if (!isValidUserName(name)) {
      skipped.push(`line ${i + 1}: invalid user name "${name}" (use letters, digits, "@", ".", "_" and "-")`)
      return
    }
    if (!isSupportedHash(hash)) {
      skipped.push(`line ${i + 1}: user "${name}" has a hash that is neither bcrypt nor {SHA} (MD5/apr1 and crypt are not supported)`)
      return
    }
    users.set(name, hash)
  })
  return { users, skipped }
}

/**
 * Adds a user to an htpasswd file or replaces their hash, keeping every other line as it is;
 * creates the file (mode 0600) when missing.
 */
export async function setHtpasswdUser(path: string, name: string, hash: string): Promise<'added' | 'replaced'> {
  checkNewUserName(name)
  const text = (await readOptionalFile(path)) ?? ''
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n')
  const at = lines.findIndex((l) => l.trimStart().startsWith(`${name}:`))
  if (at >= 0) lines[at] = `${name}:${hash}`
  else lines.push(`${name}:${hash}`)
  await writeSecretFile(path, lines.join('\n') + '\n')
  return at >= 0 ? 'replaced' : 'added'
}

/** Removes a user's line from an htpasswd file; false when there was none. */
export async function removeHtpasswdUser(path: string, name: string): Promise<boolean> {
  const text = await readOptionalFile(path)
  if (text === undefined) return false
  const lines = text.replace(/\n$/, '').split('\n')
  const kept = lines.filter((l) => !l.trimStart().startsWith(`${name}:`))
  if (kept.length === lines.length) return false
  await writeSecretFile(path, kept.length === 0 ? '' : kept.join('\n') + '\n')
  return true
}

