/**
 * A configured repository as a destination of a backup set: the options that open it (the
 * password from its file, command or environment variable; backend options and credentials),
 * and whether it can take a backup now (a removable drive that is absent, a local file system
 * short of its `min-free` space).
 */
import { statfs, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { AppError, errnoCode } from '../base/index.js'
import { parseRepositoryUrl, stripPassword } from '../backends/index.js'
import { formatByteSize, type EffectiveRepository } from '../config/index.js'
import type { RepositoryOptions } from './session.js'

/** Settings every destination shares: cache, notices, backend messages. */
export type SharedRepositoryOptions = Pick<RepositoryOptions, 'noCache' | 'cacheDir' | 'onNotice' | 'noLock' | 'retryLockMs'> & {
  onBackendMessage?: (message: string) => void
}

/**
 * How long a set's run waits for a repository lock that another process holds (restic's
 * --retry-lock), unless told otherwise: two timers that start at once would otherwise fail
 * the second's forget, and a prune run by hand the whole backup.
 */
export const SET_RETRY_LOCK_MS = 5 * 60_000

const PASSWORD_VARIABLES = /^(CAIRN|RESTIC)_PASSWORD(_FILE|_COMMAND)?$/

/**
 * Options that open the repository as configured. The password comes only from the repository's
 * own `password-*` setting, never from CAIRN_PASSWORD or RESTIC_PASSWORD of the caller's
 * environment (which belong to whatever -r names). Throws NO_PASSWORD when `password-env` names
 * an unset variable.
 */
export function repositoryOptionsFor(r: EffectiveRepository, shared: SharedRepositoryOptions = {}, env: NodeJS.ProcessEnv = process.env): RepositoryOptions {
  const clean: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(env).filter(([k]) => !PASSWORD_VARIABLES.test(k)))
  const passwordEnv: NodeJS.ProcessEnv = { ...clean }
  if (r.passwordEnv !== undefined) {
    const value = env[r.passwordEnv]
    if (value === undefined || value === '') {
      throw new AppError('NO_PASSWORD', `The environment variable ${r.passwordEnv} (password-env of repository "${r.name}") is not set`, {
        hint: `Export ${r.passwordEnv} before running cairn, or use password-file or password-command`,
      })
    }
    passwordEnv.CAIRN_PASSWORD = value
  }
  return {
    repo: r.url,
    ...(r.passwordFile === undefined ? {} : { passwordFile: r.passwordFile }),
    ...(r.passwordCommand === undefined ? {} : { passwordCommand: r.passwordCommand }),
    // where resolvePassword looks: the variable named by password-env, as CAIRN_PASSWORD
    env: passwordEnv,
    backend: {
      extended: r.options,
      ...(r.cacert.length > 0 ? { caCertFiles: r.cacert } : {}),
      ...(r.tlsClientCert === undefined ? {} : { tlsClientCertFile: r.tlsClientCert }),
      ...(r.limitUploadKiB === undefined ? {} : { limitUploadKiB: r.limitUploadKiB }),
      ...(r.limitDownloadKiB === undefined ? {} : { limitDownloadKiB: r.limitDownloadKiB }),
      env: { ...clean, ...r.env },
      ...(shared.onBackendMessage ? { onMessage: shared.onBackendMessage } : {}),
    },
    ...(shared.noCache === undefined ? {} : { noCache: shared.noCache }),
    ...(shared.cacheDir === undefined ? {} : { cacheDir: shared.cacheDir }),
    ...(shared.noLock === undefined ? {} : { noLock: shared.noLock }),
    // Unattended: another run (a second timer, a prune by hand) holding the lock is waited for.
    retryLockMs: shared.retryLockMs ?? SET_RETRY_LOCK_MS,
    ...(shared.onNotice ? { onNotice: shared.onNotice } : {}),
  }
}

/** The directory of a local repository, or undefined for other backends. */
export function localPath(url: string): string | undefined {
  try {
    const loc = parseRepositoryUrl(url)
    return loc.scheme === 'local' ? loc.path : undefined
  } catch {
    return undefined
  }
}

/** Whether a destination can take a backup now. */
export type Availability =
  | { kind: 'ready' }
  /** The repository directory does not exist, but where it would be does (it can be created). */
  | { kind: 'uninitialized' }
  /** A removable destination that is not there: skipped, not a failure. */
  | { kind: 'absent'; reason: string }
  /** A non-removable local destination whose directory does not exist; `hint` says how to make it. */
  | { kind: 'missing'; reason: string; hint: string }
  | { kind: 'low-space'; reason: string; freeBytes: number }

/**
 * How to create a local repository at `path`: `--init` creates the repository's own folder but
 * never its parent (a drive that is not mounted must not get a folder in its mount point).
 */
export async function createHint(path: string): Promise<string> {
  const parent = dirname(path)
  if (await exists(parent)) return 'create it with "cairn run --init" or "cairn -r URL init"'
  return `its parent folder "${parent}" does not exist either (is the disk mounted?); --init creates only the repository's own folder: create "${parent}", then run with --init`
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false
    throw err
  }
}

/**
 * Looks at a destination before a backup. Only local repositories can be looked at without
 * opening them: their directory must exist (`init` allows it to be missing when its parent
 * exists), and their file system must have `min-free` bytes free. Other backends are `ready`
 * here; whether they answer shows when they are opened.
 */
export async function probeDestination(r: EffectiveRepository, init = false): Promise<Availability> {
  const path = localPath(r.url)
  if (path === undefined) return { kind: 'ready' }
  const where = stripPassword(r.url)
  let present = await exists(path)
  if (!present) {
    if (init && (await exists(dirname(path)))) {
      // A drive's mount point (an fstab entry with nofail, a folder under /mnt) is there while
      // the drive is not: creating the repository there would put the drive's backups on the
      // system disk, and make the drive look present ever after.
      if (r.removable && (await onRootFileSystem(dirname(path)))) {
        return { kind: 'absent', reason: `drive not present: "${dirname(path)}" is on the system's root file system, not on a mounted drive, so --init does not create "${where}" there` }
      }
      present = true
    } else if (r.removable) return { kind: 'absent', reason: `drive not present ("${where}" does not exist)` }
    else return { kind: 'missing', reason: `repository "${r.name}" at "${where}" does not exist`, hint: await createHint(path) }
  }
  if (r.minFree !== undefined) {
    const fs = await statfs((await exists(path)) ? path : dirname(path))
    const free = Number(fs.bavail) * Number(fs.bsize)
    if (free < r.minFree) {
      return { kind: 'low-space', freeBytes: free, reason: `low space: ${formatByteSize(free)} free at "${where}", below min-free ${formatByteSize(r.minFree)}` }
    }
  }
  return (await exists(path)) ? { kind: 'ready' } : { kind: 'uninitialized' }
}

/** Whether `path` lies on the file system mounted at `/`. */
async function onRootFileSystem(path: string): Promise<boolean> {
  const [here, root] = await Promise.all([stat(path), stat('/')])
  return here.dev === root.dev
}
