/**
 * Repository locks as restic writes them: a small encrypted JSON file in locks/. Backups take a
 * shared lock, check/prune an exclusive one; an exclusive lock conflicts with every other lock.
 * A lock is refreshed (rewritten under a new name) every 5 minutes and counts as stale after 30
 * minutes without refresh, or when its process on this host is gone; `unlock` removes stale
 * locks. Taking a lock looks past another lock only when it is certain that its process is gone:
 * cairn wrote it on this machine since its last boot, in this PID namespace, and that PID no
 * longer runs. Anything less certain (a lock of restic, of a container or a machine that shares
 * this hostname, or of a laptop that slept through its refreshes) blocks until `unlock`, as
 * restic's locks do: ignoring the lock of a running backup lets prune delete what it just wrote.
 * Abandoned locks are removed when seen. A lock that another machine removed, or that could not
 * be refreshed before others would take it for stale, is lost: nothing more is committed under it
 * (restic 0.16 and later stop then too).
 */
import { readFileSync, readlinkSync } from 'node:fs'
import { hostname as osHostname, userInfo } from 'node:os'
import { AppError, errnoCode, isAppError, messageOf, shortId, type Id } from '../base/index.js'
import type { UnpackedType } from './repository.js'

export interface LockInfo {
  time: string
  exclusive: boolean
  hostname: string
  username: string
  pid: number
  uid?: number
  gid?: number
  /**
   * Where the PID means something (cairn's own fields; restic ignores them): the kernel's boot
   * ID and the PID namespace the process ran in. Absent in restic's locks.
   */
  bootId?: string
  pidNamespace?: string
}

export interface LockTarget {
  readonly location: string
  listIds(type: 'locks'): Promise<Id[]>
  loadUnpacked(type: UnpackedType, id: Id): Promise<Buffer>
  saveUnpacked(type: UnpackedType, json: Uint8Array): Promise<Id>
  readonly backend: {
    remove(h: { type: 'locks'; name: string }): Promise<void>
    stat(h: { type: 'locks'; name: string }): Promise<unknown>
    readonly properties: { listsAfterWrite: boolean }
  }
}

export const STALE_AFTER_MS = 30 * 60 * 1000
export const REFRESH_EVERY_MS = 5 * 60 * 1000
const SETTLE_MS = 200

const held = new Set<Lock>()
/**
 * Lock files being written, with where: a signal may come before a lock is held, and
 * releaseAllLocks then waits for the file and removes it, or it would be left behind.
 */
const writing = new Set<{ saving: Promise<Id>; repo: LockTarget }>()

export interface LockOptions {
  exclusive: boolean
  /** The pause before the second look for conflicting locks (see Lock.acquire). */
  settleMs?: number
  /**
   * restic's --retry-lock: when another process holds a conflicting lock, try again for up to
   * this long (ms), after pauses that double from 1 s to a minute. Default 0: fail at once.
   */
  retryMs?: number
  /** Told once, when the first try found the repository locked and the retries begin. */
  onWait?: (err: AppError, msLeft: number) => void
  /** Ends a wait for a lock (retryMs) with INTERRUPTED. */
  signal?: AbortSignal
  /** Told when a refresh fails, and when the lock is lost (see Lock.throwIfLost). */
  onWarning?: (message: string) => void
}

/** Waits `ms`; rejects with INTERRUPTED as soon as `signal` aborts. */
function pauseUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const interrupted = () => reject(new AppError('INTERRUPTED', 'Interrupted while waiting for the repository lock'))
    if (signal?.aborted) return interrupted()
    const onAbort = () => {
      clearTimeout(timer)
      interrupted()
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** The first pause of a lock retry, doubled after each try up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 1000
const RETRY_MAX_MS = 60_000

export class Lock {
  #repo: LockTarget
  #id: Id
  readonly exclusive: boolean
  #timer: NodeJS.Timeout | undefined
  #refreshing: Promise<void> = Promise.resolve()
  #released = false
  #confirmed: Promise<void> = Promise.resolve()
  /** When the current lock file was written. */
  #written = Date.now()
  /** Why the lock no longer holds the repository, once it does not. */
  #lost: AppError | undefined
  #onWarning: ((message: string) => void) | undefined

  private constructor(repo: LockTarget, id: Id, exclusive: boolean) {
    this.#repo = repo
    this.#id = id
    this.exclusive = exclusive
  }

  /** Settles once no conflicting lock turned up on the second look (see acquire()). */
  get confirmed(): Promise<void> {
    return this.#confirmed
  }

  get id(): Id {
    return this.#id
  }

  /**
   * Takes a lock or throws LOCKED naming the conflicting lock. Abandoned locks (see isAbandoned)
   * do not block and are removed; stale ones block until `unlock` removes them, as restic's do.
   *
   * Another process may write its lock at the same moment, so the locks are listed again: when
   * both write first and list after, one of the two sees the other. Where listings lag behind
   * writes (object stores, rclone remotes) that second look waits a pause first. An exclusive lock does that before
   * it returns: it is about to delete. A shared lock returns at once and looks again in the
   * background; `confirmed` settles when that is done, and rejects with LOCKED when a conflict
   * turned up (the lock is released then). Whoever commits with a shared lock (index files,
   * snapshots) waits for `confirmed` first.
   */
  static async acquire(repo: LockTarget, options: LockOptions): Promise<Lock> {
    const deadline = Date.now() + (options.retryMs ?? 0)
    let pause = RETRY_FIRST_MS
    for (;;) {
      try {
        return await Lock.#acquireOnce(repo, options)
      } catch (err) {
        const left = deadline - Date.now()
        if (!isAppError(err, 'LOCKED') || left <= 0) throw err
        if (pause === RETRY_FIRST_MS) options.onWait?.(err as AppError, left)
        await pauseUnlessAborted(Math.min(pause, left), options.signal)
        pause = Math.min(pause * 2, RETRY_MAX_MS)
      }
    }
  }

  static async #acquireOnce(repo: LockTarget, options: LockOptions): Promise<Lock> {
    await throwOnConflict(repo, options.exclusive, undefined)
    const pending = { saving: repo.saveUnpacked('locks', encodeLock(newLockInfo(options.exclusive))), repo }
    writing.add(pending)
    let id: Id
    try {
      id = await pending.saving
    } finally {
      writing.delete(pending)
    }
    const lock = new Lock(repo, id, options.exclusive)
    lock.#onWarning = options.onWarning
    held.add(lock)
    const recheck = async () => {
      try {
        const pause = options.settleMs ?? (repo.backend.properties.listsAfterWrite ? 0 : SETTLE_MS)
        if (pause > 0) await new Promise((r) => setTimeout(r, pause))
        await throwOnConflict(repo, options.exclusive, id)
      } catch (err) {
        await lock.release()
        throw err
      }
    }
    if (options.exclusive) await recheck()
    else {
      lock.#confirmed = recheck()
      // Seen by whoever waits for it; never an unhandled rejection on its own.
      lock.#confirmed.catch(() => {})
    }
    lock.#timer = setInterval(() => void lock.refresh().catch(() => {}), REFRESH_EVERY_MS)
    lock.#timer.unref()
    return lock
  }

  /**
   * Writes a fresh lock file and removes the previous one. A lock file that is gone (`unlock` on
   * another machine took it for stale) is not written anew: another process may hold the
   * repository now, so the lock is lost. So it is when refreshes failed until other machines
   * would take it for stale before the next one. A failed refresh is told through onWarning.
   */
  async refresh(): Promise<void> {
    this.#refreshing = this.#refreshing.then(async () => {
      if (this.#released || this.#lost !== undefined) return
      const old = this.#id
      if (!(await this.#stillThere(old))) {
        return this.#lose(`the repository lock ${shortId(old)} was removed while this command ran (by "unlock" on some machine?), and another process may hold the repository now`)
      }
      try {
        this.#id = await this.#repo.saveUnpacked('locks', encodeLock(newLockInfo(this.exclusive)))
        this.#written = Date.now()
      } catch (err) {
        const age = Date.now() - this.#written
        const why = messageOf(err)
        // Stale for others before the next refresh: prune elsewhere may go past it.
        if (age >= STALE_AFTER_MS - REFRESH_EVERY_MS) {
          return this.#lose(`the repository lock could not be refreshed for ${Math.floor(age / 60_000)} minutes (${why}); other machines take it for stale at 30`)
        }
        this.#onWarning?.(`Cannot refresh the repository lock, trying again in ${REFRESH_EVERY_MS / 60_000} minutes: ${why}`)
        return
      }
      await this.#repo.backend.remove({ type: 'locks', name: old }).catch(() => {})
    })
    return this.#refreshing
  }

  /** Throws LOCKED once the lock is lost (see refresh()): nothing may be committed under it. */
  throwIfLost(): void {
    if (this.#lost !== undefined) throw this.#lost
  }

  #lose(why: string): void {
    this.#lost = new AppError('LOCKED', `Stopped: ${why}`, {
      hint: 'Nothing more was committed; run the command again',
    })
    this.#onWarning?.(`Warning: ${why}; nothing more will be committed`)
  }

  /** Whether the lock file is still there; one that cannot be looked at counts as there. */
  async #stillThere(id: Id): Promise<boolean> {
    try {
      await this.#repo.backend.stat({ type: 'locks', name: id })
      return true
    } catch (err) {
      return !isAppError(err, 'NOT_FOUND')
    }
  }

  async release(): Promise<void> {
    if (this.#released) return
    this.#released = true
    if (this.#timer) clearInterval(this.#timer)
    held.delete(this)
    await this.#refreshing.catch(() => {})
    await this.#repo.backend.remove({ type: 'locks', name: this.#id })
  }
}

/**
 * Releases every lock this process holds (on signals and fatal errors), waiting `withinMs` at
 * the most: a server that no longer answers must not keep an interrupted run from ending (its
 * lock is then left, and goes stale).
 */
export async function releaseAllLocks(withinMs = 10_000): Promise<void> {
  const unheld = [...writing].map(async ({ saving, repo }) => repo.backend.remove({ type: 'locks', name: await saving }))
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    Promise.allSettled([...[...held].map((l) => l.release()), ...unheld]),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, withinMs)
      timer.unref()
    }),
  ])
  clearTimeout(timer)
}

export function newLockInfo(exclusive: boolean): LockInfo {
  let username = ''
  let uid = 0
  let gid = 0
  try {
    const u = userInfo()
    username = u.username
    uid = u.uid
    gid = u.gid
  } catch {
    // no passwd entry: leave the user empty
  }
  return { time: new Date().toISOString(), exclusive, hostname: osHostname(), username, pid: process.pid, uid, gid, ...processScope() }
}

let scope: { bootId?: string; pidNamespace?: string } | undefined

/** This process's boot ID and PID namespace, where the system tells them (Linux). */
export function processScope(): { bootId?: string; pidNamespace?: string } {
  if (scope === undefined) {
    scope = {}
    try {
      scope = {
        bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
        pidNamespace: readlinkSync('/proc/self/ns/pid'),
      }
    } catch {
      // not Linux, or /proc is not mounted: locks carry no scope and never count as abandoned
    }
  }
  return scope
}

export function encodeLock(l: LockInfo): Buffer {
  const o: Record<string, unknown> = { time: l.time, exclusive: l.exclusive, hostname: l.hostname, username: l.username, pid: l.pid }
  if (l.uid) o.uid = l.uid
  if (l.gid) o.gid = l.gid
  if (l.bootId) o.boot_id = l.bootId
  if (l.pidNamespace) o.pid_namespace = l.pidNamespace
  return Buffer.from(JSON.stringify(o))
}

export function decodeLock(bytes: Uint8Array): LockInfo {
  const o = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<LockInfo> & { boot_id?: unknown; pid_namespace?: unknown }
  const info: LockInfo = {
    time: String(o.time ?? ''),
    exclusive: o.exclusive === true,
    hostname: String(o.hostname ?? ''),
    username: String(o.username ?? ''),
    pid: Number(o.pid ?? 0),
    uid: o.uid,
    gid: o.gid,
  }
  if (typeof o.boot_id === 'string') info.bootId = o.boot_id
  if (typeof o.pid_namespace === 'string') info.pidNamespace = o.pid_namespace
  return info
}

/**
 * A lock is stale, by restic's rule, when it was not refreshed for 30 minutes or its process on
 * this host is gone. `unlock` removes stale locks; taking a lock looks past abandoned ones only.
 */
export function isStale(l: LockInfo, now = Date.now(), host = osHostname()): boolean {
  return staleReason(l, now, host) !== undefined
}

/** Why a lock is stale (see isStale()), or undefined. */
function staleReason(l: LockInfo, now: number, host: string): string | undefined {
  const t = Date.parse(l.time)
  if (!Number.isFinite(t)) return 'its time cannot be read'
  if (now - t > STALE_AFTER_MS) return `it was not refreshed for ${Math.floor((now - t) / 60_000)} minutes`
  // The PID says something only where it was taken: a lock that records another boot or PID
  // namespace (a container with the same hostname) is judged by its age alone.
  const here = processScope()
  const elsewhere = (l.bootId !== undefined && l.bootId !== here.bootId) || (l.pidNamespace !== undefined && l.pidNamespace !== here.pidNamespace)
  if (!elsewhere && l.hostname === host && l.pid > 0 && !processRuns(l.pid)) return `no process ${l.pid} runs on ${host}`
  return undefined
}

/**
 * A lock is abandoned when its process is certainly gone: cairn wrote it in this boot of this
 * machine, in this PID namespace, and that PID does not run. Only such locks are looked past.
 */
export function isAbandoned(l: LockInfo, host = osHostname()): boolean {
  const here = processScope()
  if (here.bootId === undefined || l.bootId !== here.bootId || l.pidNamespace !== here.pidNamespace) return false
  return l.hostname === host && l.pid > 0 && !processRuns(l.pid)
}

/** Whether a process with this PID runs on this machine (one we may not signal counts as running). */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return errnoCode(err) !== 'ESRCH'
  }
}

/** Every lock file with its content (unreadable ones are skipped, as restic does). */
export async function listLocks(repo: Pick<LockTarget, 'listIds' | 'loadUnpacked'>): Promise<Array<{ id: Id; info: LockInfo }>> {
  return (await readLocks(repo)).filter((l): l is { id: Id; info: LockInfo } => l.info !== undefined)
}

/**
 * Every lock file with what it says, or why it could not be read. One that vanished meanwhile
 * (its process ended) is left out.
 */
async function readLocks(repo: Pick<LockTarget, 'listIds' | 'loadUnpacked'>): Promise<Array<{ id: Id; info?: LockInfo; error?: unknown }>> {
  const out: Array<{ id: Id; info?: LockInfo; error?: unknown }> = []
  for (const id of await repo.listIds('locks')) {
    try {
      out.push({ id, info: decodeLock(await repo.loadUnpacked('locks', id)) })
    } catch (error) {
      if (!isAppError(error, 'NOT_FOUND')) out.push({ id, error })
    }
  }
  return out
}

async function throwOnConflict(repo: LockTarget, exclusive: boolean, ownId: Id | undefined): Promise<void> {
  for (const { id, info, error } of await readLocks(repo)) {
    if (id === ownId) continue
    if (info === undefined) {
      // Unreadable (no permission, an I/O error, a damaged file): it may be the lock of a
      // running backup, and taking the repository past it lets prune delete what that backup
      // writes. restic (0.16 and later) refuses too.
      throw new AppError('LOCKED', `Repository "${repo.location}" holds a lock that cannot be read (lock ${shortId(id)}): ${messageOf(error)}`, {
        hint: 'Check that this user may read the files in locks/; if the lock is damaged and no process uses the repository, remove it with "cairn unlock --remove-all"',
      })
    }
    if (isAbandoned(info)) {
      // Its process is certainly gone (a killed run): removed, so that restic, which would wait
      // for "unlock", is not held up by it either.
      await repo.backend.remove({ type: 'locks', name: id }).catch(() => {})
      continue
    }
    if (!exclusive && !info.exclusive) continue
    const kind = info.exclusive ? 'exclusively' : 'by a shared lock'
    const stale = staleReason(info, Date.now(), osHostname())
    throw new AppError(
      'LOCKED',
      `Repository "${repo.location}" is already locked ${kind} by PID ${info.pid} on ${info.hostname} by ${info.username || 'unknown user'} since ${info.time} (lock ${shortId(id)})` +
        (stale === undefined ? '' : `; the lock looks stale: ${stale}`),
      {
        hint:
          stale === undefined
            ? 'Wait for that process to finish; if it is no longer running, remove the lock with "cairn unlock"'
            : 'If no cairn or restic process on any machine uses this repository now, remove stale locks with "cairn unlock"',
      },
    )
  }
}
