import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { AppError } from '../../base/index.js'
import type { Access, Account } from './account.js'
import { parseHtpasswd } from './htpasswd.js'
import { hashPassword, verifyPassword } from './password-hash.js'
import { readOptionalFile } from './secret-file.js'
import { parseUsersFile } from './users-file.js'

/** Where credentials come from, and how often they are looked at again. */
export interface CredentialSources {
  /** An htpasswd file (bcrypt and {SHA}); its users get `htpasswdAccess`. */
  htpasswdFile?: string
  /** A users file (YAML) with per-user access, quota and repositories; wins over htpasswd for the same name. */
  usersFile?: string
  /** Access level of htpasswd users (default full). */
  htpasswdAccess?: Access
  /** The files are checked for changes (mtime, size) at most this often; default 5000 ms. */
  reloadCheckMs?: number
  /** A successful login is remembered this long (bcrypt is slow on purpose); default 60000 ms. */
  cacheMs?: number
  /** Reload results and problems (never a password or hash). */
  onMessage?: (message: string) => void
  /** Clock in ms, for tests. */
  now?: () => number
}

interface Stored {
  hash: string
  account: Account
}

interface FileStamp {
  mtimeMs: number
  size: number
}

/**
 * The users a server knows, from an htpasswd file and/or a users file, with rest-server's
 * habits: files are reloaded when their mtime or size changes (checked at most every few
 * seconds, and on reload()), and successful logins are cached briefly. A reload that fails keeps
 * the previous users.
 *
 * @example
 * const store = await CredentialStore.open({ htpasswdFile: '/srv/restic/.htpasswd' })
 * const account = await store.authenticate('alice', 'secret') // undefined when wrong
 */
export class CredentialStore {
  readonly #sources: CredentialSources
  readonly #now: () => number
  readonly #decoys = new Map<number, Promise<string>>()
  #users = new Map<string, Stored>()
  #stamps = new Map<string, FileStamp | undefined>()
  #cache = new Map<string, { verifier: Buffer; expires: number }>()
  #nextCheck = 0
  #checking: Promise<void> | undefined

  private constructor(sources: CredentialSources) {
    this.#sources = sources
    this.#now = sources.now ?? Date.now
  }

  /** Loads the files; a missing or invalid file is an AppError('CONFIG') naming it. */
  static async open(sources: CredentialSources): Promise<CredentialStore> {
    if (sources.htpasswdFile === undefined && sources.usersFile === undefined) {
      throw new AppError('CONFIG', 'No credentials: neither an htpasswd file nor a users file was given', {
        hint: 'Give --htpasswd-file or --users-file, or --no-auth to serve without authentication',
      })
    }
    const store = new CredentialStore(sources)
    store.#users = await store.#load(true)
    store.#nextCheck = store.#now() + (sources.reloadCheckMs ?? 5000)
    return store
  }

  /** Number of users known. */
  get size(): number {
    return this.#users.size
  }

  /**
   * The account for a user name and password, or undefined when the user is unknown or the
   * password is wrong.
   */
  async authenticate(name: string, password: string): Promise<Account | undefined> {
    await this.#maybeReload()
    const stored = this.#users.get(name)
    if (stored === undefined) {
      // As long as a wrong password of a real user takes: the time of a login must not tell
      // which user names exist.
      const decoy = this.#decoy()
      if (decoy !== undefined) await verifyPassword(await decoy, password)
      return undefined
    }
    const verifier = createHash('sha256').update(`${name}:${password}`, 'utf8').digest()
    const cached = this.#cache.get(name)
    const now = this.#now()
    if (cached !== undefined && cached.expires > now && timingSafeEqual(cached.verifier, verifier)) {
      cached.expires = now + (this.#sources.cacheMs ?? 60_000)
      return stored.account
    }
    const users = this.#users
    if (!(await verifyPassword(stored.hash, password))) return undefined
    // A reload while bcrypt ran may have removed or changed the user.
    if (this.#users !== users && this.#users.get(name)?.hash !== stored.hash) return undefined
    this.#cache.set(name, { verifier, expires: now + (this.#sources.cacheMs ?? 60_000) })
    return this.#users.get(name)?.account ?? stored.account
  }

  /** A bcrypt hash of the cost the users' hashes have (none when no user has one), made once per cost. */
  #decoy(): Promise<string> | undefined {
    let cost: number | undefined
    for (const u of this.#users.values()) {
      const m = /^\$2[aby]\$(\d\d)\$/.exec(u.hash)
      if (m !== null) {
        cost = Number(m[1])
        break
      }
    }
    if (cost === undefined) return undefined
    let made = this.#decoys.get(cost)
    if (made === undefined) this.#decoys.set(cost, (made = hashPassword(randomBytes(16).toString('hex'), cost)))
    return made
  }

  /** Reads the files again now (for SIGHUP). Throws when a file is broken; the old users stay. */
  async reload(): Promise<void> {
    const users = await this.#load(false)
    this.#replace(users)
  }

  #replace(users: Map<string, Stored>): void {
    this.#users = users
    this.#cache.clear()
    this.#sources.onMessage?.(`credentials reloaded: ${users.size} users`)
  }

  #maybeReload(): Promise<void> {
    const now = this.#now()
    if (now < this.#nextCheck) return Promise.resolve()
    this.#nextCheck = now + (this.#sources.reloadCheckMs ?? 5000)
    this.#checking ??= this.#checkFiles().finally(() => (this.#checking = undefined))
    return this.#checking
  }

  async #checkFiles(): Promise<void> {
    let changed = false
    for (const file of this.#files()) {
      const stamp = await stampOf(file).catch(() => undefined)
      const old = this.#stamps.get(file)
      if (stamp?.mtimeMs !== old?.mtimeMs || stamp?.size !== old?.size) changed = true
    }
    if (!changed) return
    try {
      this.#replace(await this.#load(false))
    } catch (err) {
      this.#sources.onMessage?.(`credentials not reloaded, keeping the previous users: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  #files(): string[] {
    return [this.#sources.htpasswdFile, this.#sources.usersFile].filter((f): f is string => f !== undefined)
  }

  async #load(first: boolean): Promise<Map<string, Stored>> {
    const users = new Map<string, Stored>()
    const stamps = new Map<string, FileStamp | undefined>()
    const { htpasswdFile, usersFile } = this.#sources
    if (htpasswdFile !== undefined) {
      stamps.set(htpasswdFile, await stampOf(htpasswdFile).catch(() => undefined))
      const text = await readOptionalFile(htpasswdFile)
      if (text === undefined) {
        throw new AppError('CONFIG', `Cannot load htpasswd file "${htpasswdFile}": it does not exist`, {
          hint: 'Create it (htpasswd -B -c FILE NAME, or cairn serve rest --create-user NAME), or use --no-auth',
        })
      }
      const parsed = parseHtpasswd(text)
      for (const s of parsed.skipped) this.#sources.onMessage?.(`htpasswd file "${htpasswdFile}": ignoring ${s}`)
      const access = this.#sources.htpasswdAccess ?? 'full'
      for (const [name, hash] of parsed.users) users.set(name, { hash, account: { name, access } })
    }
    if (usersFile !== undefined) {
      stamps.set(usersFile, await stampOf(usersFile).catch(() => undefined))
      const text = await readOptionalFile(usersFile)
      if (text === undefined) {
        throw new AppError('CONFIG', `Users file "${usersFile}" does not exist`, {
          hint: 'Create it with "cairn serve rest --users-file FILE --create-user NAME"',
        })
      }
      for (const u of parseUsersFile(text, usersFile).values()) {
        const account: Account = { name: u.name, access: u.access }
        if (u.quota !== undefined) account.quota = u.quota
        if (u.repos !== undefined) account.repos = u.repos
        users.set(u.name, { hash: u.passwordHash, account })
      }
    }
    if (first && users.size === 0) this.#sources.onMessage?.('no users in the credential files: every request will be refused with 401')
    this.#stamps = stamps
    return users
  }
}

async function stampOf(path: string): Promise<FileStamp> {
  const st = await stat(path)
  return { mtimeMs: st.mtimeMs, size: st.size }
}
