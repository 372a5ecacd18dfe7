/**
 * One run of a backup set at a time on this machine, whichever process runs it: the daemon,
 * `cairn run`, a timer or a cron line. Two runs of one set at once interleave their hooks (one
 * run's `finally` restarts the service the other's `before` stopped, and its backup reads the
 * live data) and contend for the repository's locks.
 *
 * A lock is a file per set and config file in `<state directory>/running/`, created exclusively.
 * A lock whose process is certainly gone (written in this boot of this machine, in this PID
 * namespace, and that PID does not run) is taken over, as repository locks are.
 */
import { createHash } from 'node:crypto'
import { mkdir, open, readFile, unlink } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { errnoCode } from '../base/index.js'
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

/**
 * Takes the lock of set `name` of the config file `configFile`, or says who holds it.
 *
 * @example
 * const lock = await acquireSetLock(setLockDirectory(), loaded.file, 'home')
 * if (!lock.ok) throw new Error(`already running as PID ${lock.holder.pid}`)
 * try { ... } finally { await lock.release() }
 */
export async function acquireSetLock(dir: string, configFile: string, name: string): Promise<SetLockAttempt> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const file = join(dir, `${encodeURIComponent(name)}-${createHash('sha256').update(configFile).digest('hex').slice(0, 16)}.lock`)
  const me: SetLockHolder = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString(), ...processScope() }
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = await open(file, 'wx', 0o600)
      try {
        await fd.writeFile(JSON.stringify({ ...me, set: name, config: configFile }))
      } finally {
        await fd.close()
      }
      let released = false
      return {
        ok: true,
        release: async () => {
          if (released) return
          released = true
          await unlink(file).catch(() => {})
        },
      }
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err
    }
    const holder = await readHolder(file)
    // Gone: a lock file without a holder (cut short as it was written) or one whose process died.
    const gone = holder === undefined || isAbandoned({ time: holder.startedAt, exclusive: true, hostname: holder.hostname, username: '', pid: holder.pid, ...(holder.bootId ? { bootId: holder.bootId } : {}), ...(holder.pidNamespace ? { pidNamespace: holder.pidNamespace } : {}) })
    if (!gone || attempt > 0) return { ok: false, holder: holder ?? { pid: 0, hostname: '', startedAt: '' } }
    await unlink(file).catch(() => {})
  }
}

async function readHolder(file: string): Promise<SetLockHolder | undefined> {
  try {
    const o = JSON.parse(await readFile(file, 'utf8')) as Partial<SetLockHolder>
    if (typeof o.pid !== 'number' || typeof o.hostname !== 'string' || typeof o.startedAt !== 'string') return undefined
    return { pid: o.pid, hostname: o.hostname, startedAt: o.startedAt, ...(typeof o.bootId === 'string' ? { bootId: o.bootId } : {}), ...(typeof o.pidNamespace === 'string' ? { pidNamespace: o.pidNamespace } : {}) }
  } catch {
    return undefined
  }
}
