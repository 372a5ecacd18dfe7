/**
 * Watches removable destinations: every few seconds it looks whether each one's directory
 * exists, and reports when one appears or disappears. Polling a path is what works for every
 * way a drive arrives (udisks automount under /media, an fstab entry, a network share), where
 * file-system events on a mount's parent are not delivered reliably.
 */
import { stat } from 'node:fs/promises'
import type { CancelTimer, Clock } from '../base/index.js'

/** True when `path` exists and is a directory. */
export async function directoryPresent(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}

/** Options of {@link MediaWatcher}. */
export interface MediaWatcherOptions {
  clock: Clock
  /** Removable destinations: name and the directory whose existence means "present". */
  destinations: readonly { name: string; path: string }[]
  /** Called when a destination appears or disappears (not for the first look). */
  onChange(name: string, present: boolean): void
  /** How often to look (default 3 s). */
  intervalMs?: number
  /** How to look (default {@link directoryPresent}). */
  isPresent?(path: string): Promise<boolean>
}

/** See the module comment. */
export class MediaWatcher {
  readonly #o: Required<MediaWatcherOptions>
  readonly #present = new Map<string, boolean>()
  #cancel: CancelTimer | undefined
  #running = false

  constructor(options: MediaWatcherOptions) {
    this.#o = { intervalMs: 3000, isPresent: directoryPresent, ...options }
  }

  /** Takes a first look at every destination (no `onChange` for it) and starts polling. */
  async start(): Promise<void> {
    if (this.#running) return
    this.#running = true
    await Promise.all(this.#o.destinations.map(async (d) => this.#present.set(d.name, await this.#o.isPresent(d.path))))
    this.#arm()
  }

  stop(): void {
    this.#running = false
    this.#cancel?.()
    this.#cancel = undefined
  }

  /** The last known state of a watched destination, or undefined for one not watched. */
  present(name: string): boolean | undefined {
    return this.#present.get(name)
  }

  /**
   * Looks at one destination now (before a run), updating the known state; reports a change
   * like a poll would. Undefined for a destination not watched.
   */
  async check(name: string): Promise<boolean | undefined> {
    const d = this.#o.destinations.find((x) => x.name === name)
    if (!d) return undefined
    const now = await this.#o.isPresent(d.path)
    this.#update(d.name, now)
    return now
  }

  #arm(): void {
    if (!this.#running) return
    this.#cancel = this.#o.clock.setTimer(this.#o.intervalMs, () => void this.#poll())
  }

  async #poll(): Promise<void> {
    await Promise.all(
      this.#o.destinations.map(async (d) => {
        const now = await this.#o.isPresent(d.path)
        if (this.#running) this.#update(d.name, now)
      }),
    )
    this.#arm()
  }

  #update(name: string, now: boolean): void {
    const before = this.#present.get(name)
    this.#present.set(name, now)
    if (before !== undefined && before !== now) this.#o.onChange(name, now)
  }
}
