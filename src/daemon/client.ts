/**
 * A client of the daemon's API for `cairn status` and `cairn runs`: finds the daemon through
 * daemon.json in the state directory (or a given URL) and authenticates with the token there.
 */
import { AppError } from '../base/index.js'
import type { RunJson, StatusJson } from './api-types.js'
import { readDaemonInfo, readToken } from './state-dir.js'

/** How to reach the daemon. */
export interface ClientOptions {
  stateDir: string
  /** The API's URL; default: the one in daemon.json. */
  url?: string
  /** The token; default: the one in the state directory. */
  token?: string
  timeoutMs?: number
}

/** See the module comment. */
export class DaemonClient {
  readonly url: string
  readonly #token: string
  readonly #timeoutMs: number

  constructor(options: ClientOptions) {
    const url = options.url ?? readDaemonInfo(options.stateDir)?.url
    if (url === undefined) {
      throw new AppError('NOT_FOUND', `The cairn daemon is not running (no daemon.json in "${options.stateDir}")`, {
        hint: 'Start it with "cairn daemon" (or its systemd service), or give its address with --url',
      })
    }
    this.url = url.replace(/\/+$/, '')
    this.#token = options.token ?? readToken(options.stateDir)
    this.#timeoutMs = options.timeoutMs ?? 10_000
  }

  status(): Promise<StatusJson> {
    return this.#json('GET', '/api/v1/status')
  }

  runs(query: { job?: string; limit?: number; before?: number } = {}): Promise<RunJson[]> {
    const p = new URLSearchParams()
    if (query.job !== undefined) p.set('job', query.job)
    if (query.limit !== undefined) p.set('limit', String(query.limit))
    if (query.before !== undefined) p.set('before', String(query.before))
    const qs = p.toString()
    return this.#json('GET', `/api/v1/runs${qs ? `?${qs}` : ''}`)
  }

  run(id: number): Promise<RunJson> {
    return this.#json('GET', `/api/v1/runs/${id}`)
  }

  async log(id: number): Promise<string> {
    return (await this.#request('GET', `/api/v1/runs/${id}/log`)).text()
  }

  trigger(set: string, destinations?: string[]): Promise<{ accepted: boolean }> {
    return this.#json('POST', `/api/v1/sets/${encodeURIComponent(set)}/run`, destinations ? { destinations } : undefined)
  }

  cancel(id: number): Promise<{ cancelled: boolean }> {
    return this.#json('POST', `/api/v1/runs/${id}/cancel`)
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.#request(method, path, body)).json()) as T
  }

  async #request(method: string, path: string, body?: unknown): Promise<Response> {
    let res: Response
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.#token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } }
      throw new AppError('NETWORK', `Cannot reach the cairn daemon at ${this.url}: ${e.cause?.code ?? e.message}`, {
        hint: 'Is it running? Start it with "cairn daemon"; a stale daemon.json is left only when it was killed',
        cause: err,
      })
    }
    if (res.ok) return res
    let detail: { code?: string; message?: string; hint?: string } = {}
    try {
      detail = (await res.json()) as typeof detail
    } catch {
      // not JSON
    }
    const code = res.status === 401 ? 'PERMISSION_DENIED' : res.status === 404 ? 'NOT_FOUND' : res.status === 400 ? 'INVALID_ARGUMENT' : 'IO'
    throw new AppError(code, `The daemon refused ${method} ${path}: ${detail.message ?? `HTTP ${res.status}`}`, {
      ...(res.status === 401 ? { hint: 'The token in the state directory does not match the running daemon; use the same --state-dir' } : detail.hint ? { hint: detail.hint } : {}),
    })
  }
}
