import { posix, resolve } from 'node:path'
import { AppError } from '../base/index.js'
import type { Backend } from './backend.js'
import { LocalBackend } from './local/local-backend.js'
import { MemoryBackend } from './memory/memory-backend.js'
import { wrapBackend } from './wrap/compose.js'

/**
 * A parsed repository location, one variant per kind of backend, following restic's syntax so
 * the same `-r` strings work with both tools. `memory:` is ours (tests only).
 */
export type RepositoryLocation =
  /** `/abs/path`, `relative/path`, `local:/path`. `path` is as written; openBackend() resolves it. */
  | { scheme: 'local'; path: string }
  /** `memory:name`: a process-wide in-memory repository per name. */
  | { scheme: 'memory'; name: string }
  /**
   * `sftp:user@host:path` or `sftp://user@host:port/path`. `path` is cleaned; it is absolute
   * when written as `sftp:host:/abs` or `sftp://host//abs`, otherwise relative to the login
   * directory.
   */
  | { scheme: 'sftp'; user?: string; host: string; port?: number; path: string }
  /**
   * `s3:https://host/bucket/prefix`, `s3:http://…` (useHttp), `s3:host/bucket/prefix`,
   * `s3://host/bucket/prefix`. `endpoint` is host[:port] (or an AWS host); `prefix` may be ''.
   */
  | { scheme: 's3'; endpoint: string; bucket: string; prefix: string; useHttp: boolean }
  /**
   * `rest:http(s)://[user:pass@]host:port/path/`. `url` has no credentials and always ends in
   * `/` (as restic makes it); `username`/`password` are decoded, for HTTP Basic auth.
   */
  | { scheme: 'rest'; url: string; username?: string; password?: string }
  /** `rclone:remote:path` (or `rclone:/local/path`): the argument handed to `rclone serve restic`. */
  | { scheme: 'rclone'; remote: string }

export type BackendScheme = RepositoryLocation['scheme']

/** Backends restic knows that cairn does not implement. */
const FOREIGN_SCHEMES = new Set(['b2', 'azure', 'gs', 'swift'])

/**
 * Parses a repository location as restic does: a `scheme:` prefix picks the backend, anything
 * else is a local path. A bare string with a colon that is not a path is refused, because it
 * is more likely a mistyped backend than a directory name.
 *
 * @example
 * parseRepositoryUrl('sftp:alice@nas:/srv/restic')
 * // → { scheme: 'sftp', user: 'alice', host: 'nas', path: '/srv/restic' }
 */
export function parseRepositoryUrl(url: string): RepositoryLocation {
  if (url === '') throw invalid(url, 'the location is empty')
  const colon = url.indexOf(':')
  const scheme = colon < 0 ? '' : url.slice(0, colon)
  const rest = url.slice(colon + 1)
  switch (scheme) {
    case 'local':
      if (rest === '') throw invalid(url, 'no path given')
      return { scheme: 'local', path: rest }
    case 'memory':
      return { scheme: 'memory', name: rest }
    case 'sftp':
      return parseSftp(url, rest)
    case 's3':
      return parseS3(url, rest)
    case 'rest':
      return parseRest(url, rest)
    case 'rclone':
      if (rest === '') throw invalid(url, 'no rclone remote given')
      return { scheme: 'rclone', remote: rest }
  }
  if (FOREIGN_SCHEMES.has(scheme)) {
    throw new AppError('UNSUPPORTED', `Backend "${scheme}" is not supported`, {
      hint: `cairn supports local, sftp, s3, rest and rclone repositories; rclone can reach ${scheme} as "rclone:<remote>:<path>"`,
    })
  }
  if (colon >= 0 && !isPath(url)) {
    throw invalid(url, `unknown backend "${scheme}"`, 'For a local directory whose name contains ":", write "local:<path>"')
  }
  return { scheme: 'local', path: url }
}

/**
 * The location with any password replaced by `***`, for messages and logs. Everything else is
 * kept as written.
 *
 * @example
 * stripPassword('rest:https://alice:s3cret@host:8000/repo/') // → 'rest:https://alice:***@host:8000/repo/'
 */
export function stripPassword(url: string): string {
  if (!/^(rest|sftp|s3):/.test(url)) return url
  const start = url.indexOf('://')
  if (start < 0) return url
  const authorityStart = start + 3
  const tail = url.slice(authorityStart).search(/[/?#]/)
  const authorityEnd = tail < 0 ? url.length : authorityStart + tail
  const at = url.lastIndexOf('@', authorityEnd - 1)
  if (at < authorityStart) return url
  const passwordStart = url.indexOf(':', authorityStart)
  if (passwordStart < 0 || passwordStart > at) return url
  return `${url.slice(0, passwordStart + 1)}***${url.slice(at)}`
}

/**
 * How to reach a backend, beyond its location: restic's `-o key=value` extended options,
 * TLS settings, bandwidth limits and the environment to read credentials from. Every field is
 * optional; each backend reads the ones it understands.
 */
export interface BackendOptions {
  /** `-o key=value` pairs, keys as restic spells them (`sftp.command`, `s3.storage-class`, `rest.connections`). */
  extended?: Readonly<Record<string, string>>
  /** `--cacert`: PEM files of extra CAs to trust for TLS (rest, s3). */
  caCertFiles?: readonly string[]
  /** `--tls-client-cert`: a PEM file with a client certificate and its key. */
  tlsClientCertFile?: string
  /** `--insecure-tls`: do not verify the server's TLS certificate (rest, s3). */
  insecureTls?: boolean
  /** `--limit-upload` in KiB/s (0 or undefined: unlimited). */
  limitUploadKiB?: number
  /** `--limit-download` in KiB/s (0 or undefined: unlimited). */
  limitDownloadKiB?: number
  /** Environment for credentials (AWS_*, RESTIC_REST_*, …); defaults to process.env. */
  env?: NodeJS.ProcessEnv
  /** Lines a backend wants the user to see (rclone's stderr, retry notices); never contains secrets. */
  onMessage?: (message: string) => void
  /** How long a connection may stay silent before its request fails (s3; default 120 s, as rest and rclone). */
  idleTimeoutMs?: number
  /** The command's interruption: failed calls are no longer retried once it fires (RetryOptions.signal). */
  signal?: AbortSignal
}

type Factory<S extends BackendScheme> = (loc: Extract<RepositoryLocation, { scheme: S }>, options: BackendOptions) => Backend

/**
 * One entry per implemented kind; a new backend adds its factory here. Remote backends are
 * loaded when first opened: each brings dozens of modules (and a client library) that every
 * command on a local repository would otherwise load at its start.
 */
const FACTORIES: { [S in BackendScheme]: () => Promise<Factory<S>> } = {
  local: async () => (loc) => new LocalBackend(resolve(loc.path)),
  memory: async () => (loc) => memoryBackend(loc.name),
  rest: async () => (await import('./rest/open-rest-backend.js')).openRestBackend,
  rclone: async () => (await import('./rclone/rclone-backend.js')).openRcloneBackend,
  sftp: async () => {
    const { SftpBackend } = await import('./sftp/sftp-backend.js')
    return (loc, options) => new SftpBackend(loc, options)
  },
  s3: async () => {
    const { S3Backend } = await import('./s3/s3-backend.js')
    return (loc, options) => new S3Backend(loc, options)
  },
}

/**
 * Opens the backend for a location string. Nothing is read yet: the repository layer finds out
 * whether a repository exists with `stat({ type: 'config' })`.
 *
 * @example
 * const be = await openBackend('../backups/repo') // LocalBackend at an absolute path
 */
export async function openBackend(url: string, options: BackendOptions = {}): Promise<Backend> {
  const loc = parseRepositoryUrl(url)
  const factory = (await FACTORIES[loc.scheme]()) as Factory<typeof loc.scheme>
  return wrapBackend(loc.scheme, url, options, (o) => factory(loc, o))
}

const memoryBackends = new Map<string, MemoryBackend>()

/** Tests open the same `memory:name` more than once (init, then backup) and expect one repository. */
function memoryBackend(name: string): MemoryBackend {
  let be = memoryBackends.get(name)
  if (be === undefined) {
    be = new MemoryBackend(name)
    memoryBackends.set(name, be)
  }
  return be
}

function parseSftp(url: string, rest: string): RepositoryLocation {
  let user: string | undefined
  let host: string
  let port: number | undefined
  let dir: string
  if (rest.startsWith('//')) {
    const u = parseUrl(url, url)
    if (u.hostname === '') throw invalid(url, 'no host given')
    if (u.username !== '') user = decode(url, u.username)
    host = u.hostname
    if (u.port !== '') port = Number(u.port)
    if (u.pathname === '' || u.pathname === '/') throw invalid(url, 'no directory given', 'Write "sftp://user@host/dir" or "sftp://user@host//abs/dir"')
    dir = decode(url, u.pathname).slice(1)
  } else {
    const colon = rest.indexOf(':')
    if (colon < 0) throw invalid(url, 'host or path missing', 'Write "sftp:user@host:/path"')
    const userHost = rest.slice(0, colon)
    dir = rest.slice(colon + 1)
    const at = userHost.lastIndexOf('@')
    if (at >= 0) user = userHost.slice(0, at)
    host = userHost.slice(at + 1)
    if (host === '') throw invalid(url, 'no host given')
  }
  const path = cleanPath(dir)
  if (path.startsWith('~')) {
    throw invalid(url, 'the path starts with "~", which most sftp servers do not expand', 'Use a path relative to the home directory instead, for example "sftp:host:backups"')
  }
  return {
    scheme: 'sftp',
    ...(user === undefined ? {} : { user }),
    host,
    ...(port === undefined ? {} : { port }),
    path,
  }
}

function parseS3(url: string, rest: string): RepositoryLocation {
  if (rest.startsWith('http://') || rest.startsWith('https://')) {
    const u = parseUrl(url, rest)
    const [bucket, prefix] = splitOnce(decode(url, u.pathname).slice(1), '/')
    return s3Location(url, u.host, bucket, prefix, u.protocol === 'http:')
  }
  const path = rest.startsWith('//') ? rest.slice(2) : rest
  const [endpoint, bucketAndPrefix] = splitOnce(path, '/')
  const [bucket, prefix] = splitOnce(bucketAndPrefix, '/')
  return s3Location(url, endpoint, bucket, prefix, false)
}

function s3Location(url: string, endpoint: string, bucket: string, prefix: string, useHttp: boolean): RepositoryLocation {
  if (endpoint === '') throw invalid(url, 'no host or region given', 'Write "s3:https://host/bucket/prefix" or "s3:s3.amazonaws.com/bucket"')
  if (bucket === '') throw invalid(url, 'no bucket given', 'Write "s3:https://host/bucket/prefix" or "s3:s3.amazonaws.com/bucket"')
  return { scheme: 's3', endpoint, bucket, prefix: prefix === '' ? '' : cleanPath(prefix), useHttp }
}

function parseRest(url: string, rest: string): RepositoryLocation {
  const u = parseUrl(url, rest.endsWith('/') ? rest : `${rest}/`)
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw invalid(url, `unsupported protocol "${u.protocol.slice(0, -1)}"`, 'Write "rest:http://host:8000/" or "rest:https://host/path/"')
  }
  const username = u.username === '' ? undefined : decode(url, u.username)
  const password = u.password === '' ? undefined : decode(url, u.password)
  u.username = ''
  u.password = ''
  return {
    scheme: 'rest',
    url: u.href,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
  }
}

/** Mirrors restic: absolute and `../` paths, and Windows drive paths, are never backend names. */
function isPath(s: string): boolean {
  if (s.startsWith('/') || s.startsWith('\\') || s.startsWith('../') || s.startsWith('..\\')) return true
  return /^[a-zA-Z]:[\\/]/.test(s)
}

/** Go's path.Clean: no trailing slash, no `.` or `..` segments where resolvable, `.` for empty. */
function cleanPath(p: string): string {
  if (p === '') return '.'
  const n = posix.normalize(p)
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep)
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)]
}

function parseUrl(url: string, s: string): URL {
  try {
    return new URL(s)
  } catch {
    throw invalid(url, 'not a valid URL')
  }
}

function decode(url: string, s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    throw invalid(url, 'bad percent-encoding')
  }
}

function invalid(url: string, why: string, hint?: string): AppError {
  return new AppError('INVALID_ARGUMENT', `Invalid repository location "${stripPassword(url)}": ${why}`, hint === undefined ? {} : { hint })
}
