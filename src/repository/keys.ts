import { hostname, userInfo } from 'node:os'
import { AppError, hashId, isAppError, type Id } from '../base/index.js'
import type { Backend } from '../backends/index.js'
import { createKeyFile, openKeyFile, type MasterKey, type ScryptParams } from '../crypto/index.js'

/** restic gives up after this many key files; so do we. */
export const MAX_KEYS_TRIED = 20

/**
 * Finds the key file that `password` opens: the hinted one first, then every other.
 * Throws WRONG_PASSWORD when none does.
 */
export async function openMasterKey(
  backend: Backend,
  password: string,
  options: { keyHint?: string; maxKeys?: number } = {},
): Promise<{ keyId: Id; key: MasterKey }> {
  const names: string[] = []
  for await (const f of backend.list('keys', { namesOnly: true })) names.push(f.name)
  if (names.length === 0) {
    throw new AppError('INVALID_DATA', `Repository "${backend.location}" has no key files`, {
      hint: 'The keys/ folder is empty or unreadable; without a key file the repository cannot be opened',
    })
  }
  names.sort()
  const hint = options.keyHint
  if (hint !== undefined) {
    const i = names.findIndex((n) => n.startsWith(hint))
    if (i > 0) names.unshift(...names.splice(i, 1))
  }
  const max = options.maxKeys ?? MAX_KEYS_TRIED
  // A key file is named by the hash of its content: one that no longer matches is damaged, and
  // a wrong password cannot be told from that by decrypting it.
  const damaged: string[] = []
  for (const name of names.slice(0, max)) {
    const bytes = await backend.load({ type: 'keys', name })
    try {
      return { keyId: name, key: await openKeyFile(bytes, password) }
    } catch (err) {
      if (isAppError(err, 'WRONG_PASSWORD') || isAppError(err, 'INVALID_DATA')) {
        if (/^[0-9a-f]{64}$/.test(name) && hashId(bytes) !== name) damaged.push(name)
        continue
      }
      throw err
    }
  }
  const also = damaged.length === 0 ? '' : `; key file${damaged.length === 1 ? '' : 's'} ${damaged.map((d) => d.slice(0, 8)).join(', ')} ${damaged.length === 1 ? 'is' : 'are'} damaged (content does not match the name)`
  throw new AppError('WRONG_PASSWORD', `Wrong password for repository "${backend.location}", or no key found${also}`, {
    hint:
      damaged.length === 0
        ? 'Check CAIRN_PASSWORD / RESTIC_PASSWORD, --password-file or --password-command'
        : 'If the password is right, its key file is among the damaged ones: put back a copy of keys/ from a backup of the repository',
  })
}

/** Writes a new key file wrapping `master` with `password`; returns its ID. */
export async function addKeyFile(
  backend: Backend,
  master: MasterKey,
  password: string,
  params: ScryptParams,
  info: { username?: string; hostname?: string } = {},
): Promise<Id> {
  const { bytes } = await createKeyFile(password, master, {
    params,
    username: info.username ?? safeUsername(),
    hostname: info.hostname ?? hostname(),
  })
  const id = hashId(bytes)
  await backend.save({ type: 'keys', name: id }, bytes)
  return id
}

function safeUsername(): string {
  try {
    return userInfo().username
  } catch {
    return ''
  }
}
