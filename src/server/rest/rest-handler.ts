import type { IncomingMessage, ServerResponse } from 'node:http'
import { ByteBudget } from '../../base/index.js'
import type { Account } from '../auth/account.js'
import type { CredentialStore } from '../auth/credential-store.js'
import { Exchange, type AccessLogEntry } from '../http/exchange.js'
import { Metrics } from '../http/metrics.js'
import { authorize, type Operation } from './policy.js'
import { createRepository, deleteFile, getFile, headFile, listFiles, postFile, type FileTarget, type RouteDeps } from './repo-routes.js'
import type { RepositoryProvider } from './repository-provider.js'
import { parseRestTarget, repoLabel, type RestRoute } from './request-path.js'
import { UsageTracker, type UsageLimit } from './usage.js'

/** Default for the largest single upload: restic's largest pack (--pack-size 128) with room to spare. */
export const DEFAULT_MAX_UPLOAD_BYTES = 256 * 1024 * 1024
const DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024

/** What the handler serves and how; every switch defaults to rest-server's default. */
export interface RestHandlerOptions {
  provider: RepositoryProvider
  /** Who may connect; undefined = no authentication (--no-auth). */
  credentials?: CredentialStore
  /** rest-server's --append-only, for every user. */
  appendOnly?: boolean
  /** rest-server's --private-repos. */
  privateRepos?: boolean
  /** rest-server's --max-size: bytes over everything served. */
  maxSize?: number
  /** Check that an uploaded object's SHA-256 is its name (default true; rest-server's --no-verify-upload turns it off). */
  verifyUpload?: boolean
  /** Largest single upload accepted (default 256 MiB). */
  maxUploadBytes?: number
  /**
   * Bytes of uploads and downloads held in memory at once, over all requests (default 256 MiB,
   * or the largest upload if that is more): requests past it wait their turn.
   */
  memoryBytes?: number
  /** Serve /metrics (rest-server's --prometheus). */
  prometheus?: boolean
  /** /metrics without authentication (rest-server's --prometheus-no-auth). */
  prometheusNoAuth?: boolean
  /** One entry per finished request. */
  onAccess?: (entry: AccessLogEntry) => void
  /** Server-side failures (500s) and notices, for the operator; never contains a password. */
  onError?: (message: string, err?: unknown) => void
  /** Seconds clock for latencies (default performance.now()/1000). */
  now?: () => number
}

/** A request listener for node:http/node:https that speaks restic's REST protocol. */
export interface RestHandler {
  (req: IncomingMessage, res: ServerResponse): void
  readonly metrics: Metrics
  readonly usage: UsageTracker
  /** Requests being served now. */
  readonly inFlight: number
  /** From now on, responses ask clients to close their connections (graceful shutdown). */
  startClosing(): void
  /** Resolves when no request is in flight. */
  drained(): Promise<void>
}

const ROUTE_METHODS: Record<RestRoute['kind'], string[]> = {
  repository: ['POST'],
  config: ['HEAD', 'GET', 'POST', 'DELETE'],
  list: ['GET'],
  object: ['HEAD', 'GET', 'POST', 'DELETE'],
}

/**
 * Builds the handler: /health (no authentication), /metrics (with --prometheus), and the REST
 * protocol (restic-format.md §7.2, rest-server's routes and status codes in §7.3) over the
 * provider's backends. Order of checks: authentication (401), path validation (400/404),
 * repository rights (401 with --private-repos, 403 outside the user's repos), method (405 with
 * Allow), access level (403), then the operation.
 *
 * @example
 * const handler = createRestHandler({ provider: new LocalRepositoryProvider('/srv/restic') })
 * http.createServer(handler).listen(8000)
 */
export function createRestHandler(options: RestHandlerOptions): RestHandler {
  const metrics = new Metrics()
  const usage = new UsageTracker(options.provider)
  // Bodies are held whole while they are stored or sent: without a bound over all requests, a
  // few large uploads or slow downloads (any logged-in user's) ran the server out of memory.
  const memory = new ByteBudget(options.memoryBytes ?? Math.max(DEFAULT_MEMORY_BYTES, options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES), Number.POSITIVE_INFINITY)
  const now = options.now ?? (() => performance.now() / 1000)
  const startedAt = now()
  const onError = options.onError ?? (() => {})
  let inFlight = 0
  let closing = false
  let waiters: Array<() => void> = []
  metrics.setInFlightSource(() => inFlight)

  const logged = (x: Exchange) => {
    const t = now()
    metrics.request(x.req.method ?? '', x.res.statusCode, t - x.started)
    options.onAccess?.(x.entry(t))
  }
  const release = () => {
    inFlight--
    if (inFlight === 0) {
      const w = waiters
      waiters = []
      for (const fn of w) fn()
    }
  }

  const handler = ((req: IncomingMessage, res: ServerResponse) => {
    inFlight++
    const x = new Exchange(req, res, now())
    x.closing = () => closing
    // A request is in flight until its response has ended and its work has settled: a client that
    // goes away must not let a shutdown cut a save that is still being written.
    let open = 2
    const settle = () => {
      if (--open === 0) release()
    }
    let ended = false
    const end = () => {
      if (ended) return
      ended = true
      logged(x)
      settle()
    }
    res.on('finish', end)
    res.on('close', end)
    serve(x)
      .catch((err: unknown) => {
        onError(`Unexpected failure serving ${req.method} ${req.url}: ${err instanceof Error ? err.message : String(err)}`, err)
        if (!res.headersSent) x.fail(500, 'unexpected server failure')
        else res.destroy()
      })
      .finally(settle)
  }) as RestHandler

  async function serve(x: Exchange): Promise<void> {
    const { req } = x
    const target = req.url ?? ''
    const method = req.method ?? ''
    if (target === '/health') {
      if (method !== 'GET' && method !== 'HEAD') return x.fail(405, 'use GET', { Allow: 'GET, HEAD' })
      const body = { status: closing ? 'stopping' : 'ok', uptimeSeconds: Math.round(now() - startedAt), inFlight: inFlight - 1 }
      return x.bytes(closing ? 503 : 200, Buffer.from(JSON.stringify(body)), { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
    }
    if (options.prometheus && target === '/metrics') {
      if (!options.prometheusNoAuth && options.credentials !== undefined) {
        const account = await authenticate(x)
        if (account === undefined) return x.fail(401, 'missing or wrong credentials')
        if (options.privateRepos && account.name !== 'metrics') return x.fail(401, 'with private repositories only the user "metrics" may read /metrics')
      }
      if (method !== 'GET' && method !== 'HEAD') return x.fail(405, 'use GET', { Allow: 'GET, HEAD' })
      return x.bytes(200, Buffer.from(metrics.render()), { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' })
    }

    let account: Account | undefined = { name: '', access: 'full' }
    if (options.credentials !== undefined) {
      account = await authenticate(x)
      if (account === undefined) return x.fail(401, 'missing or wrong credentials')
    }
    const parsed = parseRestTarget(target)
    if (!parsed.ok) return x.fail(parsed.status, parsed.reason)
    const { route, query } = parsed
    x.repo = repoLabel(route.repo)
    const allowed = ROUTE_METHODS[route.kind]
    const op: Operation | undefined = method === 'GET' || method === 'HEAD' ? 'read' : method === 'POST' ? 'write' : method === 'DELETE' ? 'delete' : undefined
    const denied = authorize(account, route, op ?? 'read', {
      privateRepos: options.privateRepos === true,
      appendOnly: options.appendOnly === true,
      authEnabled: options.credentials !== undefined,
    })
    if (denied?.status === 401) return x.fail(401, denied.reason)
    if (op === undefined || !allowed.includes(method)) return x.fail(405, `${method} is not allowed here`, { Allow: allowed.join(', ') })
    if (denied !== undefined) return x.fail(denied.status, denied.reason)

    const deps: RouteDeps = {
      be: await options.provider.backend(route.repo),
      metrics,
      usage,
      limits: op === 'write' ? limitsFor(account, route.repo) : [],
      verifyUpload: options.verifyUpload !== false,
      maxUploadBytes: options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
      memory,
      onError,
    }
    if (route.kind === 'repository') return createRepository(x, route, query, deps)
    if (route.kind === 'list') return listFiles(x, route, deps)
    const t: FileTarget = {
      h: route.kind === 'config' ? { type: 'config', name: '' } : { type: route.type, name: route.id },
      repo: route.repo,
      user: account.name,
    }
    switch (method) {
      case 'HEAD':
        return headFile(x, t, deps)
      case 'GET':
        return getFile(x, t, deps)
      case 'POST':
        return postFile(x, t, deps)
      default:
        return deleteFile(x, t, deps)
    }
  }

  async function authenticate(x: Exchange): Promise<Account | undefined> {
    const creds = basicCredentials(x.req.headers.authorization)
    if (creds === undefined || options.credentials === undefined) return undefined
    const account = await options.credentials.authenticate(creds.user, creds.password)
    if (account !== undefined) x.user = account.name
    else x.error = `login failed for user "${creds.user}"`
    return account
  }

  function limitsFor(account: Account, repo: readonly string[]): UsageLimit[] {
    const limits: UsageLimit[] = []
    if (options.maxSize !== undefined && options.maxSize > 0) limits.push({ prefixes: [[]], bytes: options.maxSize, label: "the server's --max-size" })
    if (account.quota !== undefined) {
      // Everything the user may write to, together: their own folder with --private-repos, or
      // the repositories their `repos` name (each was limited apart: a user spread over three
      // stored three quotas). A user who may write anywhere is held to their own folder, or
      // to the repository written when elsewhere: the whole server would count others' data.
      const own = account.name !== '' && repo[0] === account.name
      const prefixes = options.privateRepos ? [[account.name]] : (account.repos ?? [own ? [account.name] : repo])
      limits.push({ prefixes, bytes: account.quota, label: `the quota of user "${account.name}"` })
    }
    return limits
  }

  Object.defineProperties(handler, {
    metrics: { value: metrics },
    usage: { value: usage },
    inFlight: { get: () => inFlight },
  })
  handler.startClosing = () => {
    closing = true
  }
  handler.drained = () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve)))
  return handler
}

/** The user and password of an HTTP Basic Authorization header, or undefined. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  if (header === undefined) return undefined
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
  if (!m) return undefined
  const text = Buffer.from(m[1], 'base64').toString('utf8')
  const colon = text.indexOf(':')
  if (colon < 0) return undefined
  return { user: text.slice(0, colon), password: text.slice(colon + 1) }
}
