import type { Backend } from '../backend.js'
import type { BackendOptions, RepositoryLocation } from '../registry.js'
import { restConfig } from './config.js'
import { HttpTransport } from './http-transport.js'
import { RestBackend } from './rest-backend.js'

/**
 * The backend for `rest:http(s)://[user:pass@]host:port/path/`: restic's REST protocol over
 * HTTP/1.1 with keep-alive (registry.ts's factory). Nothing is sent until the first call.
 *
 * @example
 * const be = openRestBackend(parseRepositoryUrl('rest:http://127.0.0.1:8000/') as RestLocation, {})
 */
export function openRestBackend(loc: Extract<RepositoryLocation, { scheme: 'rest' }>, options: BackendOptions): Backend {
  const c = restConfig(loc, options)
  const transport = new HttpTransport({
    url: c.url,
    connections: c.connections,
    ca: c.ca,
    ...(c.username === undefined ? {} : { username: c.username }),
    ...(c.password === undefined ? {} : { password: c.password }),
    ...(c.clientCert === undefined ? {} : { clientCert: c.clientCert }),
    ...(c.insecure ? { insecure: true } : {}),
  })
  return new RestBackend(transport, { location: `rest:${c.url}`, connections: c.connections })
}
