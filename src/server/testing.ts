/**
 * Test helpers for the server: raw HTTP requests that reach the server byte for byte as written
 * (no URL normalisation by a client library), IDs of contents, Basic auth headers, quick bcrypt
 * hashes, and a server in a temp directory that is always stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { connect as netConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import bcrypt from 'bcryptjs'
import { cairnBin } from '../../test/helpers/index.js'
import { startRestServer, type RunningRestServer, type ServeRestConfig } from './serve-rest.js'

/** A response as read off the wire. */
export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: Buffer
}

/** Headers and body of a raw request. */
export interface RawRequestOptions {
  headers?: Record<string, string>
  body?: Buffer | string
  /** Do not send Content-Length (the body then goes as written, for malformed requests). */
  omitLength?: boolean
  /** Trust this CA for https URLs. */
  ca?: string | Buffer
}

/**
 * Sends one request over a new connection with the request target exactly as given, and reads
 * the whole response (the connection is closed by `Connection: close`).
 */
export function rawRequest(baseUrl: string, method: string, target: string, opts: RawRequestOptions = {}): Promise<RawResponse> {
  const url = new URL(baseUrl)
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body)
  const ownHost = Object.keys(opts.headers ?? {}).some((k) => k.toLowerCase() === 'host')
  const lines = [`${method} ${target} HTTP/1.1`, ...(ownHost ? [] : [`Host: ${url.host}`]), 'Connection: close']
  for (const [k, v] of Object.entries(opts.headers ?? {})) lines.push(`${k}: ${v}`)
  if (body !== undefined && !opts.omitLength) lines.push(`Content-Length: ${body.length}`)
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1')
  return new Promise((resolve, reject) => {
    const port = Number(url.port)
    const socket =
      url.protocol === 'https:'
        ? tlsConnect({ host: url.hostname, port, ca: opts.ca, servername: url.hostname === '127.0.0.1' ? undefined : url.hostname })
        : netConnect({ host: url.hostname, port })
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', reject)
    socket.on('end', () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks), method))
      } catch (err) {
        reject(err)
      }
    })
    socket.write(body === undefined ? head : Buffer.concat([head, body]))
  })
}

function parseResponse(raw: Buffer, method: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) throw new Error(`incomplete response: ${JSON.stringify(raw.toString('latin1').slice(0, 200))}`)
  const [statusLine, ...headerLines] = raw.subarray(0, end).toString('latin1').split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)
  if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`)
  const headers: Record<string, string> = {}
  for (const l of headerLines) {
    const c = l.indexOf(':')
    headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim()
  }
  let body = raw.subarray(end + 4)
  if (method === 'HEAD') body = Buffer.alloc(0)
  else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']))
  return { status: Number(m[1]), headers, body }
}

/** The ID (hex SHA-256) restic gives these bytes. */
export function idOf(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex')
}

/** An `Authorization` header value for HTTP Basic auth. */
export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
}

/** A bcrypt hash with the lowest cost, so tests stay fast. */
export function quickHash(password: string, prefix: '$2a$' | '$2b$' | '$2y$' = '$2b$'): string {
  const h = bcrypt.hashSync(password, 4)
  return prefix + h.slice(4)
}

/** `{SHA}` + base64 SHA-1, the other htpasswd format rest-server accepts. */
export function shaHash(password: string): string {
  return `{SHA}${createHash('sha1').update(password).digest('base64')}`
}

/** startRestServer() on 127.0.0.1 with a port the system picks, and quick credential reloads. */
export function startTestServer(config: ServeRestConfig): Promise<RunningRestServer> {
  return startRestServer({ listen: '127.0.0.1:0', reloadCheckMs: 100, ...config })
}

/** A `rest:` repository URL for restic with credentials: `rest:http://user:pw@127.0.0.1:port/path/`. */
export function restUrl(serverUrl: string, repoPath: string, user?: string, password?: string): string {
  const u = new URL(repoPath.replace(/^\/?/, '/').replace(/\/?$/, '/'), serverUrl)
  if (user !== undefined) {
    u.username = encodeURIComponent(user)
    u.password = encodeURIComponent(password ?? '')
  }
  return `rest:${u.toString()}`
}

/** A `cairn serve rest` child process. */
export interface ServerProcess {
  url: string
  child: ChildProcess
  /** Sends a signal to the server (not to a wrapper) without waiting. */
  signal(signal: NodeJS.Signals): Promise<void>
  /** Sends the signal (default SIGTERM) and waits for the exit; returns code and output. */
  stop(signal?: NodeJS.Signals): Promise<ServerExit>
  /** Waits for the exit without a signal. */
  exited(): Promise<ServerExit>
  /** What the server printed so far. */
  output(): { stdout: string; stderr: string }
}

export interface ServerExit {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * Starts `cairn serve rest …args` (the CLI built beside the test helpers) as a child process,
 * optionally behind a wrapper command (`['strace', …]`), and waits for its "Listening on" line.
 */
export async function spawnServer(args: string[], opts: { wrapper?: string[]; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<ServerProcess> {
  const argv = [...(opts.wrapper ?? []), process.execPath, cairnBin, 'serve', 'rest', ...args]
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()))
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  if (opts.input !== undefined) child.stdin!.end(opts.input)
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s:\n${stderr}`)), 30_000)
    const check = () => {
      const m = /Listening on (\S+)|"message_type":"listening","url":"([^"]+)"/.exec(stdout)
      if (m) {
        clearTimeout(timer)
        resolve(m[1] ?? m[2])
      }
    }
    child.stdout!.on('data', check)
    void exited.then(({ code }) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code} before listening:\n${stderr}`))
    })
  })
  async function sendSignal(signal: NodeJS.Signals): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return
    // Behind a wrapper (strace), signal the server itself: the wrapper's only child.
    const pid = opts.wrapper === undefined ? child.pid : await onlyChild(child.pid!)
    if (pid !== undefined) process.kill(pid, signal)
  }
  return {
    url,
    child,
    signal: sendSignal,
    async stop(signal = 'SIGTERM') {
      await sendSignal(signal)
      const r = await exited
      return { ...r, stdout, stderr }
    },
    async exited() {
      const r = await exited
      return { ...r, stdout, stderr }
    },
    output: () => ({ stdout, stderr }),
  }
}

async function onlyChild(pid: number): Promise<number | undefined> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')
  const first = text.trim().split(/\s+/)[0]
  return first ? Number(first) : undefined
}
