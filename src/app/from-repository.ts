import { readFile } from 'node:fs/promises'
import { AppError, errnoCode, isAppError, messageOf } from '../base/index.js'
import { stripPassword } from '../backends/index.js'
import type { Repository } from '../repository/index.js'
import { openRepository, usingRepository, type LockMode, type RepositoryOptions } from './session.js'
import { NOT_GIVEN } from './password.js'

/**
 * restic's `--from-*` flags: a second repository beside the main one, the source of `copy` and
 * the donor of chunker parameters for `init --copy-chunker-params`. Each flag falls back to its
 * environment variable, CAIRN_FROM_* before RESTIC_FROM_* (e.g. RESTIC_FROM_REPOSITORY,
 * RESTIC_FROM_PASSWORD_FILE); the password itself only comes from CAIRN_FROM_PASSWORD or
 * RESTIC_FROM_PASSWORD, never from the main repository's variables.
 */
export interface FromRepositoryFlags {
  fromRepo?: string
  fromRepositoryFile?: string
  fromPasswordFile?: string
  fromPasswordCommand?: string
  fromKeyHint?: string
}

const PASSWORD_HINT = 'Set CAIRN_FROM_PASSWORD (or RESTIC_FROM_PASSWORD), or use --from-password-file or --from-password-command'

/**
 * A hint about the password of the repository, said of the source repository instead: the
 * variables and flags it names are the --from ones.
 *
 * @example
 * sourceHint('give it with CAIRN_PASSWORD or --password-file') // 'give it with CAIRN_FROM_PASSWORD or --from-password-file'
 */
export function sourceHint(hint: string): string {
  return hint.replace(/\b(CAIRN|RESTIC)_PASSWORD(_FILE|_COMMAND)?\b/g, '$1_FROM_PASSWORD$2').replace(/(^|[^-\w])--password-(file|command)\b/g, '$1--from-password-$2')
}

/** The first non-empty value. */
function pick(...values: (string | undefined)[]): string | undefined {
  return values.find((v) => v !== undefined && v !== '')
}

/** True when a `--from-*` flag names a repository (init refuses those without --copy-chunker-params). */
export function namesFromRepository(flags: FromRepositoryFlags): boolean {
  return pick(flags.fromRepo, flags.fromRepositoryFile) !== undefined
}

/**
 * The URL of the second repository: `--from-repo` or the first line of `--from-repository-file`
 * (each flag before the environment).
 */
export async function fromRepositoryUrl(flags: FromRepositoryFlags, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const flagRepo = pick(flags.fromRepo)
  const flagFile = pick(flags.fromRepositoryFile)
  if (flagRepo !== undefined && flagFile !== undefined) {
    throw new AppError('INVALID_ARGUMENT', 'Options --from-repo and --from-repository-file are mutually exclusive, please specify only one')
  }
  let repo = flagRepo
  let file = flagFile
  if (repo === undefined && file === undefined) {
    repo = pick(env.CAIRN_FROM_REPOSITORY, env.RESTIC_FROM_REPOSITORY)
    if (repo === undefined) file = pick(env.CAIRN_FROM_REPOSITORY_FILE, env.RESTIC_FROM_REPOSITORY_FILE)
  }
  if (repo !== undefined) return repo
  if (file === undefined) {
    throw new AppError('INVALID_ARGUMENT', 'Please specify a source repository location (--from-repo or --from-repository-file)', {
      hint: 'Or set CAIRN_FROM_REPOSITORY (RESTIC_FROM_REPOSITORY)',
    })
  }
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new AppError('INVALID_ARGUMENT', `Cannot read the source repository file "${file}": ${errnoCode(err) ?? messageOf(err)}`, {
      hint: 'Check the path given with --from-repository-file',
    })
  }
  const url = text.trim()
  if (url === '') throw new AppError('INVALID_ARGUMENT', `The source repository file "${file}" is empty`, { hint: 'Write the repository URL into it' })
  return url
}

/**
 * Options that open the second repository: its URL, key hint and password sources from the
 * `--from-*` flags, and everything else (backend options, cache, locking, prompt) from `base`.
 */
export async function fromRepositoryOptions(base: RepositoryOptions, flags: FromRepositoryFlags): Promise<RepositoryOptions> {
  const env = base.env ?? process.env
  const repo = await fromRepositoryUrl(flags, env)
  const passwordFile = pick(flags.fromPasswordFile, env.CAIRN_FROM_PASSWORD_FILE, env.RESTIC_FROM_PASSWORD_FILE)
  const passwordCommand = pick(flags.fromPasswordCommand, env.CAIRN_FROM_PASSWORD_COMMAND, env.RESTIC_FROM_PASSWORD_COMMAND)
  if (passwordFile !== undefined && passwordCommand !== undefined) {
    throw new AppError('INVALID_ARGUMENT', 'Source password file and command are mutually exclusive options', {
      hint: 'Give only one of --from-password-file and --from-password-command (or their variables)',
    })
  }
  // The password resolver reads CAIRN_PASSWORD and friends: hand it the FROM_ values under
  // those names, and none of the main repository's.
  const sourceEnv: NodeJS.ProcessEnv = { ...env }
  for (const name of ['PASSWORD', 'PASSWORD_FILE', 'PASSWORD_COMMAND', 'REPOSITORY', 'REPOSITORY_FILE', 'KEY_HINT']) {
    delete sourceEnv[`CAIRN_${name}`]
    delete sourceEnv[`RESTIC_${name}`]
  }
  const password = pick(env.CAIRN_FROM_PASSWORD, env.RESTIC_FROM_PASSWORD)
  if (password !== undefined) sourceEnv.CAIRN_PASSWORD = password
  const prompt = base.prompt
  return {
    ...base,
    repo,
    env: sourceEnv,
    passwordFile,
    passwordCommand,
    keyHint: pick(flags.fromKeyHint, env.CAIRN_FROM_KEY_HINT, env.RESTIC_FROM_KEY_HINT),
    prompt: prompt === undefined ? undefined : () => prompt('enter password for source repository: '),
  }
}

/**
 * Opens the second repository. Errors say that it is the source repository that failed (wrong
 * password → WRONG_PASSWORD, exit 12; nothing there → NO_REPOSITORY, exit 10).
 */
export async function openFromRepository(base: RepositoryOptions, flags: FromRepositoryFlags): Promise<Repository> {
  const o = await fromRepositoryOptions(base, flags)
  const where = stripPassword(o.repo ?? '')
  try {
    return await openRepository(o)
  } catch (err) {
    if (isAppError(err, 'WRONG_PASSWORD')) {
      throw new AppError('WRONG_PASSWORD', `Wrong password for the source repository "${where}", or no key found`, { hint: PASSWORD_HINT, cause: err })
    }
    if (isAppError(err, 'NO_PASSWORD')) {
      // A password file that cannot be read, or a command that failed, says so; only a password
      // not given at all gets the advice to give one.
      const missing = err.message === NOT_GIVEN
      const message = missing ? `No password given for the source repository "${where}"` : `${err.message} (for the source repository "${where}")`
      const hint = missing ? PASSWORD_HINT : err.hint === undefined ? undefined : sourceHint(err.hint)
      throw new AppError('NO_PASSWORD', message, { ...(hint === undefined ? {} : { hint }), cause: err })
    }
    if (isAppError(err, 'NO_REPOSITORY')) {
      throw new AppError('NO_REPOSITORY', `Cannot open the source repository "${where}": no repository found there (config file missing)`, {
        hint: 'Check the location given with --from-repo or --from-repository-file',
        cause: err,
      })
    }
    throw err
  }
}

/**
 * Runs `fn` with the second repository open and locked as `mode` asks (unless `base.noLock`);
 * the lock is released and the backend closed whatever happens.
 */
export async function withFromRepository<T>(
  base: RepositoryOptions,
  flags: FromRepositoryFlags,
  mode: LockMode,
  fn: (repo: Repository) => Promise<T>,
): Promise<T> {
  return usingRepository(await openFromRepository(base, flags), mode, base, fn)
}
