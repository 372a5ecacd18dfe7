import { readFileSync } from 'node:fs'
import { AppError, errnoCode, messageOf } from '../../base/index.js'
import type { BackendOptions, RepositoryLocation } from '../registry.js'
import { parseBackendOptions, wholeNumber } from '../options.js'

/** `-o rest.*` options, as restic names them. */
export const REST_OPTIONS = {
  /** Requests in flight at once; restic's default is 5. */
  connections: wholeNumber(1, 1000),
}

/** Everything needed to reach a REST server. */
export interface RestConfig {
  /** Base URL, no credentials, ending in `/`. */
  url: string
  username?: string
  password?: string
  connections: number
  /** Extra CA certificates (PEM), trusted besides the system's. */
  ca: Buffer[]
  /** Client certificate and key (PEM). */
  clientCert?: Buffer
  /** `--insecure-tls`: the server's certificate is not checked. */
  insecure?: boolean
}

/**
 * The REST settings for a `rest:` location: credentials from the URL, or else from
 * CAIRN_REST_USERNAME / CAIRN_REST_PASSWORD, or else RESTIC_REST_USERNAME / RESTIC_REST_PASSWORD
 * in `options.env`; `-o rest.connections`; the
 * `--cacert` and `--tls-client-cert` files, read now so a wrong path fails early.
 */
export function restConfig(loc: Extract<RepositoryLocation, { scheme: 'rest' }>, options: BackendOptions): RestConfig {
  const { connections = 5 } = parseBackendOptions('rest', REST_OPTIONS, options.extended)
  const env = options.env ?? process.env
  const fromUrl = loc.username !== undefined
  const username = fromUrl ? loc.username : (nonEmpty(env.CAIRN_REST_USERNAME) ?? nonEmpty(env.RESTIC_REST_USERNAME))
  const password = fromUrl ? loc.password : (nonEmpty(env.CAIRN_REST_PASSWORD) ?? nonEmpty(env.RESTIC_REST_PASSWORD))
  const config: RestConfig = {
    url: loc.url,
    connections,
    ca: (options.caCertFiles ?? []).map((f) => readPem(f, '--cacert')),
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
  }
  if (options.tlsClientCertFile !== undefined) config.clientCert = readPem(options.tlsClientCertFile, '--tls-client-cert')
  if (options.insecureTls === true) config.insecure = true
  return config
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s
}

function readPem(file: string, flag: string): Buffer {
  let pem: Buffer
  try {
    pem = readFileSync(file)
  } catch (err) {
    throw new AppError('INVALID_ARGUMENT', `Cannot read "${file}" (${flag}): ${errnoCode(err) ?? messageOf(err)}`, { hint: `Give ${flag} the path of a PEM file` })
  }
  if (!pem.includes('-----BEGIN ')) {
    throw new AppError('INVALID_ARGUMENT', `Cannot use "${file}" (${flag}): it is not a PEM file`, { hint: 'Convert it to PEM, for example with "openssl x509 -inform der -in cert.der -out cert.pem"' })
  }
  return pem
}
