import http from 'node:http'
import https from 'node:https'
import { rootCertificates } from 'node:tls'
import { explainNetworkError } from './network-error.js'
import { TransportError, type RestRequest, type RestResponse, type RestTransport } from './transport.js'

/** How long a request may go without sending or receiving a byte before it fails. */
const DEFAULT_IDLE_TIMEOUT_MS = 120_000

/** How HttpTransport reaches the server. */
export interface HttpTransportOptions {
  /** The repository's base URL: http or https, no credentials, ending in `/`. */
  url: string
  /** Most sockets open at once (kept alive between requests). */
  connections: number
  /** HTTP Basic auth, sent with every request when `username` is set. */
  username?: string
  password?: string
  /** PEM CA certificates trusted besides the system's (`--cacert`). */
  ca?: readonly (string | Buffer)[]
  /** A PEM holding a client certificate and its private key (`--tls-client-cert`). */
  clientCert?: string | Buffer
  /** `--insecure-tls`: accept any certificate. */
  insecure?: boolean
  /** A request that neither sends nor receives for this long fails with NETWORK (default 2 min). */
  idleTimeoutMs?: number
}

/**
 * HTTP/1.1 (or TLS) over node:http/node:https with a keep-alive agent, as restic's client
 * speaks to rest-server and `rclone serve restic`. A request that fails on a reused keep-alive
 * socket with ECONNRESET before any answer is sent once more on a new socket (the server had
 * closed the idle socket; the request never reached it).
 *
 * @example
 * const t = new HttpTransport({ url: 'http://127.0.0.1:8000/', connections: 5 })
 * const res = await t.request({ method: 'HEAD', path: 'config', headers: {} })
 */
export class HttpTransport implements RestTransport {
  readonly #base: URL
  readonly #agent: http.Agent
  readonly #module: typeof http | typeof https
  readonly #auth: string | undefined
  readonly #idleMs: number
  #closed = false

  constructor(options: HttpTransportOptions) {
    this.#base = new URL(options.url)
    const secure = this.#base.protocol === 'https:'
    this.#module = secure ? https : http
    const agentOptions: https.AgentOptions = { keepAlive: true, maxSockets: options.connections, maxFreeSockets: options.connections, scheduling: 'lifo' }
    if (secure) {
      if (options.ca !== undefined && options.ca.length > 0) agentOptions.ca = [...rootCertificates, ...options.ca]
      if (options.insecure === true) agentOptions.rejectUnauthorized = false
      if (options.clientCert !== undefined) {
        agentOptions.cert = options.clientCert
        agentOptions.key = options.clientCert
      }
    }
    this.#agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions)
    this.#auth = options.username === undefined ? undefined : `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`
    this.#idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
  }

  async request(req: RestRequest): Promise<RestResponse> {
    if (this.#closed) throw new TransportError('INTERNAL', 'the backend is closed')
    try {
      return await this.#send(req)
    } catch (err) {
      if ((err as { reusedSocket?: boolean }).reusedSocket === true && (err as { code?: string }).code === 'ECONNRESET') return Object.assign(await this.#send(req), { resent: true })
      throw err
    }
  }

  explain(err: unknown): TransportError {
    return explainNetworkError(err)
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#agent.destroy()
  }

  #send(r: RestRequest): Promise<RestResponse> {
    const headers: http.OutgoingHttpHeaders = { ...r.headers }
    if (this.#auth !== undefined) headers.authorization = this.#auth
    const path = `${this.#base.pathname}${r.path}${r.query === undefined ? '' : `?${r.query}`}`
    return new Promise<RestResponse>((resolve, reject) => {
      let settled = false
      const req = this.#module.request({
        agent: this.#agent,
        protocol: this.#base.protocol,
        hostname: this.#base.hostname.replace(/^\[|\]$/g, ''),
        port: this.#base.port,
        method: r.method,
        path,
        headers,
        timeout: this.#idleMs,
      })
      req.on('timeout', () => {
        const err = new TransportError('NETWORK', `no data sent or received for ${duration(this.#idleMs)} (ETIMEDOUT)`)
        req.destroy(err)
      })
      req.on('error', (err) => {
        if (settled) return // the response, if any, reports the failure to its reader
        settled = true
        reject(Object.assign(err, { reusedSocket: req.reusedSocket }))
      })
      req.on('response', (res) => {
        settled = true
        req.on('timeout', () => res.destroy(new TransportError('NETWORK', `no data received for ${duration(this.#idleMs)} (ETIMEDOUT)`)))
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          header: (name) => {
            const v = res.headers[name]
            return Array.isArray(v) ? v.join(', ') : v
          },
          body: res,
          discard: () => {
            if (!res.complete) res.destroy()
          },
        })
      })
      if (r.body === undefined) req.end()
      else req.end(r.body)
    })
  }
}

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`
}
