/**
 * One run of a backup set at a time on this machine, whichever process runs it: the daemon,
 * `cairn run`, a timer or a cron line. Two runs of one set at once interleave their hooks (one
 * run's `finally` restarts the service the other's `before` stopped, and its backup reads the
 * live data) and contend for the repository's locks.
 *
 * A lock is a file per set and config file in `<state directory>/running/`, created whole and
 * exclusively. A lock whose process is certainly gone (written in this boot of this machine, in
 * this PID namespace, and that PID does not run) is taken over, as repository locks are.
 */
import { createHash, randomBytes } from 'node:crypto'
import * as fsPromises from 'node:fs/promises'
import { link, readFile, stat, unlink, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { errnoCode, makeDirectories } from '../base/index.js'
import { stateDirectory } from '../config/index.js'
import { isAbandoned, processScope } from '../repository/index.js'

/** Who runs a set now. */
export interface SetLockHolder {
  pid: number
  hostname: string
  startedAt: string
  bootId?: string
  pidNamespace?: string
}

export type SetLockAttempt = { ok: true; release(): Promise<void> } | { ok: false; holder: SetLockHolder }

/** The folder of set locks for an environment. */
export function setLockDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDirectory(env), 'running')
}

/** A lock file that cannot be read is taken for one being replaced until it is this old. */
const UNREADABLE_GRACE_MS = 10_000

/**
 * Takes the lock of set `name` of the config file `configFile`, or says who holds it.
 *
 * The lock file is written under a name of its own and linked into place, so it appears whole
 * or not at all, and only one process can link it. Taking over a dead holder's lock happens
 * under a second lock file (`….takeover`, made the same way), and only after reading the stale
 * lock again under it: two processes that both saw it dead cannot both take it.
 *
 * @example
 * const lock = await acquireSetLock(setLockDirectory(), loaded.file, 'home')
 * if (!lock.ok) throw new Error(`already running as PID ${lock.holder.pid}`)
 * try { ... } finally { await lock.release() }
 */
export async function acquireSetLock(dir: string, configFile: string, name: string): Promise<SetLockAttempt> {
  await makeDirectories(dir, 0o700, fsPromises)
  // Keyed by the file itself, not the path it was named by: a config reached through a symlink
  // (from a dotfiles folder, say) by one caller and directly by another is one config.
  const real = await fsPromises.realpath(configFile).catch(() => configFile)
  const file = join(dir, `${encodeURIComponent(name)}-${createHash('sha256').update(real).digest('hex').slice(0, 16)}.lock`)
  const me: SetLockHolder = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString(), ...processScope() }
  const text = JSON.stringify({ ...me, set: name, config: configFile })
  const held = (): SetLockAttempt => {
    let released = false
    return {
      ok: true,
      release: async () => {
        if (released) return
        released = true
        // Only our own lock: never one that another process holds now.
        if ((await readFile(file, 'utf8').catch(() => undefined)) === text) await unlink(file).catch(() => {})
      },
    }
  }
  if (await linkNew(file, text)) return held()
  const seen = await readHolder(file)
  if (seen.holder !== undefined && !isGone(seen.holder)) return { ok: false, holder: seen.holder }
  if (seen.holder === undefined && !seen.missing && Date.now() - seen.mtimeMs < UNREADABLE_GRACE_MS) return { ok: false, holder: UNKNOWN }
  // The holder is gone (or the file is unreadable and old): take over, one process at a time.
  const takeover = `${file}.takeover`
  if (!(await linkNew(takeover, text))) {
    const other = await readHolder(takeover)
    if (other.holder !== undefined && !isGone(other.holder) && Date.now() - other.mtimeMs < UNREADABLE_GRACE_MS) return { ok: false, holder: other.holder }
    await unlink(takeover).catch(() => {})
    if (!(await linkNew(takeover, text))) return { ok: false, holder: UNKNOWN }
  }
  try {
    const again = await readHolder(file)
    if (!again.missing && again.text !== seen.text) return { ok: false, holder: again.holder ?? UNKNOWN }
    await unlink(file).catch(() => {})
    return (await linkNew(file, text)) ? held() : { ok: false, holder: (await readHolder(file)).holder ?? UNKNOWN }
  } finally {
    await unlink(takeover).catch(() => {})
  }
}

const UNKNOWN: SetLockHolder = { pid: 0, hostname: '', startedAt: '' }

/** Whether a holder's process is certainly gone (see isAbandoned). */
function isGone(h: SetLockHolder): boolean {
  return isAbandoned({ time: h.startedAt, exclusive: true, hostname: h.hostname, username: '', pid: h.pid, ...(h.bootId ? { bootId: h.bootId } : {}), ...(h.pidNamespace ? { pidNamespace: h.pidNamespace } : {}) })
}

/** Creates `file` holding `text`, whole, unless it exists: false when it does. */
async function linkNew(file: string, text: string): Promise<boolean> {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(temp, text, { mode: 0o600 })
  try {
    await link(temp, file)
    return true
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false
    throw err
  } finally {
    await unlink(temp).catch(() => {})
  }
}

async function readHolder(file: string): Promise<{ holder?: SetLockHolder; text?: string; missing: boolean; mtimeMs: number }> {
  let text: string
  let mtimeMs: number
  try {
    ;[text, mtimeMs] = await Promise.all([readFile(file, 'utf8'), stat(file).then((s) => s.mtimeMs)])
  } catch {
    return { missing: true, mtimeMs: 0 }
  }
  try {
    const o = JSON.parse(text) as Partial<SetLockHolder>
    if (typeof o.pid !== 'number' || typeof o.hostname !== 'string' || typeof o.startedAt !== 'string') return { text, missing: false, mtimeMs }
    const holder: SetLockHolder = { pid: o.pid, hostname: o.hostname, startedAt: o.startedAt, ...(typeof o.bootId === 'string' ? { bootId: o.bootId } : {}), ...(typeof o.pidNamespace === 'string' ? { pidNamespace: o.pidNamespace } : {}) }
    return { holder, text, missing: false, mtimeMs }
  } catch {
    return { text, missing: false, mtimeMs }
  }
}
