import { AppError, errnoCode, isAppError, type ByteBudget } from '../../base/index.js'
import { FileExistsError, NotFoundError, type Backend, type FileInfo, type Handle } from '../../backends/index.js'
import type { Exchange } from '../http/exchange.js'
import type { Metrics } from '../http/metrics.js'
import { closedRange, decideRange } from './range.js'
import { repoLabel, type RestRoute } from './request-path.js'
import { receiveBody, type ReceiveLimit } from './upload.js'
import type { UsageLimit, UsageTracker } from './usage.js'

/** Content type of a v1 list (names only), and what restic's Accept asks for v1. */
export const MIME_V1 = 'application/vnd.x.restic.rest.v1'
/** Content type of a v2 list (names and sizes); restic takes a list as v2 only with exactly this type. */
export const MIME_V2 = 'application/vnd.x.restic.rest.v2'

/** Longest `bytes=a-b` range read before the file's size is known. */
const FAST_RANGE_MAX = 64 * 1024 * 1024

/** The file a request addresses, with who asks (for metrics and quotas). */
export interface FileTarget {
  h: Handle
  repo: readonly string[]
  user: string
}

/** What the repository operations need besides the request. */
export interface RouteDeps {
  be: Backend
  metrics: Metrics
  usage: UsageTracker
  /** Limits that apply to writes in this repository (server --max-size, the user's quota). */
  limits: UsageLimit[]
  verifyUpload: boolean
  maxUploadBytes: number
  /** Bytes of bodies held in memory, over all requests (see RestHandlerOptions.memoryBytes). */
  memory: ByteBudget
  /** For failures that are the server's fault (500): the message goes to the operator. */
  onError: (message: string, err: unknown) => void
}

type Route<K extends RestRoute['kind']> = Extract<RestRoute, { kind: K }>

/** `POST /repo/?create=true`: makes the directory structure; 200 also when it exists already. */
export async function createRepository(x: Exchange, route: Route<'repository'>, query: URLSearchParams, d: RouteDeps): Promise<void> {
  if (query.get('create') !== 'true') return x.fail(400, 'POST on a repository path needs ?create=true')
  try {
    await d.be.create()
  } catch (err) {
    if (!isAppError(err, 'REPOSITORY_EXISTS')) return backendFailure(x, d, err, `create repository /${repoLabel(route.repo)}`)
  }
  x.empty(200)
}

/** `HEAD` of config or an object: 200 with Content-Length, 404 when missing. */
export async function headFile(x: Exchange, { h }: FileTarget, d: RouteDeps): Promise<void> {
  let info: FileInfo
  try {
    info = await d.be.stat(h)
  } catch (err) {
    return backendFailure(x, d, err, `stat ${describe(h)}`)
  }
  x.head(200, info.size, { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes' })
}

/** `GET` of config or an object, with single byte ranges answered 206 as http.ServeContent does. */
export async function getFile(x: Exchange, t: FileTarget, d: RouteDeps): Promise<void> {
  const { h } = t
  const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes' }
  // restic's pack reads name both ends (`bytes=a-b`): read and stat at once, since a range
  // inside the file is the rule; anything else takes the general path below.
  // A claimed range is only trusted with a buffer up to a pack's size; larger ones are clipped first.
  const closed = closedRange(x.req.headers.range)
  let size: number | undefined
  if (closed !== undefined && closed.end - closed.start < FAST_RANGE_MAX) {
    if (!(await holdMemory(x, d, closed.end - closed.start + 1))) return
    const [st, data] = await Promise.allSettled([d.be.stat(h), d.be.load(h, closed.start, closed.end - closed.start + 1)])
    if (st.status === 'rejected') return backendFailure(x, d, st.reason, `stat ${describe(h)}`)
    size = st.value.size
    if (data.status === 'fulfilled' && closed.end < size) {
      headers['Content-Range'] = `bytes ${closed.start}-${closed.end}/${size}`
      x.bytes(206, data.value, headers)
      count(d, 'read', t, data.value.length)
      return
    }
  }
  if (size === undefined) {
    try {
      size = (await d.be.stat(h)).size
    } catch (err) {
      return backendFailure(x, d, err, `stat ${describe(h)}`)
    }
  }
  const range = decideRange(x.req.headers.range, size)
  if (range.kind === 'unsatisfiable') {
    return x.fail(416, `range "${x.req.headers.range}" does not fit a file of ${size} bytes`, { 'Content-Range': `bytes */${size}` })
  }
  const start = range.kind === 'partial' ? range.start : 0
  const length = range.kind === 'partial' ? range.end - range.start + 1 : size
  if (closed === undefined || closed.end - closed.start >= FAST_RANGE_MAX) {
    if (!(await holdMemory(x, d, length))) return
  }
  let data: Buffer
  try {
    data = length === 0 ? Buffer.alloc(0) : await d.be.load(h, start, length)
  } catch (err) {
    return backendFailure(x, d, err, `read ${describe(h)}`)
  }
  if (range.kind === 'partial') headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`
  x.bytes(range.kind === 'partial' ? 206 : 200, data, headers)
  count(d, 'read', t, data.length)
}

/**
 * `POST` of config or an object: refused with 403 when the file exists (files are immutable),
 * 411/413/507 before reading a body that is unsized, too large or over a quota, 400 when the
 * body does not hash to the object's name (verified while receiving, before anything is stored),
 * then saved atomically through the backend. Answers exactly 200 on success, as restic requires.
 */
export async function postFile(x: Exchange, t: FileTarget, d: RouteDeps): Promise<void> {
  const { h } = t
  try {
    await d.be.stat(h)
    return x.fail(403, `${describe(h)} exists already; files are never overwritten`)
  } catch (err) {
    if (!(err instanceof NotFoundError)) return backendFailure(x, d, err, `stat ${describe(h)}`)
  }
  const lengthHeader = x.req.headers['content-length']
  let declared: number | undefined
  if (lengthHeader !== undefined) {
    if (!/^\d+$/.test(lengthHeader)) return x.fail(400, `invalid Content-Length "${lengthHeader}"`)
    declared = Number(lengthHeader)
    if (declared > d.maxUploadBytes) return x.fail(413, `the upload (${declared} bytes) is larger than the server accepts (${d.maxUploadBytes} bytes)`)
  } else if (d.limits.length > 0) {
    return x.fail(411, 'a Content-Length is required when quotas apply')
  }
  let reservation: Awaited<ReturnType<UsageTracker['reserve']>> | undefined
  if (d.limits.length > 0) {
    try {
      reservation = await d.usage.reserve(d.limits, declared ?? 0, t.repo)
    } catch (err) {
      return backendFailure(x, d, err, 'count the space in use')
    }
    if (!reservation.ok) return x.fail(507, reservation.reason)
  }
  try {
    if (!(await holdMemory(x, d, Math.min(declared ?? d.maxUploadBytes, d.maxUploadBytes)))) return
    // Node's parser never hands over more than Content-Length bytes; an unsized (chunked) body is capped.
    const limit: ReceiveLimit = { bytes: declared ?? d.maxUploadBytes, status: 413, reason: `the upload is larger than the server accepts (${d.maxUploadBytes} bytes)` }
    const body = await receiveBody(x.req, limit, declared)
    if (!body.ok) {
      x.bytesIn = 0
      return x.fail(body.status, body.reason, { Connection: 'close' })
    }
    x.bytesIn = body.data.length
    if (h.type !== 'config' && d.verifyUpload && body.sha256 !== h.name) {
      return x.fail(400, `the uploaded content does not match its name: its SHA-256 is ${body.sha256}`)
    }
    try {
      await d.be.save(h, body.data)
    } catch (err) {
      return backendFailure(x, d, err, `write ${describe(h)}`)
    }
    d.usage.added(t.repo, body.data.length)
    count(d, 'write', t, body.data.length)
    x.empty(200)
  } finally {
    if (reservation?.ok) reservation.release()
  }
}

/**
 * Takes `bytes` of the server's memory budget for this request's body, waiting while other
 * requests hold it (the client's upload waits in its socket meanwhile), and gives it back when
 * the response is done or cut. False when the client went away while waiting: nothing to answer.
 */
async function holdMemory(x: Exchange, d: RouteDeps, bytes: number): Promise<boolean> {
  if (x.res.destroyed || x.req.destroyed) return false
  const left = new AbortController()
  const gone = () => left.abort(new Error('the client went away'))
  x.res.once('close', gone)
  try {
    await d.memory.acquire(bytes, left.signal)
  } catch {
    return false
  } finally {
    x.res.off('close', gone)
  }
  x.res.once('close', () => d.memory.release(bytes))
  return true
}

/** `DELETE` of config or an object: 200 whether or not it existed (restic retries deletes). */
export async function deleteFile(x: Exchange, t: FileTarget, d: RouteDeps): Promise<void> {
  const { h, repo } = t
  let size = 0
  if (h.type !== 'config' || d.usage.tracks(repo)) {
    try {
      size = (await d.be.stat(h)).size
    } catch (err) {
      if (!(err instanceof NotFoundError)) return backendFailure(x, d, err, `stat ${describe(h)}`)
      return x.empty(200)
    }
  }
  try {
    await d.be.remove(h)
  } catch (err) {
    return backendFailure(x, d, err, `remove ${describe(h)}`)
  }
  d.usage.removed(repo, size)
  count(d, 'delete', t, size)
  x.empty(200)
}

/**
 * `GET /repo/<type>/`: v2 (`[{"name","size"}]`, Content-Type exactly the v2 type) when the
 * Accept header is exactly the v2 type, otherwise v1 (`["name", …]`). No trailing newline.
 */
export async function listFiles(x: Exchange, route: Route<'list'>, d: RouteDeps): Promise<void> {
  const v2 = x.req.headers.accept === MIME_V2
  const files: FileInfo[] = []
  try {
    for await (const f of d.be.list(route.type)) files.push(f)
  } catch (err) {
    return backendFailure(x, d, err, `list ${route.type}`)
  }
  const body = v2 ? JSON.stringify(files.map((f) => ({ name: f.name, size: f.size }))) : JSON.stringify(files.map((f) => f.name))
  x.bytes(200, Buffer.from(body), { 'Content-Type': v2 ? MIME_V2 : MIME_V1 })
}

/** Maps a backend error to a status: 404 missing, 403 exists, 507 disk full, otherwise 500 (reported). */
function backendFailure(x: Exchange, d: RouteDeps, err: unknown, what: string): void {
  if (err instanceof NotFoundError) return x.fail(404, 'no such file')
  if (err instanceof FileExistsError) return x.fail(403, 'the file exists already; files are never overwritten')
  const code = errnoCode(err instanceof AppError ? err.cause : err)
  if (code === 'ENOSPC' || code === 'EDQUOT') return x.fail(507, 'the server has no space left for this upload')
  // A path through a file of the served folder (its TLS key, a users file): not a repository,
  // and no failure of the server's to report (it told who asked which files exist there).
  if (code === 'ENOTDIR') return x.fail(404, 'no such file')
  d.onError(`Cannot ${what}: ${err instanceof Error ? err.message : String(err)}`, err)
  x.fail(500, `the server could not ${what}`)
}

function describe(h: Handle): string {
  return h.type === 'config' ? 'config' : `${h.type}/${h.name}`
}

/** rest-server counts objects only, not config. */
function count(d: RouteDeps, op: 'read' | 'write' | 'delete', t: FileTarget, bytes: number): void {
  if (t.h.type !== 'config') d.metrics.blob(op, { user: t.user, repo: repoLabel(t.repo), type: t.h.type }, bytes)
}
