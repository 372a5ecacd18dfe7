/**
 * A head start for the program's entry point: before the rest of cairn loads (about 0.4 s),
 * find the repository and password that the command line and environment name, read the key
 * files and start their key derivations (scrypt, about 0.4 s on the thread pool), so that the
 * two overlap instead of following each other. The command later derives the same keys as
 * always and finds them done (crypto/early-scrypt.ts).
 *
 * Only plain cases are handled: a local repository (from -r/--repo, CAIRN_REPOSITORY or
 * RESTIC_REPOSITORY, or the embedded default), and a password from the environment, a password
 * file or the default's file. Anything else (a remote repository, a password command, a prompt,
 * an error) starts nothing. Imports only crypto's early-scrypt entry and base, so that it loads
 * quickly.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { startEarlyDerivation } from '../crypto/early-scrypt.js'
import { defaultRepository } from './default-repository.js'
import { passwordFromText } from './password.js'

/**
 * Key files derived ahead, in the order the repository tries them: the first (or the one
 * --key-hint names). Each derivation holds 32 MiB for 0.4 s, wasted when the password belongs
 * to another key; most repositories have one.
 */
const EARLY_KEYS = 1

/** Starts the key derivations a command would do; returns how many it started. */
export function startKeyDerivationEarly(argv: readonly string[], env: NodeJS.ProcessEnv): number {
  try {
    const flags = globalFlags(argv)
    if (flags.passwordCommand || flags.help) return 0
    const given = flags.repo ?? env.CAIRN_REPOSITORY ?? env.RESTIC_REPOSITORY
    const isDefault = given === undefined || given === ''
    const url = isDefault ? defaultRepository(env).repository : given
    const dir = localPath(url)
    if (dir === undefined) return 0
    const password = passwordOf(flags, env, isDefault)
    if (password === undefined) return 0
    const names = readdirSync(join(dir, 'keys')).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort()
    const hint = flags.keyHint
    if (hint !== undefined) {
      const i = names.findIndex((n) => n.startsWith(hint))
      if (i > 0) names.unshift(...names.splice(i, 1))
    }
    let started = 0
    for (const name of names.slice(0, EARLY_KEYS)) {
      startEarlyDerivation(readFileSync(join(dir, 'keys', name)), password)
      started++
    }
    return started
  } catch {
    return 0
  }
}

interface EarlyFlags {
  repo?: string
  passwordFile?: string
  passwordCommand?: boolean
  keyHint?: string
  help?: boolean
}

/** The global flags that name a repository and password, read the way commander reads them. */
function globalFlags(argv: readonly string[]): EarlyFlags {
  const f: EarlyFlags = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--') break
    const [name, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
    const value = (): string | undefined => inline ?? argv[++i]
    if (name === '-r' || name === '--repo') f.repo = value()
    else if (name.startsWith('-r') && name.length > 2 && !name.startsWith('--')) f.repo = name.slice(2)
    else if (name === '-p' || name === '--password-file') f.passwordFile = value()
    else if (name === '--password-command') f.passwordCommand = true
    else if (name === '--key-hint') f.keyHint = value()
    else if (name === '-h' || name === '--help' || name === 'help') f.help = true
  }
  return f
}

/** The directory of a local repository location, or undefined for any other backend. */
function localPath(url: string): string | undefined {
  if (url.startsWith('local:')) return resolve(url.slice('local:'.length))
  const colon = url.indexOf(':')
  const slash = url.indexOf('/')
  if (colon >= 0 && (slash < 0 || colon < slash)) return undefined
  return resolve(url)
}

/** The password the command will use, as resolvePassword() and the default repository pick it. */
function passwordOf(f: EarlyFlags, env: NodeJS.ProcessEnv, isDefault: boolean): string | undefined {
  const given = (v: string | undefined) => (v === undefined || v === '' ? undefined : v)
  if (f.passwordFile !== undefined) return passwordInFile(f.passwordFile)
  // The CAIRN_* set when any of it is set, else the RESTIC_* one, as resolvePassword() takes them.
  const prefix = ['CAIRN_PASSWORD', 'CAIRN_PASSWORD_FILE', 'CAIRN_PASSWORD_COMMAND'].some((v) => given(env[v]) !== undefined) ? 'CAIRN' : 'RESTIC'
  if (given(env[`${prefix}_PASSWORD_COMMAND`]) !== undefined) return undefined
  const file = given(env[`${prefix}_PASSWORD_FILE`])
  if (file !== undefined) return passwordInFile(file)
  const direct = given(env[`${prefix}_PASSWORD`])
  if (direct !== undefined) return direct
  if (isDefault) return passwordInFile(defaultRepository(env).passwordFile)
  return undefined
}

/** The password in a regular file. Anything else (a pipe such as `<(pass show x)`, /dev/stdin) is left for the command to read: reading it here would use it up. */
function passwordInFile(file: string): string {
  if (!statSync(file).isFile()) throw new Error(`${file} is not a regular file`)
  return passwordFromText(readFileSync(file, 'utf8'))
}
