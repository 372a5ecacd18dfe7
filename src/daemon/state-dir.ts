/**
 * The daemon's state directory: `$XDG_STATE_HOME/cairn`, else `~/.local/state/cairn`. It holds
 * the run history (history.sqlite), the API token (api-token, mode 0600) and, while the daemon
 * runs, where its API listens (daemon.json), which `cairn status` and `cairn runs` read.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AppError, errnoCode, messageOf } from '../base/index.js'
import { processRuns } from '../app/index.js'

export { stateDirectory } from '../config/index.js'

/** Creates the state directory (mode 0700) if needed. */
export function ensureStateDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new AppError('IO', `Cannot create the state directory "${dir}": ${messageOf(err)}`, {
      hint: 'Set XDG_STATE_HOME or --state-dir to a writable directory',
      cause: err,
    })
  }
}

/** The file names inside the state directory. */
export const STATE_FILES = { history: 'history.sqlite', token: 'api-token', info: 'daemon.json' } as const

/**
 * The API token, created (32 random bytes, base64url, mode 0600) on first use. A token file
 * others can read is made private again.
 */
export function readOrCreateToken(dir: string): string {
  const path = join(dir, STATE_FILES.token)
  try {
    const token = readFileSync(path, 'utf8').trim()
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600)
    if (token !== '') return token
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw tokenError(path, err)
  }
  ensureStateDirectory(dir)
  const token = randomBytes(32).toString('base64url')
  try {
    writeFileSync(path, `${token}\n`, { mode: 0o600 })
    chmodSync(path, 0o600)
  } catch (err) {
    throw tokenError(path, err)
  }
  return token
}

/** The API token, or an error saying the daemon has not made one yet. */
export function readToken(dir: string): string {
  const path = join(dir, STATE_FILES.token)
  try {
    return readFileSync(path, 'utf8').trim()
  } catch (err) {
    throw new AppError(errnoCode(err) === 'ENOENT' ? 'NOT_FOUND' : 'IO', `Cannot read the daemon's API token "${path}": ${errnoCode(err) ?? messageOf(err)}`, {
      hint: 'Start the daemon with "cairn daemon" (it creates the token), or give the state directory with --state-dir',
    })
  }
}

function tokenError(path: string, err: unknown): AppError {
  return new AppError('IO', `Cannot read or create the API token "${path}": ${messageOf(err)}`, {
    hint: 'Check the permissions of the state directory',
    cause: err,
  })
}

/** What a running daemon writes to daemon.json. */
export interface DaemonInfo {
  url: string
  pid: number
  startedAt: string
  version: string
}

/** Writes daemon.json (mode 0600). */
export function writeDaemonInfo(dir: string, info: DaemonInfo): void {
  const path = join(dir, STATE_FILES.info)
  writeFileSync(path, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 })
}

/** Removes daemon.json, if it is ours. */
export function removeDaemonInfo(dir: string, pid: number = process.pid): void {
  const info = readDaemonInfo(dir)
  if (info && info.pid === pid) rmSync(join(dir, STATE_FILES.info), { force: true })
}

/** daemon.json, or undefined when there is none (no daemon has run, or it stopped). */
export function readDaemonInfo(dir: string): DaemonInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, STATE_FILES.info), 'utf8')) as DaemonInfo
  } catch {
    return undefined
  }
}

/** The daemon that runs for a state directory: its daemon.json, when its process is still there. */
export function runningDaemon(dir: string): DaemonInfo | undefined {
  const info = readDaemonInfo(dir)
  return info !== undefined && processRuns(info.pid) ? info : undefined
}
