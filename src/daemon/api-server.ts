/**
 * The daemon's local HTTP JSON API (node:http). Every request needs `Authorization: Bearer
 * <token>` (the token in the state directory); the event stream also takes `?token=` because
 * browsers' EventSource cannot send headers. Bound to loopback unless told otherwise.
 *
 *   GET  /api/v1/status               sets (last result, next run, destinations), tasks, destinations
 *   GET  /api/v1/sets                 the sets part of the status
 *   GET  /api/v1/runs?job=&limit=&before=   runs, newest first
 *   GET  /api/v1/runs/:id             one run
 *   GET  /api/v1/runs/:id/log         its log (text/plain)
 *   POST /api/v1/sets/:name/run       start a backup now ({"destinations": [...]} optional) → 202
 *   POST /api/v1/tasks/:id/run        start a maintenance task now → 202
 *   POST /api/v1/runs/:id/cancel      cancel a waiting or running run
 *   POST /api/v1/sets/:name/cancel    cancel the set's waiting or running run (a waiting one has no id yet)
 *   POST /api/v1/tasks/:id/cancel     the same for a maintenance task
 *   GET  /api/v1/events               server-sent events: status, run-started, progress, log, run-finished, destination
 *   GET  /metrics                     Prometheus metrics
 *
 * Errors are `{ "code", "message", "hint"? }` with 400, 401, 404, 405, 409 or 500.
 */
import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { AppError, messageOf } from '../base/index.js'
import type { RunJson, StatusJson } from './api-types.js'
import type { DaemonEvent } from './event-bus.js'
import type { RunQuery } from './history.js'
import type { RequestAnswer } from './runner.js'

/** What the API needs from the daemon. */
export interface DaemonApi {
  status(): Promise<StatusJson>
  runs(query: RunQuery): RunJson[]
  run(id: number): RunJson | undefined
  runLog(id: number): string | undefined
  /** Starts a set (`kind` "set") or a maintenance task ("task") now; undefined for an unknown name. */
  trigger(kind: 'set' | 'task', name: string, destinations?: string[]): RequestAnswer | undefined
  cancel(id: number): 'cancelled' | 'not-active' | 'unknown'
  /** Cancels the waiting or running run of a set or task; undefined for an unknown name. */
  cancelJob(kind: 'set' | 'task', name: string): 'cancelled' | 'not-active' | undefined
  metrics(): Promise<string>
  subscribe(listener: (e: DaemonEvent) => void): () => void
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message)
  }
}

/** A request handler for the API; see the module comment. */
export function createApiHandler(api: DaemonApi, token: string, heartbeatMs = 15_000): (req: IncomingMessage, res: ServerResponse) => void {
  const expected = Buffer.from(token)
  const authorized = (req: IncomingMessage, url: URL, allowQuery: boolean): boolean => {
    const header = req.headers.authorization ?? ''
    const m = /^Bearer\s+(\S+)$/i.exec(header)
    const given = m?.[1] ?? (allowQuery ? url.searchParams.get('token') : null)
    if (given === null || given === undefined) return false
    const b = Buffer.from(given)
    return b.length === expected.length && timingSafeEqual(b, expected)
  }

  return (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost')
      const path = url.pathname.replace(/\/+$/, '') || '/'
      if (!authorized(req, url, path === '/api/v1/events')) {
        res.setHeader('www-authenticate', 'Bearer realm="cairn"')
        throw new HttpError(401, 'UNAUTHORIZED', 'This request needs the daemon\'s API token', 'Send "Authorization: Bearer <token>" with the token from the api-token file in the state directory')
      }
      await route(api, req, res, url, path, heartbeatMs)
    })().catch((err) => sendError(res, err))
  }
}

async function route(api: DaemonApi, req: IncomingMessage, res: ServerResponse, url: URL, path: string, heartbeatMs: number): Promise<void> {
  const method = req.method ?? 'GET'
  const only = (m: string) => {
    if (method !== m) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}; use ${m}`)
  }
  let m: RegExpExecArray | null
  if (path === '/api/v1/status') {
    only('GET')
    return sendJson(res, 200, await api.status())
  }
  if (path === '/api/v1/sets') {
    only('GET')
    return sendJson(res, 200, (await api.status()).sets)
  }
  if (path === '/api/v1/runs') {
    only('GET')
    const q: RunQuery = {}
    const job = url.searchParams.get('job') ?? url.searchParams.get('set')
    if (job) q.job = job
    const limit = url.searchParams.get('limit')
    if (limit !== null) q.limit = positiveInt(limit, 'limit')
    const before = url.searchParams.get('before')
    if (before !== null) q.beforeId = positiveInt(before, 'before')
    return sendJson(res, 200, api.runs(q))
  }
  if ((m = /^\/api\/v1\/runs\/(\d+)$/.exec(path))) {
    only('GET')
    const run = api.run(Number(m[1]))
    if (!run) throw new HttpError(404, 'NOT_FOUND', `No run ${m[1]}`, 'List runs with GET /api/v1/runs')
    return sendJson(res, 200, run)
  }
  if ((m = /^\/api\/v1\/runs\/(\d+)\/log$/.exec(path))) {
    only('GET')
    const log = api.runLog(Number(m[1]))
    if (log === undefined) throw new HttpError(404, 'NOT_FOUND', `No run ${m[1]}`)
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
    res.end(log)
    return
  }
  if ((m = /^\/api\/v1\/runs\/(\d+)\/cancel$/.exec(path))) {
    only('POST')
    const r = api.cancel(Number(m[1]))
    if (r === 'unknown') throw new HttpError(404, 'NOT_FOUND', `No run ${m[1]}`)
    if (r === 'not-active') throw new HttpError(409, 'NOT_RUNNING', `Run ${m[1]} has already ended`)
    return sendJson(res, 202, { cancelled: true, runId: Number(m[1]) })
  }
  if ((m = /^\/api\/v1\/(sets|tasks)\/([^/]+)\/cancel$/.exec(path))) {
    only('POST')
    const kind = m[1] === 'sets' ? 'set' : 'task'
    const name = decodeURIComponent(m[2])
    const r = api.cancelJob(kind, name)
    if (r === undefined) throw new HttpError(404, 'NOT_FOUND', `No ${kind} "${name}"`, `GET /api/v1/status lists the ${kind}s`)
    if (r === 'not-active') throw new HttpError(409, 'NOT_RUNNING', `${kind === 'set' ? 'Set' : 'Task'} "${name}" is neither waiting nor running`)
    return sendJson(res, 202, { cancelled: true })
  }
  if ((m = /^\/api\/v1\/(sets|tasks)\/([^/]+)\/run$/.exec(path))) {
    only('POST')
    const kind = m[1] === 'sets' ? 'set' : 'task'
    const name = decodeURIComponent(m[2])
    const body = await readJson(req)
    let destinations: string[] | undefined
    if (body !== undefined && typeof body === 'object' && body !== null && 'destinations' in body) {
      const d = (body as { destinations: unknown }).destinations
      if (!Array.isArray(d) || !d.every((x) => typeof x === 'string')) throw new HttpError(400, 'INVALID_ARGUMENT', '"destinations" must be a list of repository names')
      destinations = d
    }
    const answer = api.trigger(kind, name, destinations)
    if (answer === undefined) throw new HttpError(404, 'NOT_FOUND', `No ${kind} "${name}"`, `GET /api/v1/status lists the ${kind}s`)
    if (!answer.accepted) throw new HttpError(409, 'BUSY', `Cannot start "${name}": ${answer.reason}`)
    return sendJson(res, 202, { accepted: true, [kind]: name })
  }
  if (path === '/api/v1/events') {
    only('GET')
    return streamEvents(api, req, res, heartbeatMs)
  }
  if (path === '/metrics') {
    only('GET')
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
    res.end(await api.metrics())
    return
  }
  throw new HttpError(404, 'NOT_FOUND', `No such endpoint: ${method} ${path}`, 'See docs/daemon.md for the API')
}

async function streamEvents(api: DaemonApi, req: IncomingMessage, res: ServerResponse, heartbeatMs: number): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
  const send = (type: string, data: unknown) => res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`)
  send('status', await api.status())
  const unsubscribe = api.subscribe((e) => {
    if (e.type === 'run-started' || e.type === 'run-finished') send(e.type, { type: e.type, ...runOf(e.run) })
    else send(e.type, e)
  })
  const beat = setInterval(() => res.write(': ping\n\n'), heartbeatMs)
  const close = () => {
    clearInterval(beat)
    unsubscribe()
  }
  req.on('close', close)
  res.on('error', close)
}

function runOf(run: { id: number; job: string; kind: string; trigger: string; result: string; startedAt: number; endedAt?: number; errors: string[] }) {
  return {
    run: {
      id: run.id,
      job: run.job,
      kind: run.kind,
      trigger: run.trigger,
      result: run.result,
      startedAt: new Date(run.startedAt).toISOString(),
      endedAt: run.endedAt === undefined ? null : new Date(run.endedAt).toISOString(),
      errors: run.errors,
    },
  }
}

function positiveInt(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new HttpError(400, 'INVALID_ARGUMENT', `"${what}" must be a whole number, not "${text}"`)
  return Number(text)
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length
    if (size > 65536) throw new HttpError(400, 'INVALID_ARGUMENT', 'The request body is larger than 64 KiB')
    chunks.push(c)
  }
  const text = Buffer.concat(chunks).toString('utf8').trim()
  if (text === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    throw new HttpError(400, 'INVALID_ARGUMENT', 'The request body is not JSON')
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  if (err instanceof HttpError) return sendJson(res, err.status, { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) })
  if (err instanceof AppError) {
    const status = err.code === 'NOT_FOUND' ? 404 : err.code === 'INVALID_ARGUMENT' ? 400 : 500
    return sendJson(res, status, { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) })
  }
  sendJson(res, 500, { code: 'INTERNAL', message: messageOf(err) })
}

/** Where the API listens. */
export interface ListenAddress {
  host: string
  port: number
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}

/** Starts the server; resolves with it and its URL once it listens. */
export function listenApi(handler: (req: IncomingMessage, res: ServerResponse) => void, address: ListenAddress): Promise<{ server: Server; url: string }> {
  return new Promise((resolve, reject) => {
    const server = createServer(handler)
    server.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        new AppError('IO', `Cannot listen on ${address.host}:${address.port}: ${err.code ?? err.message}`, {
          hint: err.code === 'EADDRINUSE' ? 'Another process (another cairn daemon?) uses this port; choose one with --listen HOST:PORT' : 'Check the --listen address',
          cause: err,
        }),
      )
    })
    server.listen(address.port, address.host, () => {
      const a = server.address() as AddressInfo
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address
      resolve({ server, url: `http://${host}:${a.port}` })
    })
  })
}

/** Closes the server, ending open event streams. */
export function closeApi(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}
