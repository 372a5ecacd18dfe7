import { lstat, readFile, unlink } from 'node:fs/promises'
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { connect, type AddressInfo } from 'node:net'
import { AppError, errnoCode } from '../../base/index.js'

/** Where to listen: a TCP host and port (no host = every interface), or a Unix socket. */
export type ListenAddress = { kind: 'tcp'; host?: string; port: number } | { kind: 'unix'; path: string }

/**
 * Parses rest-server's --listen syntax: `:8000`, `127.0.0.1:8000`, `[::1]:8000`,
 * `localhost:0` (port 0: the system picks one), or `unix:/run/cairn.sock`.
 *
 * @example
 * parseListenAddress(':8000') // → { kind: 'tcp', port: 8000 }
 */
export function parseListenAddress(text: string): ListenAddress {
  if (text.startsWith('unix:')) {
    const path = text.slice(5)
    if (path === '') throw invalidListen(text)
    return { kind: 'unix', path }
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text)
  if (!m) throw invalidListen(text)
  const port = Number(m[3])
  if (port > 65535) throw invalidListen(text)
  const host = m[1] ?? m[2]
  return host === '' || host === undefined ? { kind: 'tcp', port } : { kind: 'tcp', host, port }
}

function invalidListen(text: string): AppError {
  return new AppError('INVALID_ARGUMENT', `Invalid listen address "${text}"`, {
    hint: 'Use HOST:PORT (":8000" for every interface, "127.0.0.1:8000", "[::1]:8000") or unix:/path/to/socket',
  })
}

/** The PEM files for HTTPS. */
export interface TlsFiles {
  certFile: string
  keyFile: string
  /** Lowest TLS version accepted (rest-server's --tls-min-ver; default 1.2). */
  minVersion?: '1.2' | '1.3'
}

/** A server that listens, and the URL clients reach it at. */
export interface Listening {
  server: Server
  /** `http://127.0.0.1:8000/`, `https://[::]:8443/`, or `unix:/path`. */
  url: string
}

/**
 * Starts node:http (or node:https with the TLS files) on the address. HTTP/1.1 only (restic's
 * Go client speaks it over http and https). Request timeouts are off, so a slow upload of a large
 * pack is not cut; idle connections are closed after 5 minutes.
 */
export async function listen(handler: RequestListener, address: ListenAddress, tls?: TlsFiles): Promise<Listening> {
  let server: Server
  if (tls !== undefined) {
    // One after the other, so that with both files missing the error always names the certificate.
    const cert = await readTlsFile(tls.certFile, 'certificate')
    const key = await readTlsFile(tls.keyFile, 'key')
    try {
      server = createHttpsServer({ cert, key, minVersion: tls.minVersion === '1.3' ? 'TLSv1.3' : 'TLSv1.2', requestTimeout: 0 }, handler) as unknown as Server
    } catch (err) {
      throw new AppError('CONFIG', `Cannot use the TLS certificate "${tls.certFile}" with key "${tls.keyFile}": ${err instanceof Error ? err.message : String(err)}`, {
        hint: 'Check that both files are PEM and that the key belongs to the certificate',
      })
    }
  } else {
    server = createHttpServer({ requestTimeout: 0 }, handler)
  }
  server.headersTimeout = 60_000
  server.keepAliveTimeout = 60_000
  server.setTimeout(5 * 60_000, (socket) => socket.destroy())
  // A socket file a killed server left behind blocks the address: when nothing answers on it,
  // it is stale and goes. One a live server holds is left alone (EADDRINUSE below).
  if (address.kind === 'unix' && (await staleSocket(address.path))) await unlink(address.path).catch(() => {})
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      const code = errnoCode(err)
      const where = address.kind === 'unix' ? `unix:${address.path}` : `${address.host ?? ''}:${address.port}`
      reject(
        new AppError('IO', `Cannot listen on "${where}": ${code ?? err.message}`, {
          hint:
            code === 'EADDRINUSE'
              ? address.kind === 'unix'
                ? 'Another server answers on this socket, or a file of that name is in the way; stop it, or choose another path with --listen'
                : 'Another process uses this address; choose another port with --listen'
              : code === 'EACCES'
                ? address.kind === 'unix' ? 'Check the permissions of the socket\'s folder' : 'Ports below 1024 need privileges; choose a port from 1024'
                : 'Check the --listen address',
          cause: err,
        }),
      )
    }
    server.once('error', onError)
    const ready = () => {
      server.off('error', onError)
      resolve()
    }
    if (address.kind === 'unix') server.listen(address.path, ready)
    else server.listen(address.port, address.host, ready)
  })
  const scheme = tls === undefined ? 'http' : 'https'
  const info = server.address()
  if (typeof info === 'string' || info === null) return { server, url: `unix:${address.kind === 'unix' ? address.path : String(info)}` }
  return { server, url: `${scheme}://${hostForUrl(info)}:${info.port}/` }
}

/** True when `path` is a Unix socket nothing listens on (connecting is refused). */
async function staleSocket(path: string): Promise<boolean> {
  try {
    if (!(await lstat(path)).isSocket()) return false
  } catch {
    return false
  }
  return new Promise((resolve) => {
    const c = connect(path)
    c.once('connect', () => {
      c.destroy()
      resolve(false)
    })
    c.once('error', (err) => resolve(errnoCode(err) === 'ECONNREFUSED'))
  })
}

function hostForUrl(info: AddressInfo): string {
  return info.family === 'IPv6' || info.address.includes(':') ? `[${info.address}]` : info.address
}

async function readTlsFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (err) {
    throw new AppError('CONFIG', `Cannot read the TLS ${what} "${path}": ${errnoCode(err) ?? String(err)}`, {
      hint: `Give the ${what} with --tls-${what === 'key' ? 'key' : 'cert'} (PEM), and check that this user may read it`,
    })
  }
}
