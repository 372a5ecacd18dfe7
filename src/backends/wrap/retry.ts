import { AppError, messageOf } from '../../base/index.js'
import type { Backend, FileInfo, FileType, Handle, ListOptions } from '../backend.js'
import { FileExistsError } from '../errors.js'
import { isTransient } from './transient.js'

/** How withRetry() backs off; every field has restic's default. */
export interface RetryOptions {
  /** Retries after the first attempt (default 10, as restic: 11 attempts in all). */
  retries?: number
  /** Give up when the next wait would end later than this after the first attempt (default 15 min). */
  maxElapsedMs?: number
  /** Wait before the first retry, before jitter (default 500 ms). */
  initialDelayMs?: number
  /** Each wait is this many times the one before (default 1.5). */
  multiplier?: number
  /** No single wait is longer (default 60 s). */
  maxDelayMs?: number
  /** Each wait is randomised by ± this fraction (default 0.5), so clients do not retry in step. */
  jitter?: number
  /** Told about each retry and each success after retries; lines name the file and the error. */
  onMessage?: (message: string) => void
  /** Random numbers in [0, 1) for the jitter (default Math.random). */
  random?: () => number
  /**
   * The command's interruption (Ctrl-C): once it fires, a failed attempt is not retried and a
   * wait for the next one ends, with its reason (AppError INTERRUPTED); a server that is down
   * held a Ctrl-C up for minutes.
   */
  signal?: AbortSignal
}

/**
 * A Backend → Backend wrapper that retries operations failing with a transient error (an
 * AppError NETWORK, or a socket error such as ECONNRESET; see isTransient) with exponential
 * backoff and jitter, as restic's retry backend does. Final errors (NOT_FOUND, INVALID_DATA,
 * PERMISSION_DENIED, FileExistsError, …) are thrown at once. When the retries run out, the last
 * error is thrown unchanged.
 *
 * A save retried after an ambiguous failure (the connection broke, but the file may have
 * landed) that then meets FileExistsError checks the stored size: equal means the first attempt
 * succeeded. A listing that fails part-way is started again and yields only names it has not
 * yielded yet, so each file still comes exactly once.
 *
 * @example
 * const be = withRetry(openedBackend, { onMessage: (m) => console.error(m) })
 * await be.load(h) // "Load(data/216ec1d6f8) failed: connection reset, retrying in 0.6s"
 */
export function withRetry(be: Backend, options: RetryOptions = {}): Backend {
  const retry = retrier(options)
  return {
    get location() {
      return be.location
    },
    get properties() {
      return be.properties
    },
    create: () => retry('Create()', () => be.create()),
    save: (h, data) => {
      let ambiguous = false
      return retry(`Save(${describe(h)})`, async () => {
        try {
          await be.save(h, data)
        } catch (err) {
          if (ambiguous && err instanceof FileExistsError && (await be.stat(h)).size === data.length) return
          if (isTransient(err)) ambiguous = true
          throw err
        }
      })
    },
    load: (h, offset, length) => retry(`Load(${describe(h, offset, length)})`, () => be.load(h, offset, length)),
    stat: (h) => retry(`Stat(${describe(h)})`, () => be.stat(h)),
    list: (type, options) => listWithRetry(be, type, retry, options),
    remove: (h) => retry(`Remove(${describe(h)})`, () => be.remove(h)),
    close: () => be.close(),
    // Idempotent: a file removed before the connection dropped is simply not found again.
    ...(be.removeTemporaryFiles === undefined ? {} : { removeTemporaryFiles: (o?: { dryRun?: boolean }) => retry('RemoveTemporaryFiles()', () => be.removeTemporaryFiles!(o)) }),
  }
}

type Retrier = <T>(what: string, fn: () => Promise<T>) => Promise<T>

function interruption(signal: AbortSignal): unknown {
  return signal.reason instanceof Error ? signal.reason : new AppError('INTERRUPTED', 'Interrupted')
}

/** Waits `ms`, or until `signal` fires (then rejects with its reason). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer)
      reject(interruption(signal!))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function retrier(o: RetryOptions): Retrier {
  const retries = o.retries ?? 10
  const maxElapsed = o.maxElapsedMs ?? 15 * 60_000
  const initial = o.initialDelayMs ?? 500
  const multiplier = o.multiplier ?? 1.5
  const maxDelay = o.maxDelayMs ?? 60_000
  const jitter = o.jitter ?? 0.5
  const random = o.random ?? Math.random
  return async (what, fn) => {
    const start = Date.now()
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await fn()
        if (attempt > 1) o.onMessage?.(`${what} succeeded after ${attempt - 1} ${attempt === 2 ? 'retry' : 'retries'}`)
        return result
      } catch (err) {
        if (!isTransient(err) || attempt > retries) throw err
        if (o.signal?.aborted) throw interruption(o.signal)
        const base = Math.min(maxDelay, initial * multiplier ** (attempt - 1))
        const delay = Math.max(0, Math.round(base * (1 + jitter * (2 * random() - 1))))
        if (Date.now() - start + delay > maxElapsed) throw err
        o.onMessage?.(`${what} failed: ${messageOf(err)}, retrying in ${formatDelay(delay)}`)
        await pause(delay, o.signal)
      }
    }
  }
}

/**
 * Restarts a listing that failed part-way. Names already yielded are remembered and skipped, so
 * the caller sees each file once even though the backend lists from the start again.
 */
function listWithRetry(be: Backend, type: FileType, retry: Retrier, options?: ListOptions): AsyncIterable<FileInfo> {
  return (async function* () {
    const seen = new Set<string>()
    let iterator: AsyncIterator<FileInfo> | undefined
    const next = () =>
      retry(`List(${type})`, async () => {
        try {
          iterator ??= be.list(type, options)[Symbol.asyncIterator]()
          for (;;) {
            const r = await iterator.next()
            if (r.done || !seen.has(r.value.name)) return r
          }
        } catch (err) {
          iterator = undefined // the next attempt lists from the start
          throw err
        }
      })
    try {
      for (;;) {
        const r = await next()
        if (r.done) return
        seen.add(r.value.name)
        yield r.value
      }
    } finally {
      await iterator?.return?.()
    }
  })()
}

/** `data/216ec1d6f8` (IDs shortened as restic prints them), plus the range when there is one. */
function describe(h: Handle, offset?: number, length?: number): string {
  const name = h.type === 'config' ? 'config' : `${h.type}/${h.name.slice(0, 10)}`
  if ((offset ?? 0) === 0 && length === undefined) return name
  return `${name}, offset ${offset ?? 0}${length === undefined ? '' : `, length ${length}`}`
}

function formatDelay(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`
}
