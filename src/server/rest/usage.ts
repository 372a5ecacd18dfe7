import type { RepositoryProvider } from './repository-provider.js'

/** A size limit on everything stored at or below some repository paths, together. */
export interface UsageLimit {
  prefixes: readonly (readonly string[])[]
  bytes: number
  /** For the 507 message: `the server's --max-size`, `the quota of user "alice"`. */
  label: string
}

/** Room held for an upload (release it when the upload ends), or the reason there is none. */
export type Reservation =
  | { ok: true; release(): void }
  | { ok: false; reason: string }

/**
 * Bytes stored per repository path, for --max-size and per-user quotas. A path's usage is
 * counted by the provider the first time a limit on it is checked, then kept up to date as
 * files are saved and removed through the server. Uploads reserve their size before the body is
 * read, so concurrent uploads cannot overshoot a limit together.
 */
/** How old a count may be before a refusal counts again. */
const RECOUNT_AFTER_MS = 60_000

export class UsageTracker {
  readonly #provider: RepositoryProvider
  readonly #used = new Map<string, number>()
  readonly #counting = new Map<string, Promise<void>>()
  /** Bytes of uploads under way, by the repository they go to. */
  readonly #reserved = new Map<string, number>()
  /** When each path was last counted (ms). */
  readonly #countedAt = new Map<string, number>()
  readonly #now: () => number

  constructor(provider: RepositoryProvider, now: () => number = Date.now) {
    this.#provider = provider
    this.#now = now
  }

  /**
   * Forgets the counts, so that each path is counted again when next needed (SIGHUP): files
   * removed or added beside the server (a prune on the server's disk) are then seen.
   */
  recount(): void {
    this.#used.clear()
    this.#countedAt.clear()
  }

  /** Counts a path now (rest-server tallies --max-size at startup). */
  async prime(prefix: readonly string[]): Promise<void> {
    await this.#count(key(prefix), prefix)
  }

  /** Bytes known to be stored at or below a path (undefined when not counted yet). */
  used(prefix: readonly string[]): number | undefined {
    return this.#used.get(key(prefix))
  }

  /**
   * Reserves `bytes` under every limit, or says which limit it would break. Release the
   * reservation when the upload ends, whether or not it was stored (then call added()).
   */
  async reserve(limits: readonly UsageLimit[], bytes: number, repo: readonly string[] = []): Promise<Reservation> {
    const all = limits.flatMap((l) => outermost(l.prefixes))
    await Promise.all(all.map((p) => this.#count(key(p), p)))
    for (const l of limits) {
      const prefixes = outermost(l.prefixes)
      let used = this.#inUse(prefixes)
      // Before refusing, counts older than a minute are made again: files removed beside the
      // server (a prune on its disk) would otherwise count until it restarts.
      const stale = prefixes.filter((p) => this.#now() - (this.#countedAt.get(key(p)) ?? 0) > RECOUNT_AFTER_MS)
      if (used + bytes > l.bytes && stale.length > 0) {
        for (const p of stale) this.#used.delete(key(p))
        await Promise.all(stale.map((p) => this.#count(key(p), p)))
        used = this.#inUse(prefixes)
      }
      if (used + bytes > l.bytes) {
        return { ok: false, reason: `storing ${bytes} more bytes would exceed ${l.label} (${l.bytes} bytes; ${used} in use)` }
      }
    }
    const r = key(repo)
    this.#reserved.set(r, (this.#reserved.get(r) ?? 0) + bytes)
    let released = false
    return {
      ok: true,
      release: () => {
        if (released) return
        released = true
        const left = (this.#reserved.get(r) ?? 0) - bytes
        if (left > 0) this.#reserved.set(r, left)
        else this.#reserved.delete(r)
      },
    }
  }

  /** Bytes stored (as counted) and reserved at or below the paths, which do not overlap. */
  #inUse(prefixes: readonly (readonly string[])[]): number {
    let total = 0
    for (const p of prefixes) {
      const k = key(p)
      total += this.#used.get(k) ?? 0
      for (const [r, n] of this.#reserved) if (covers(k, r)) total += n
    }
    return total
  }

  /** A file of `bytes` was stored in `repo`. */
  added(repo: readonly string[], bytes: number): void {
    this.#adjust(repo, bytes)
  }

  /** A file of `bytes` was removed from `repo`. */
  removed(repo: readonly string[], bytes: number): void {
    this.#adjust(repo, -bytes)
  }

  /** True when some counted path lies at or above `repo` (deletes then need the file's size). */
  tracks(repo: readonly string[]): boolean {
    const r = key(repo)
    for (const k of this.#used.keys()) if (covers(k, r)) return true
    return false
  }

  #adjust(repo: readonly string[], delta: number): void {
    const r = key(repo)
    for (const [k, v] of this.#used) if (covers(k, r)) this.#used.set(k, Math.max(0, v + delta))
  }

  #count(k: string, prefix: readonly string[]): Promise<void> {
    if (this.#used.has(k)) return Promise.resolve()
    let p = this.#counting.get(k)
    if (p === undefined) {
      p = this.#provider.usage(prefix).then(
        (n) => {
          this.#used.set(k, n)
          this.#countedAt.set(k, this.#now())
          this.#counting.delete(k)
        },
        (err: unknown) => {
          this.#counting.delete(k)
          throw err
        },
      )
      this.#counting.set(k, p)
    }
    return p
  }
}

/** The paths of a limit without those below another of them: each byte counts once. */
function outermost(prefixes: readonly (readonly string[])[]): Array<readonly string[]> {
  const keys = prefixes.map(key)
  return prefixes.filter((p, i) => !keys.some((k, j) => j !== i && covers(k, keys[i]) && (k !== keys[i] || j < i)))
}

function key(prefix: readonly string[]): string {
  return prefix.join('/')
}

/** True when the path `k` is `r` or lies above it. */
function covers(k: string, r: string): boolean {
  return k === '' || k === r || r.startsWith(`${k}/`)
}
