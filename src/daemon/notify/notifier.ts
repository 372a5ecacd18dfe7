/**
 * Delivers a NotifyEvent to every target that wants it: the plan's global targets (narrowed by
 * their `sets:`) and the set's own `notify:` list. Deliveries run in parallel, each with its
 * own timeout; a target that fails is reported through `onError` and never makes `notify`
 * reject, so a broken receiver can never fail a backup.
 */
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { eventsOf, parseDuration, targetName, type NotificationEvent, type NotificationTarget } from '../../config/index.js'
import { runCommand } from './command.js'
import { sendEmail } from './email.js'
import type { NotifyEvent } from './event.js'
import {
  discordRequest,
  gotifyRequest,
  healthchecksRequest,
  ntfyRequest,
  sendHttp,
  slackRequest,
  webhookRequest,
} from './http-targets.js'

/** The outcome of one delivery. */
export interface Delivery {
  target: string
  ok: boolean
  error?: string
}

/** Options of {@link Notifier}. */
export interface NotifierOptions {
  /** Targets for every set (each narrowed by its `sets:`). */
  global: readonly NotificationTarget[]
  /** Each set's own targets. */
  perSet?: ReadonlyMap<string, readonly NotificationTarget[]>
  /** A delivery failed (the daemon logs it, and adds it to the run's log). */
  onError?(target: string, error: Error, event: NotifyEvent): void
  /** Default timeout of one delivery (10 s). */
  timeoutMs?: number
  /** Where command targets run (the config file's folder, as for hooks); default: the current folder. */
  cwd?: string
  fetch?: typeof fetch
}

interface Named {
  target: NotificationTarget
  name: string
}

/** See the module comment. */
export class Notifier {
  readonly #o: NotifierOptions

  constructor(options: NotifierOptions) {
    this.#o = options
  }

  /** The targets that get `event` for `set` (undefined: events not tied to a set). */
  targetsFor(event: NotificationEvent, set: string | undefined): Named[] {
    const out: Named[] = []
    this.#o.global.forEach((target, i) => {
      if (!eventsOf(target).has(event)) return
      if (target.sets !== undefined && (set === undefined || !target.sets.includes(set))) return
      out.push({ target, name: targetName(target, i) })
    })
    if (set !== undefined) {
      ;(this.#o.perSet?.get(set) ?? []).forEach((target, i) => {
        if (eventsOf(target).has(event)) out.push({ target, name: target.name ?? `${target.type} #${i + 1} of set "${set}"` })
      })
    }
    return out
  }

  /** The targets that want `stale` for a set, each with its own `stale-after` in ms (default 7 days). */
  staleTargets(set: string): Array<Named & { afterMs: number }> {
    return this.targetsFor('stale', set).map((t) => ({ ...t, afterMs: t.target['stale-after'] === undefined ? 7 * 86_400_000 : parseDuration(t.target['stale-after']) }))
  }

  /** How long without success before the first `stale` for a set: the smallest `stale-after` of its stale targets, or undefined when none wants `stale`. */
  staleAfter(set: string): number | undefined {
    const targets = this.staleTargets(set)
    return targets.length === 0 ? undefined : Math.min(...targets.map((t) => t.afterMs))
  }

  /** Delivers `e` to every target that wants it, or to `targets` (some of them). Never rejects. */
  async notify(e: NotifyEvent, targets: readonly Named[] = this.targetsFor(e.event, e.set)): Promise<Delivery[]> {
    return Promise.all(
      targets.map(async ({ target, name }) => {
        try {
          await this.#deliver(target, name, e)
          return { target: name, ok: true }
        } catch (err) {
          const error = err instanceof Error ? err : new Error(String(err))
          try {
            this.#o.onError?.(name, error, e)
          } catch {
            // reporting must not fail either
          }
          return { target: name, ok: false, error: error.message }
        }
      }),
    )
  }

  async #deliver(t: NotificationTarget, name: string, e: NotifyEvent): Promise<void> {
    const timeoutMs = t.timeout === undefined ? (this.#o.timeoutMs ?? 10_000) : parseDuration(t.timeout)
    const fetchFn = this.#o.fetch ?? fetch
    switch (t.type) {
      case 'ntfy':
        return sendHttp(name, ntfyRequest(t, e, await secret(name, t.token, t['token-file'])), timeoutMs, fetchFn)
      case 'gotify':
        return sendHttp(name, gotifyRequest(t, e, await secret(name, t.token, t['token-file'])), timeoutMs, fetchFn)
      case 'discord':
        return sendHttp(name, discordRequest(t, e), timeoutMs, fetchFn)
      case 'slack':
        return sendHttp(name, slackRequest(t, e), timeoutMs, fetchFn)
      case 'healthchecks':
        return sendHttp(name, healthchecksRequest(t, e), timeoutMs, fetchFn)
      case 'webhook':
        return sendHttp(name, webhookRequest(t, e), timeoutMs, fetchFn)
      case 'email':
        return sendEmail(name, t, e, await secret(name, undefined, t['password-file']), timeoutMs)
      case 'command':
        return runCommand(name, t.command, e, timeoutMs, this.#o.cwd)
    }
  }
}

/** An inline secret, or the first line of a secret file (read at each delivery, so it can change). */
async function secret(what: string, inline: string | undefined, file: string | undefined): Promise<string | undefined> {
  if (inline !== undefined) return inline
  if (file === undefined) return undefined
  const path = file === '~' ? homedir() : file.startsWith('~/') ? join(homedir(), file.slice(2)) : file
  try {
    return (await readFile(path, 'utf8')).split(/\r?\n/)[0]
  } catch (err) {
    throw new Error(`${what}: cannot read the secret file "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}
