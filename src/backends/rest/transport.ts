import type { ErrorCode } from '../../base/index.js'

/**
 * The REST protocol over some way of sending HTTP requests (restic-format.md §7.2). RestBackend
 * speaks the protocol; a transport only moves requests and responses: HTTP/1.1 sockets
 * (HttpTransport) or HTTP/2 over the pipes of an rclone child process (RcloneTransport).
 */
export interface RestTransport {
  /**
   * Sends one request and resolves when the status line and headers have arrived. Rejects with
   * the transport's own errors (turn them into words with explain()). The caller reads the body
   * to its end or calls discard().
   */
  request(req: RestRequest): Promise<RestResponse>

  /** Why a request or a body read failed, for an error message; never contains a password. */
  explain(err: unknown): TransportError

  /** Ends every connection; requests after close() reject. */
  close(): Promise<void>
}

export interface RestRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'DELETE'
  /** Relative to the repository's base URL, without a leading slash: '', 'config', 'data/<id>', 'keys/'. */
  path: string
  /** Query string without '?', or undefined. */
  query?: string
  /** Header names in lower case. */
  headers: Record<string, string>
  /** Sent with an explicit Content-Length (the caller sets it), never chunked. */
  body?: Uint8Array
}

export interface RestResponse {
  status: number
  /** The reason phrase, such as "Not Found". */
  statusText: string
  /** A response header by lower-case name. */
  header(name: string): string | undefined
  /** The body in chunks, which belong to the reader. */
  body: AsyncIterable<Buffer>
  /** Frees the connection when the body was not read to its end; harmless after the end. */
  discard(): void
  /**
   * The request was sent a second time, after its first sending failed on a reused connection:
   * the server may have carried out the first one (an answer lost on the way back).
   */
  resent?: boolean
}

/**
 * A failure of the transport (not an HTTP status) in words: `reason` completes a sentence such as
 * `Cannot load "data/…" from "rest:…": <reason>`, and `code` says whether a retry may help
 * (NETWORK) or not.
 */
export class TransportError extends Error {
  readonly code: ErrorCode
  readonly hint?: string

  constructor(code: ErrorCode, reason: string, options: { hint?: string; cause?: unknown } = {}) {
    super(reason, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'TransportError'
    this.code = code
    if (options.hint !== undefined) this.hint = options.hint
  }
}
