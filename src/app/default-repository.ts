import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { errnoCode } from '../base/index.js'
import { passwordFromText } from './password.js'

/**
 * The embedded default: with no repository given, cairn uses a local repository under the
 * user's data directory, protected by a random password kept in a 0600 file in the config
 * directory. Users who want their own can always pass -r and a password.
 */
export interface DefaultRepository {
  repository: string
  passwordFile: string
}

export function defaultRepository(env: NodeJS.ProcessEnv = process.env): DefaultRepository {
  const home = env.HOME ?? homedir()
  const data = env.XDG_DATA_HOME && env.XDG_DATA_HOME !== '' ? env.XDG_DATA_HOME : join(home, '.local', 'share')
  const config = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(home, '.config')
  return { repository: join(data, 'cairn', 'repository'), passwordFile: join(config, 'cairn', 'repository.password') }
}

/** Returns the default password, creating a random one (and its file) on first use. */
export async function ensureDefaultPassword(file: string): Promise<{ password: string; created: boolean }> {
  const existing = await readDefaultPassword(file)
  if (existing !== undefined) return { password: existing, created: false }
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  const password = randomBytes(24).toString('base64url')
  await writeFile(file, password + '\n', { mode: 0o600, flag: 'wx' })
  return { password, created: true }
}

/** The default repository's password from its file, or undefined when there is no such file. */
export async function readDefaultPassword(file: string): Promise<string | undefined> {
  try {
    return passwordFromText(await readFile(file, 'utf8'))
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err
    return undefined
  }
}
