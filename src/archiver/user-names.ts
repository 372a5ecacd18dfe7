import { readFileSync } from 'node:fs'

/** Where the account databases live; tests point these at their own files. */
export interface UserNamesOptions {
  passwdFile?: string
  groupFile?: string
}

/**
 * Maps uids and gids to account names for the `user` and `group` node fields.
 *
 * Node has no getpwuid, so this reads /etc/passwd and /etc/group, as Go's pure-Go os/user
 * lookup (the one in restic's static builds) does: the first line with a matching id wins, and
 * accounts that only a directory service knows (LDAP, sssd) get no name. Each file is read once,
 * on first use, so one instance should serve a whole backup. A missing or unreadable file means
 * no names, never an error: names are informative and restore goes by the numeric ids.
 *
 * @example
 * const names = new UserNames()
 * names.user(0) // 'root'
 */
export class UserNames {
  #passwdFile: string
  #groupFile: string
  #users: Map<number, string> | undefined
  #groups: Map<number, string> | undefined

  constructor(options: UserNamesOptions = {}) {
    this.#passwdFile = options.passwdFile ?? '/etc/passwd'
    this.#groupFile = options.groupFile ?? '/etc/group'
  }

  /** The login name of `uid`, or undefined when the passwd file has none. */
  user(uid: number): string | undefined {
    this.#users ??= readIdNames(this.#passwdFile)
    return this.#users.get(uid)
  }

  /** The name of group `gid`, or undefined when the group file has none. */
  group(gid: number): string | undefined {
    this.#groups ??= readIdNames(this.#groupFile)
    return this.#groups.get(gid)
  }
}

// Both files share the shape name:password:id:…; the id is the third field.
function readIdNames(file: string): Map<number, string> {
  const names = new Map<number, string>()
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return names
  }
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue
    const first = line.indexOf(':')
    const second = first < 0 ? -1 : line.indexOf(':', first + 1)
    if (first <= 0 || second < 0) continue
    let third = line.indexOf(':', second + 1)
    if (third < 0) third = line.length
    const idText = line.slice(second + 1, third)
    if (!/^[0-9]+$/.test(idText)) continue
    const id = Number(idText)
    if (!names.has(id)) names.set(id, line.slice(0, first))
  }
  return names
}
