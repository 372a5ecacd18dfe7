import { mkdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { AppError, errnoCode } from '../base/index.js'
import type { BackendOptions } from '../backends/index.js'
import { CredentialStore } from './auth/credential-store.js'
import type { AccessLogEntry } from './http/exchange.js'
import { listen, parseListenAddress, type TlsFiles } from './http/listen.js'
import { BackendUrlProvider, LocalRepositoryProvider, type RepositoryProvider } from './rest/repository-provider.js'
import { createRestHandler, type RestHandler } from './rest/rest-handler.js'

/** Everything `cairn serve rest` can be told; rest-server's flags keep their names and defaults. */
export interface ServeRestConfig {
  /** The directory to serve (rest-server's --path). Either this or `backend`. */
  path?: string
  /** A backend location to serve instead of a directory (`s3:host/bucket/prefix`, …). */
  backend?: string
  backendOptions?: BackendOptions
  /** rest-server's --listen (default `:8000`). */
  listen?: string
  /** No authentication at all (--no-auth). */
  noAuth?: boolean
  /** htpasswd file; default `<path>/.htpasswd` unless a users file is given. */
  htpasswdFile?: string
  /** Users file (YAML) with per-user access, quota and repositories. */
  usersFile?: string
  appendOnly?: boolean
  privateRepos?: boolean
  /** Bytes over everything served (--max-size). */
  maxSize?: number
  /** Largest single upload (default 256 MiB). */
  maxUploadBytes?: number
  /** Bytes of bodies in memory over all requests (default 256 MiB, or maxUploadBytes if more). */
  memoryBytes?: number
  /** Default true; false is rest-server's --no-verify-upload. */
  verifyUpload?: boolean
  prometheus?: boolean
  prometheusNoAuth?: boolean
  /** TLS on (--tls); the files default to `<path>/public_key` and `<path>/private_key`. */
  tls?: boolean
  tlsCert?: string
  tlsKey?: string
  tlsMinVersion?: '1.2' | '1.3'
  /** How long a shutdown waits for requests in flight before cutting them (default 60 s). */
  shutdownTimeoutMs?: number
  /** How often credential files are checked for changes (default 5 s). */
  reloadCheckMs?: number
  onAccess?: (entry: AccessLogEntry) => void
  /** Notices and server-side errors for the operator (never a password). */
  onMessage?: (message: string) => void
}

/** A server that is listening. */
export interface RunningRestServer {
  /** `http://127.0.0.1:8000/` (with the port the system picked for port 0), or `unix:/path`. */
  readonly url: string
  /** What is served: the directory or backend location. */
  readonly location: string
  readonly handler: RestHandler
  /**
   * Reads the credential files again now, and counts the space in use afresh when next needed
   * (for SIGHUP); throws when the files are broken, keeping the old users.
   */
  reloadCredentials(): Promise<void>
  /**
   * Graceful shutdown: stops accepting connections, closes idle ones, lets requests in flight
   * (uploads included) finish, then closes. After the timeout, remaining connections are cut
   * (`forced` is then true). Idempotent.
   */
  close(): Promise<{ forced: boolean }>
}

/**
 * Starts `cairn serve rest`: checks the configuration, loads the credentials, and listens.
 * Nothing is printed; the caller shows `url`.
 *
 * @example
 * const server = await startRestServer({ path: '/srv/restic', listen: '127.0.0.1:8000', privateRepos: true })
 * // restic -r rest:http://alice:secret@127.0.0.1:8000/alice/ init
 * await server.close()
 */
export async function startRestServer(config: ServeRestConfig): Promise<RunningRestServer> {
  const onMessage = config.onMessage ?? (() => {})
  if ((config.path === undefined) === (config.backend === undefined)) {
    throw new AppError('INVALID_ARGUMENT', 'Give exactly one of a directory (--path) and a backend location (--backend)', {
      hint: 'For example: cairn serve rest --path /srv/restic',
    })
  }
  const root = config.path === undefined ? undefined : resolve(config.path)
  if (root !== undefined) await ensureDirectory(root)

  if (config.noAuth) {
    // Each of these only means something with logins: silently off, they would leave every
    // repository open to everyone who reaches the server.
    const needLogins = [config.htpasswdFile !== undefined && '--htpasswd-file', config.usersFile !== undefined && '--users-file', config.privateRepos === true && '--private-repos'].filter((f) => f !== false)
    if (needLogins.length > 0) {
      throw new AppError('INVALID_ARGUMENT', `--no-auth turns logins off, so ${needLogins.join(' and ')} would do nothing`, {
        hint: `Drop --no-auth to check logins, or drop ${needLogins.join(' and ')}`,
      })
    }
  }
  let credentials: CredentialStore | undefined
  if (!config.noAuth) {
    const htpasswdFile = config.htpasswdFile ?? (config.usersFile === undefined && root !== undefined ? join(root, '.htpasswd') : undefined)
    if (htpasswdFile === undefined && config.usersFile === undefined) {
      throw new AppError('CONFIG', 'No credentials to check: serving a backend needs --htpasswd-file or --users-file', {
        hint: 'Give one of them, or --no-auth to serve without authentication',
      })
    }
    credentials = await CredentialStore.open({
      htpasswdFile,
      usersFile: config.usersFile,
      htpasswdAccess: config.appendOnly ? 'append-only' : 'full',
      reloadCheckMs: config.reloadCheckMs,
      onMessage,
    }).catch((err: unknown) => {
      if (err instanceof AppError && err.code === 'CONFIG' && config.htpasswdFile === undefined && config.usersFile === undefined) {
        throw new AppError('CONFIG', `${err.message} (use --no-auth to disable authentication)`, { hint: err.hint })
      }
      throw err
    })
  }

  let tls: TlsFiles | undefined
  if (config.tls) {
    tls = {
      certFile: config.tlsCert ?? requireRoot(root, 'public_key', '--tls-cert'),
      keyFile: config.tlsKey ?? requireRoot(root, 'private_key', '--tls-key'),
      ...(config.tlsMinVersion === undefined ? {} : { minVersion: config.tlsMinVersion }),
    }
  } else if (config.tlsCert !== undefined || config.tlsKey !== undefined) {
    throw new AppError('INVALID_ARGUMENT', '--tls-cert and --tls-key need --tls', { hint: 'Add --tls to serve HTTPS' })
  }

  const provider: RepositoryProvider = root !== undefined ? new LocalRepositoryProvider(root) : new BackendUrlProvider(config.backend!, config.backendOptions)
  const handler = createRestHandler({
    provider,
    credentials,
    appendOnly: config.appendOnly,
    privateRepos: config.privateRepos,
    maxSize: config.maxSize,
    maxUploadBytes: config.maxUploadBytes,
    memoryBytes: config.memoryBytes,
    verifyUpload: config.verifyUpload,
    prometheus: config.prometheus,
    prometheusNoAuth: config.prometheusNoAuth,
    onAccess: config.onAccess,
    onError: (m) => onMessage(m),
  })
  if (config.maxSize !== undefined && config.maxSize > 0) {
    await handler.usage.prime([])
    onMessage(`quota: ${handler.usage.used([])} of ${config.maxSize} bytes in use`)
  }
  const { server, url } = await listen(handler, parseListenAddress(config.listen ?? ':8000'), tls).catch(async (err: unknown) => {
    await provider.close()
    throw err
  })

  let closed: Promise<{ forced: boolean }> | undefined
  const close = () => {
    closed ??= (async () => {
      handler.startClosing()
      const stopped = new Promise<void>((res) => server.close(() => res()))
      server.closeIdleConnections()
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<'timeout'>((res) => {
        timer = setTimeout(() => res('timeout'), config.shutdownTimeoutMs ?? 60_000)
      })
      const outcome = await Promise.race([handler.drained().then(() => 'drained' as const), timeout])
      clearTimeout(timer)
      if (outcome === 'drained') {
        // Responses asked their clients to close; give the last bytes a moment to leave.
        server.closeIdleConnections()
        const grace = new Promise<void>((res) => {
          timer = setTimeout(res, 2000)
        })
        await Promise.race([stopped, grace])
        clearTimeout(timer)
      }
      server.closeAllConnections()
      await stopped
      await provider.close()
      return { forced: outcome === 'timeout' }
    })()
    return closed
  }

  return {
    url,
    location: provider.location,
    handler,
    reloadCredentials: async () => {
      handler.usage.recount()
      await credentials?.reload()
    },
    close,
  }
}

async function ensureDirectory(dir: string): Promise<void> {
  try {
    const st = await stat(dir)
    if (!st.isDirectory()) throw new AppError('INVALID_ARGUMENT', `Cannot serve "${dir}": it is not a directory`, { hint: 'Give a directory with --path' })
  } catch (err) {
    if (err instanceof AppError) throw err
    if (errnoCode(err) !== 'ENOENT') throw new AppError('IO', `Cannot serve "${dir}": ${errnoCode(err) ?? String(err)}`, { hint: 'Check the path and its permissions', cause: err })
    await mkdir(dir, { recursive: true, mode: 0o700 })
  }
}

function requireRoot(root: string | undefined, file: string, flag: string): string {
  if (root === undefined) throw new AppError('INVALID_ARGUMENT', `TLS needs ${flag} when serving a backend`, { hint: `Give ${flag} FILE (PEM)` })
  return join(root, file)
}
