import { readFile } from 'node:fs/promises'
import { AppError, createLimit, errnoCode, messageOf, type Id } from '../base/index.js'
import { openKeyFile, parseKeyFile, type ScryptParams } from '../crypto/index.js'
import type { Repository } from '../repository/index.js'
import { parseGoTime } from '../snapshots/index.js'

/** One key file: a password that opens the repository. */
export interface KeyInfo {
  id: Id
  /** True for the key this session opened the repository with. */
  current: boolean
  username: string
  hostname: string
  /** Go RFC 3339 time text, as stored. */
  created: string
}

export interface NewKeyRequest {
  password: string
  /** Stored in the key file; default: the current user and host, as restic does. */
  username?: string
  hostname?: string
  /** scrypt parameters; default: calibrated on this machine (about half a second), as restic does. */
  scrypt?: ScryptParams
}

type KeyRepo = Pick<Repository, 'backend' | 'keyId' | 'key' | 'addKey' | 'listIds'>

/**
 * Every key file, oldest first. Key files that cannot be read or parsed are reported through
 * `onWarning` and left out, as restic does.
 *
 * @example
 * for (const k of await listKeys(repo)) console.log(k.current ? '*' : ' ', k.id.slice(0, 8), k.username)
 */
export async function listKeys(repo: KeyRepo, onWarning: (message: string) => void = () => {}): Promise<KeyInfo[]> {
  const ids = await repo.listIds('keys')
  const limit = createLimit(8)
  const keys = await Promise.all(
    ids.map((id) =>
      limit(async (): Promise<KeyInfo | undefined> => {
        try {
          const k = parseKeyFile(await repo.backend.load({ type: 'keys', name: id }))
          return { id, current: id === repo.keyId, username: k.username, hostname: k.hostname, created: k.created }
        } catch (err) {
          onWarning(`Cannot read key file ${id.slice(0, 8)}: ${messageOf(err)}`)
          return undefined
        }
      }),
    ),
  )
  const createdNs = (k: KeyInfo) => {
    try {
      return parseGoTime(k.created)
    } catch {
      return 0n
    }
  }
  return keys
    .filter((k): k is KeyInfo => k !== undefined)
    .sort((a, b) => {
      const d = createdNs(a) - createdNs(b)
      return d < 0n ? -1 : d > 0n ? 1 : a.id < b.id ? -1 : 1
    })
}

/**
 * Adds a key file for another password, then opens it with that password to be sure it gives
 * this repository's master key; a key that does not is removed again (a broken key must never
 * stay behind). Returns the new key's ID.
 *
 * @example
 * const id = await addKey(repo, { password: 'second password' })
 */
export async function addKey(repo: KeyRepo, req: NewKeyRequest): Promise<Id> {
  if (req.password === '') throw new AppError('INVALID_ARGUMENT', 'An empty password is not allowed', { hint: 'Choose a non-empty password' })
  const id = await repo.addKey(req.password, req.scrypt, {
    username: req.username || undefined,
    hostname: req.hostname || undefined,
  })
  try {
    const key = await openKeyFile(await repo.backend.load({ type: 'keys', name: id }), req.password)
    if (!key.encrypt.equals(repo.key.encrypt) || !key.macK.equals(repo.key.macK) || !key.macR.equals(repo.key.macR)) {
      throw new AppError('INTERNAL', 'the key file holds a different master key')
    }
  } catch (err) {
    await repo.backend.remove({ type: 'keys', name: id }).catch(() => {})
    throw new AppError('INTERNAL', `Cannot use the new key: ${messageOf(err)}`, { hint: 'The new key was removed again; nothing changed', cause: err })
  }
  return id
}

/**
 * Removes a key file, given by its ID or a unique prefix. The key this session uses is refused:
 * removing it could lock everyone out.
 *
 * @example
 * await removeKey(repo, '1a2b3c4d')
 */
export async function removeKey(repo: KeyRepo, idOrPrefix: string): Promise<Id> {
  const id = await resolveKeyId(repo, idOrPrefix)
  if (id === repo.keyId) {
    throw new AppError('INVALID_ARGUMENT', `Refusing to remove key ${id.slice(0, 8)}: it is the key currently used to access the repository`, {
      hint: 'Open the repository with another password (or --key-hint) to remove this key',
    })
  }
  // Another session may have removed this session's key since it was opened (two "key remove"
  // runs, each removing the other's key, left none): the key in use must still be there.
  const ids = await repo.listIds('keys')
  if (!ids.includes(repo.keyId)) {
    throw new AppError('INVALID_ARGUMENT', `Refusing to remove key ${id.slice(0, 8)}: the key this session opened the repository with (${repo.keyId.slice(0, 8)}) was removed meanwhile, and removing another could leave no key at all`, {
      hint: 'Run "cairn key list" with a password that still works, and remove keys from that session',
    })
  }
  await repo.backend.remove({ type: 'keys', name: id })
  return id
}

/**
 * Changes the password: adds a key for the new password (checked as in addKey), then removes
 * the key this session used. Returns both IDs.
 *
 * @example
 * const { newId, oldId } = await changePassword(repo, { password: 'new password' })
 */
export async function changePassword(repo: KeyRepo, req: NewKeyRequest): Promise<{ newId: Id; oldId: Id }> {
  const oldId = repo.keyId
  const newId = await addKey(repo, req)
  await repo.backend.remove({ type: 'keys', name: oldId })
  return { newId, oldId }
}

async function resolveKeyId(repo: KeyRepo, given: string): Promise<Id> {
  const prefix = given.toLowerCase()
  if (!/^[0-9a-f]{1,64}$/.test(prefix)) {
    throw new AppError('INVALID_ARGUMENT', `Invalid key ID "${given}"`, { hint: 'Give a key ID or a unique prefix of one, as "cairn key list" shows them' })
  }
  const hits = (await repo.listIds('keys')).filter((id) => id.startsWith(prefix))
  if (hits.length === 0) throw new AppError('NOT_FOUND', `No key with ID "${given}"`, { hint: 'List the keys with "cairn key list"' })
  if (hits.length > 1) throw new AppError('INVALID_ARGUMENT', `Key ID prefix "${given}" is ambiguous (${hits.length} keys)`, { hint: 'Give more characters of the ID' })
  return hits[0]
}

export interface NewPasswordSource {
  /** --new-password-file: the whole file, trimmed of surrounding white space, as restic reads it. */
  file?: string
  /** Environment to look in for CAIRN_NEW_PASSWORD (scripts and tests). */
  env?: NodeJS.ProcessEnv
  /** Asks for it (twice on a terminal, as the caller arranges); undefined when it cannot. */
  prompt?: (question: string) => Promise<string>
}

/**
 * The new password for `key add` and `key passwd`: from --new-password-file, CAIRN_NEW_PASSWORD,
 * or asked for.
 */
export async function readNewPassword(src: NewPasswordSource): Promise<string> {
  if (src.file !== undefined && src.file !== '') {
    let text: string
    try {
      text = await readFile(src.file, 'utf8')
    } catch (err) {
      throw new AppError('NO_PASSWORD', `Cannot read new password file "${src.file}": ${errnoCode(err) ?? messageOf(err)}`, {
        hint: 'Check the path given with --new-password-file',
      })
    }
    return text.trim()
  }
  const env = (src.env ?? process.env).CAIRN_NEW_PASSWORD
  if (env !== undefined && env !== '') return env
  if (!src.prompt) {
    throw new AppError('NO_PASSWORD', 'No new password given', { hint: 'Use --new-password-file FILE, or set CAIRN_NEW_PASSWORD, or type it at a terminal' })
  }
  return src.prompt('enter new password: ')
}
