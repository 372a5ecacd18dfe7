import type { IncomingMessage, ServerResponse } from 'node:http'
import { STATUS_CODES } from 'node:http'

/** One line of the access log (JSON lines): what was asked, by whom, and how it ended. */
export interface AccessLogEntry {
  /** ISO 8601 time the request arrived. */
  time: string
  remote: string
  method: string
  /** The request target as sent (path and query; it never holds credentials). */
  path: string
  status: number
  /** The authenticated user, '' when there was none. */
  user: string
  /** Repository path (`alice/laptop`, '' for the root repository), when the request named one. */
  repo?: string
  bytesIn: number
  bytesOut: number
  durationMs: number
  userAgent?: string
  /** Why the request was refused or failed, when it was. */
  error?: string
}

/**
 * A request and its response, with what the access log and metrics need to know about them.
 * Every response goes through one of the send methods, which set Content-Length (never chunked)
 * and ask for the connection to close while the server shuts down.
 */
export class Exchange {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly started: number
  readonly startedAt: Date
  user = ''
  repo: string | undefined
  bytesIn = 0
  bytesOut = 0
  error: string | undefined
  /** True once the server shuts down: responses then ask the client to close the connection. */
  closing: () => boolean = () => false

  /** The client's address, taken at once: the socket forgets it once it is closed. */
  readonly remote: string

  constructor(req: IncomingMessage, res: ServerResponse, now: number) {
    this.req = req
    this.res = res
    this.started = now
    this.startedAt = new Date()
    this.remote = req.socket.remoteAddress ?? ''
  }

  /** A status with no body (and for HEAD, the Content-Length of what GET would send). */
  empty(status: number, headers: Record<string, string | number> = {}): void {
    this.#head(status, { 'Content-Length': 0, ...headers })
    this.res.end()
  }

  /** Headers for HEAD: the size of the body a GET would send, and no body. */
  head(status: number, contentLength: number, headers: Record<string, string | number> = {}): void {
    this.#head(status, { ...headers, 'Content-Length': contentLength })
    this.res.end()
  }

  bytes(status: number, body: Buffer, headers: Record<string, string | number> = {}): void {
    this.#head(status, { ...headers, 'Content-Length': body.length })
    this.bytesOut += this.req.method === 'HEAD' ? 0 : body.length
    this.res.end(this.req.method === 'HEAD' ? undefined : body)
  }

  /** A refusal or failure: `<Status text>: <reason>` as text, and the reason in the access log. */
  fail(status: number, reason: string, headers: Record<string, string | number> = {}): void {
    this.error ??= reason
    const body = Buffer.from(`${STATUS_CODES[status] ?? 'Error'}: ${reason}\n`)
    this.bytes(status, body, { 'Content-Type': 'text/plain; charset=utf-8', ...headers })
  }

  entry(now: number): AccessLogEntry {
    // A client that went away before the response ended: nginx's 499 when nothing was answered
    // yet (the status Node holds is only its default), and the reason either way.
    const cut = !this.res.writableFinished
    if (cut) this.error ??= 'the client closed the connection before the response was complete'
    const e: AccessLogEntry = {
      time: this.startedAt.toISOString(),
      remote: this.remote,
      method: this.req.method ?? '',
      path: this.req.url ?? '',
      status: cut && !this.res.headersSent ? 499 : this.res.statusCode,
      user: this.user,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      durationMs: Math.round((now - this.started) * 1e6) / 1000,
    }
    if (this.repo !== undefined) e.repo = this.repo
    const ua = this.req.headers['user-agent']
    if (ua !== undefined) e.userAgent = ua
    if (this.error !== undefined) e.error = this.error
    return e
  }

  #head(status: number, headers: Record<string, string | number>): void {
    if (this.res.headersSent) return
    if (this.closing()) headers = { ...headers, Connection: 'close' }
    this.res.writeHead(status, headers)
  }
}
