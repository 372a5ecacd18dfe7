import { randomBytes } from 'node:crypto'
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2'
import { STATUS_CODES } from 'node:http'
import { explainNetworkError } from '../rest/network-error.js'
import { V2_TYPE } from '../rest/list-format.js'
import { TransportError, type RestRequest, type RestResponse, type RestTransport } from '../rest/transport.js'
import type { RcloneConfig } from './config.js'
import { RcloneProcess } from './rclone-process.js'

/** Flow-control windows: the defaults (64 KiB) would make every 16 MiB pack hundreds of round trips. */
const STREAM_WINDOW = 8 * 1024 * 1024
const SESSION_WINDOW = 64 * 1024 * 1024
/** A request that neither sends nor receives for this long fails with NETWORK. */
const IDLE_TIMEOUT_MS = 120_000
/** How long rclone has to answer an HTTP/2 ping once a request went idle, before it is stopped. */
const PING_TIMEOUT_MS = 10_000
/** How long close() waits for rclone to exit by itself before it kills it. */
const EXIT_GRACE_MS = 5000

/** The environment rclone runs with (default process.env) and where its stderr lines go. */
export interface RcloneTransportOptions {
  env?: NodeJS.ProcessEnv
  onMessage?: (message: string) => void
  /** How long a request may neither send nor receive (default 120 s; tests shorten it). */
  idleTimeoutMs?: number
}

/**
 * The REST protocol over HTTP/2 cleartext with prior knowledge, on the stdin/stdout of a child
 * `rclone serve restic --stdio REMOTE` (restic-format.md §7.4), as restic does (here stdin and
 * stdout are one end of a socket pair rather than two pipes; see socketPair()). rclone is started
 * by the first request; that request waits until rclone answers a probe (`GET /file-<random>`)
 * or `timeoutMs` passes. When rclone dies, requests in flight fail with NETWORK naming the
 * command and rclone's last messages, and the next request starts a new rclone, so a retry
 * can succeed. An rclone that hangs instead (stopped, or wedged on its remote so that it does
 * not even answer an HTTP/2 ping once a request has gone idle) is killed, and so replaced the
 * same way: retries sent to it would each wait out the idle timeout. close() ends the session
 * and waits for the process.
 */
export class RcloneTransport implements RestTransport {
  readonly #config: RcloneConfig
  readonly #options: RcloneTransportOptions
  #current: Promise<RcloneConnection> | undefined
  readonly #all = new Set<RcloneConnection>()
  #closed = false

  constructor(config: RcloneConfig, options: RcloneTransportOptions = {}) {
    this.#config = config
    this.#options = options
  }

  /** The running rclone's process id, if one runs (for diagnostics and tests). */
  async pid(): Promise<number | undefined> {
    const conn = await this.#current?.catch(() => undefined)
    return conn?.process.pid
  }

  async request(req: RestRequest): Promise<RestResponse> {
    if (this.#closed) throw new TransportError('INTERNAL', 'the backend is closed')
    const conn = await this.#connection()
    return conn.request(req)
  }

  explain(err: unknown): TransportError {
    return explainNetworkError(err)
  }

  async close(): Promise<void> {
    this.#closed = true
    await this.#current?.catch(() => undefined)
    await Promise.all([...this.#all].map((c) => c.close()))
  }

  #connection(): Promise<RcloneConnection> {
    this.#current ??= RcloneConnection.start(this.#config, this.#options).then(
      (conn) => {
        this.#all.add(conn)
        void conn.process.exited.then(() => {
          this.#all.delete(conn)
          if (this.#current === started) this.#current = undefined
        })
        return conn
      },
      (err: unknown) => {
        if (this.#current === started) this.#current = undefined
        throw err
      },
    )
    const started = this.#current
    return started
  }
}

/** One rclone process and the HTTP/2 session on its pipes. */
class RcloneConnection {
  readonly process: RcloneProcess
  readonly #session: ClientHttp2Session
  readonly #idleMs: number
  /** A ping is out to see whether rclone still answers. */
  #pinging = false
  /** Set when rclone was killed for not answering one. */
  #hung: string | undefined

  private constructor(process: RcloneProcess, session: ClientHttp2Session, idleMs: number) {
    this.process = process
    this.#session = session
    this.#idleMs = idleMs
  }

  /** Starts rclone and resolves once it has answered the probe; rejects with a TransportError. */
  static async start(config: RcloneConfig, options: RcloneTransportOptions): Promise<RcloneConnection> {
    const proc = await RcloneProcess.start({ program: config.program, args: config.args, ...options })
    const session = http2.connect('http://localhost', {
      createConnection: () => proc.channel,
      settings: { initialWindowSize: STREAM_WINDOW, enablePush: false },
      maxSessionMemory: 256,
    })
    session.on('error', () => {}) // each stream reports its own failure
    session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW))
    void proc.exited.then(() => session.destroy())
    const conn = new RcloneConnection(proc, session, options.idleTimeoutMs ?? IDLE_TIMEOUT_MS)
    try {
      await conn.#probe(config.timeoutMs)
    } catch (err) {
      session.destroy()
      await proc.stop(0)
      throw err
    }
    return conn
  }

  async request(req: RestRequest): Promise<RestResponse> {
    let stream: ClientHttp2Stream
    let headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader
    try {
      stream = this.#session.request(
        { ':method': req.method, ':path': `/${req.path}${req.query === undefined ? '' : `?${req.query}`}`, ...req.headers },
        { endStream: req.body === undefined },
      )
      stream.on('error', () => {}) // a reader sees the error through the body; no one else must
      stream.setTimeout(this.#idleMs, () => {
        stream.destroy(new TransportError('NETWORK', `rclone sent nothing for ${this.#idleMs / 1000} s (ETIMEDOUT)`))
        this.#checkAnswers()
      })
      const response = responseOf(stream)
      if (req.body !== undefined) stream.end(req.body)
      headers = await response
    } catch (err) {
      throw await this.#explain(err)
    }
    const status = Number(headers[':status'])
    const length = headers['content-length']
    const declared = req.method === 'HEAD' || length === undefined || !/^\d+$/.test(length) ? undefined : Number(length)
    return {
      status,
      statusText: STATUS_CODES[status] ?? '',
      header: (name) => {
        const v = headers[name]
        return Array.isArray(v) ? v.join(', ') : v
      },
      body: this.#body(stream, declared),
      discard: () => {
        if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL)
      },
    }
  }

  /**
   * After a request went idle: a ping rclone does not answer in time means the process hangs
   * (stopped, or its HTTP/2 server stuck), and it is killed, so that the next request starts a
   * new one. One that answers is alive, only slow on that request.
   */
  #checkAnswers(): void {
    if (this.#pinging || this.process.exit !== undefined || this.#session.destroyed) return
    this.#pinging = true
    const limit = Math.min(PING_TIMEOUT_MS, this.#idleMs)
    const hung = () => {
      if (this.#hung !== undefined || this.process.exit !== undefined) return
      this.#hung = `rclone stopped answering (a request went ${this.#idleMs / 1000} s without a byte, and an HTTP/2 ping ${limit / 1000} s without a reply) and was stopped`
      this.#session.destroy()
      void this.process.stop(0)
    }
    const timer = setTimeout(hung, limit)
    const sent = this.#session.ping((err) => {
      clearTimeout(timer)
      this.#pinging = false
      if (err) hung()
    })
    if (!sent) {
      clearTimeout(timer)
      hung()
    }
  }

  /**
   * Ends the session (streams in flight get EXIT_GRACE_MS to finish), then stops rclone and
   * waits until it has been reaped.
   */
  async close(): Promise<void> {
    if (!this.#session.closed && !this.#session.destroyed) {
      await Promise.race([new Promise<void>((resolve) => this.#session.close(resolve)), delay(EXIT_GRACE_MS)])
      this.#session.destroy()
    }
    await this.process.stop(EXIT_GRACE_MS)
  }

  /**
   * The body, checked against its Content-Length: when rclone dies, Node ends the streams of the
   * session without an error, and a cut-off pack must read as a broken connection (NETWORK),
   * not as a short file.
   */
  async *#body(stream: ClientHttp2Stream, declared: number | undefined): AsyncGenerator<Buffer> {
    let got = 0
    try {
      for await (const chunk of stream) {
        got += (chunk as Buffer).length
        yield chunk as Buffer
      }
    } catch (err) {
      throw await this.#explain(err)
    }
    const reset = stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR
    if ((declared !== undefined && got < declared) || reset) {
      const what = declared === undefined ? 'the HTTP/2 stream was reset' : `the HTTP/2 stream ended after ${got} of ${declared} bytes`
      throw await this.#explain(Object.assign(new Error(what), { code: 'ERR_STREAM_PREMATURE_CLOSE' }))
    }
  }

  /**
   * rclone sends `GET /file-<random>` a 404 once it serves (restic's probe). Resolves then;
   * rejects when rclone exits first or the timeout passes.
   */
  async #probe(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs)
    })
    const stream = this.#session.request({ ':method': 'GET', ':path': `/file-${randomBytes(8).toString('hex')}`, accept: V2_TYPE }, { endStream: true })
    stream.on('error', () => {})
    const answered = responseOf(stream).then(
      () => 'answered' as const,
      () => 'failed' as const,
    )
    const first = await Promise.race([answered, this.process.exited.then(() => 'exited' as const), timeout])
    clearTimeout(timer)
    stream.close(http2.constants.NGHTTP2_CANCEL)
    if (first === 'answered') return
    if (first === 'timeout') {
      // Final, not retried: every retry would start another rclone and wait as long again
      // (ten of them, twelve minutes); restic gives up here too.
      throw new TransportError('IO', `rclone did not answer within ${timeoutMs / 1000} s (command: ${this.process.command})${this.process.lastMessages()}`, {
        hint: 'Check the remote, or allow more time with -o rclone.timeout=5m',
      })
    }
    await Promise.race([this.process.exited, delay(2000)])
    throw this.#startFailure()
  }

  #startFailure(): TransportError {
    const p = this.process
    const exit = p.exit
    if (exit !== undefined && 'spawnError' in exit) {
      const code = (exit.spawnError as { code?: string }).code
      if (code === 'ENOENT' || code === 'EACCES') {
        return new TransportError('INVALID_ARGUMENT', `cannot start rclone: program "${p.child.spawnfile}" ${code === 'ENOENT' ? 'not found' : 'is not executable'}`, {
          hint: 'Install rclone (https://rclone.org/install/), or name it with -o rclone.program=/path/to/rclone',
          cause: exit.spawnError,
        })
      }
    }
    return new TransportError('IO', `rclone ${p.describeExit()} before it served any request (command: ${p.command})${p.lastMessages()}`, {
      hint: 'Check the remote name and its configuration ("rclone config"), and try the command by hand',
    })
  }

  /** A failure in words; when rclone is dying, waits briefly so the message can say how it ended. */
  async #explain(err: unknown): Promise<TransportError> {
    if (err instanceof TransportError) return err
    if (this.#hung !== undefined) {
      return new TransportError('NETWORK', `${this.#hung} (command: ${this.process.command})${this.process.lastMessages()}`, {
        hint: 'The next request starts rclone again; if it keeps hanging, check the remote and its configuration',
        cause: err,
      })
    }
    if (this.process.exit === undefined) {
      // The socket usually breaks a moment before the exit is known; an error with the session
      // still up may be rclone's death on its way.
      await Promise.race([this.process.exited, delay(this.#session.destroyed || this.#session.closed ? 1000 : 200)])
    }
    if (this.process.exit !== undefined) {
      return new TransportError('NETWORK', `rclone ${this.process.describeExit()} (command: ${this.process.command})${this.process.lastMessages()}`, {
        hint: 'The next request starts rclone again; if it keeps failing, check the remote and its configuration',
        cause: err,
      })
    }
    return explainNetworkError(err)
  }
}

/** Resolves with the response headers, or rejects when the stream fails or closes first. */
function responseOf(stream: ClientHttp2Stream): Promise<http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader> {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(Object.assign(new Error('the stream closed before an answer'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }))
    stream.once('response', (headers) => {
      stream.off('close', onClose)
      resolve(headers)
    })
    stream.once('error', reject)
    stream.once('close', onClose)
  })
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
