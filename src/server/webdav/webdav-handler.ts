import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { errnoCode, messageOf } from '../../base/index.js'
import type { BrowseEntry, BrowseFile, SnapshotBrowser } from '../../app/index.js'
import type { CredentialStore } from '../auth/credential-store.js'
import { basicCredentials } from '../rest/rest-handler.js'

export interface WebDavHandlerOptions {
  /** Users allowed in (any access level reads); none means no login is asked for. */
  credentials?: CredentialStore
  /** Server-side failures, for the operator. */
  onMessage?: (message: string) => void
  /**
   * Answer only requests addressed to this machine by a loopback name (`Host: localhost:8080`),
   * for a server without a login: a web page whose name its DNS turns to 127.0.0.1 (DNS
   * rebinding) could otherwise read every backed-up file through the visitor's browser.
   */
  loopbackHostsOnly?: boolean
}

const ALLOW = 'OPTIONS, GET, HEAD, PROPFIND'

/** What writing to a client that closed its connection fails with. */
const CLIENT_GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE', 'ERR_STREAM_DESTROYED'])

/**
 * A read-only WebDAV server (RFC 4918, class 1) over a SnapshotBrowser, so that a file manager
 * (Finder, GNOME Files, Windows Explorer), davfs2 or rclone can mount the snapshots. PROPFIND
 * with depth 0 or 1, GET and HEAD with single byte ranges, and an HTML listing for a browser
 * that GETs a folder. Every method that would change something is refused with 405.
 *
 * @example
 * createServer(createWebDavHandler(new SnapshotBrowser(repo))).listen(8080, '127.0.0.1')
 */
export function createWebDavHandler(browser: SnapshotBrowser, options: WebDavHandlerOptions = {}): RequestListener {
  return (req, res) => {
    void handle(browser, options, req, res).catch((err) => {
      // A client that went away mid-download (a cancelled copy, a player seeking) is no problem to report.
      if (CLIENT_GONE.has(errnoCode(err) ?? '') && (req.socket.destroyed || res.destroyed)) return
      options.onMessage?.(`${req.method} ${req.url}: ${messageOf(err)}`)
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `Cannot read the repository: ${messageOf(err)}\n`)
      else res.destroy()
    })
  }
}

async function handle(browser: SnapshotBrowser, options: WebDavHandlerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  req.resume() // a request body (PROPFIND's) is not needed: every property is always sent
  if (options.loopbackHostsOnly && !LOOPBACK_HOST.test(hostName(req.headers.host ?? ''))) {
    return send(res, 403, 'text/plain; charset=utf-8', 'Without a login this server answers only requests to localhost, 127.0.0.1 or [::1]\n')
  }
  if (options.credentials !== undefined) {
    const creds = basicCredentials(req.headers.authorization)
    const account = creds === undefined ? undefined : await options.credentials.authenticate(creds.user, creds.password)
    if (account === undefined) {
      res.setHeader('WWW-Authenticate', 'Basic realm="cairn", charset="UTF-8"')
      return send(res, 401, 'text/plain; charset=utf-8', 'Log in with a user of the htpasswd file\n')
    }
  }
  const method = req.method ?? 'GET'
  if (method === 'OPTIONS') {
    res.writeHead(200, { DAV: '1', Allow: ALLOW, 'MS-Author-Via': 'DAV', 'Content-Length': 0 })
    return void res.end()
  }
  if (method !== 'GET' && method !== 'HEAD' && method !== 'PROPFIND') {
    res.setHeader('Allow', ALLOW)
    return send(res, 405, 'text/plain; charset=utf-8', 'Snapshots are read-only\n')
  }
  const path = parsePath(req.url ?? '/')
  if (path === undefined) return send(res, 400, 'text/plain; charset=utf-8', 'Malformed path\n')
  const entry = await browser.resolve(path.names)
  if (entry === undefined) return send(res, 404, 'text/plain; charset=utf-8', 'Not found\n')
  const base = '/' + path.names.map(encodeSegment).join('/')
  const href = entry.kind === 'dir' ? (base === '/' ? '/' : base + '/') : base

  if (method === 'PROPFIND') {
    const depth = req.headers.depth ?? 'infinity'
    if (depth !== '0' && depth !== '1') {
      return send(res, 403, 'application/xml; charset=utf-8', '<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>\n')
    }
    let xml = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n' + response(href, entry)
    if (depth === '1' && entry.kind === 'dir') {
      for (const child of await browser.list(entry)) xml += response(href + encodeSegment(child.name) + (child.kind === 'dir' ? '/' : ''), child)
    }
    return send(res, 207, 'application/xml; charset=utf-8', xml + '</D:multistatus>\n')
  }

  if (entry.kind === 'dir') {
    if (!path.trailingSlash && base !== '/') {
      res.setHeader('Location', href)
      return send(res, 301, 'text/plain; charset=utf-8', `Moved to ${href}\n`, method === 'HEAD')
    }
    return send(res, 200, 'text/html; charset=utf-8', listingPage(href, await browser.list(entry)), method === 'HEAD')
  }
  return sendFile(browser, req, res, entry, method === 'HEAD')
}

async function sendFile(browser: SnapshotBrowser, req: IncomingMessage, res: ServerResponse, file: BrowseFile, headOnly: boolean): Promise<void> {
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/octet-stream',
    'Last-Modified': file.mtime.toUTCString(),
    ETag: `"${file.etag}"`,
    'Accept-Ranges': 'bytes',
  }
  if (noneMatch(req.headers['if-none-match'], file.etag)) {
    res.writeHead(304, headers)
    return void res.end()
  }
  let start = 0
  let end = file.size
  let status = 200
  const range = req.headers.range
  if (range !== undefined && (req.headers['if-range'] === undefined || req.headers['if-range'] === `"${file.etag}"`)) {
    const r = parseRange(range, file.size)
    if (r === 'unsatisfiable') {
      res.writeHead(416, { 'Content-Range': `bytes */${file.size}`, 'Content-Length': 0 })
      return void res.end()
    }
    if (r !== undefined) {
      ;[start, end] = r
      status = 206
      headers['Content-Range'] = `bytes ${start}-${end - 1}/${file.size}`
    }
  }
  headers['Content-Length'] = end - start
  if (headOnly || end === start) {
    res.writeHead(status, headers)
    return void res.end()
  }
  // The first piece is read before the status is sent: a blob that cannot be read (a missing
  // pack) is answered 500, not with a 200 cut off before its first byte.
  const pieces = browser.read(file, start, end)
  const first = await pieces.next()
  res.writeHead(status, headers)
  await pipeline(Readable.from(withFirst(first, pieces)), res)
}

async function* withFirst(first: IteratorResult<Buffer>, rest: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  if (first.done === true) return
  yield first.value
  yield* rest
}

/**
 * If-None-Match (RFC 9110 13.1.2): true when the header is "*" or lists the file's tag, compared
 * weakly (a W/ prefix does not count).
 */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === `"${etag}"`)
}

/** One byte range ("bytes=a-b", "bytes=a-", "bytes=-n"); several ranges are answered whole. */
function parseRange(header: string, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  // An empty file has no byte to name in a Content-Range: it is sent whole (empty), as RFC 9110 allows.
  if (m === null || (m[1] === '' && m[2] === '') || size === 0) return undefined
  if (m[1] === '') {
    const n = Number(m[2])
    if (n === 0) return 'unsatisfiable'
    return [Math.max(0, size - n), size]
  }
  const start = Number(m[1])
  const last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (start >= size || last < start) return 'unsatisfiable'
  return [start, last + 1]
}

function response(href: string, e: BrowseEntry): string {
  let props = `<D:displayname>${xmlText(e.name.toString('utf8'))}</D:displayname><D:getlastmodified>${e.mtime.toUTCString()}</D:getlastmodified><D:getetag>"${e.etag}"</D:getetag>`
  if (e.kind === 'dir') props += '<D:resourcetype><D:collection/></D:resourcetype>'
  else props += `<D:resourcetype/><D:getcontentlength>${e.size}</D:getcontentlength><D:getcontenttype>application/octet-stream</D:getcontenttype>`
  return `<D:response><D:href>${xmlText(href)}</D:href><D:propstat><D:prop>${props}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`
}

function listingPage(href: string, entries: BrowseEntry[]): string {
  const title = xmlText(decodeForDisplay(href))
  let rows = href === '/' ? '' : '<li><a href="../">../</a></li>\n'
  for (const e of entries) {
    const name = e.name.toString('utf8') + (e.kind === 'dir' ? '/' : '')
    const size = e.kind === 'file' ? ` <small>${e.size} bytes</small>` : ''
    rows += `<li><a href="${xmlText(encodeSegment(e.name) + (e.kind === 'dir' ? '/' : ''))}">${xmlText(name)}</a>${size}</li>\n`
  }
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><ul>\n${rows}</ul></body></html>\n`
}

function decodeForDisplay(href: string): string {
  try {
    return decodeURIComponent(href)
  } catch {
    return href
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, headOnly = false): void {
  const bytes = Buffer.from(body, 'utf8')
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': bytes.length })
  res.end(headOnly ? undefined : bytes)
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }

function xmlText(s: string): string {
  // Characters XML 1.0 cannot carry at all become U+FFFD.
  return s.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
}

/** A name as one URL path segment: its bytes, with all but unreserved characters percent-encoded. */
export function encodeSegment(name: Buffer): string {
  let s = ''
  for (const b of name) {
    const c = String.fromCharCode(b)
    s += /[A-Za-z0-9\-._~]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0')
  }
  return s
}

/** The names of a request path, as bytes (a name that is not UTF-8 arrives percent-encoded). */
export function parsePath(url: string): { names: Buffer[]; trailingSlash: boolean } | undefined {
  let path = url
  const q = path.search(/[?#]/)
  if (q >= 0) path = path.slice(0, q)
  if (/^https?:\/\//i.test(path)) path = path.replace(/^https?:\/\/[^/]*/i, '')
  if (!path.startsWith('/')) return undefined
  const names: Buffer[] = []
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue
    const bytes = percentDecode(part)
    if (bytes === undefined) return undefined
    if (bytes.toString('latin1') === '..') return undefined
    names.push(bytes)
  }
  return { names, trailingSlash: path.endsWith('/') }
}

function percentDecode(s: string): Buffer | undefined {
  const out: number[] = []
  const raw = Buffer.from(s, 'utf8')
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== 0x25) {
      out.push(raw[i])
      continue
    }
    const hex = raw.subarray(i + 1, i + 3).toString('latin1')
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined
    out.push(parseInt(hex, 16))
    i += 2
  }
  return Buffer.from(out)
}

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|::1)$/i

/** The name in a Host header, without its port or an IPv6 address's brackets. */
function hostName(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']')
    return end > 0 ? host.slice(1, end) : host
  }
  const colon = host.lastIndexOf(':')
  return colon >= 0 ? host.slice(0, colon) : host
}
