import { errnoCode, messageOf } from '../../base/index.js'
import { networkHint, notTlsServer } from '../errors.js'
import { TransportError } from './transport.js'

/** Certificate checks that failed on our side: the server is not who we trust. */
const UNTRUSTED_CERT = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'the connection was reset',
  ECONNABORTED: 'the connection was aborted',
  EPIPE: 'the connection was closed while sending',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ENOTFOUND: 'the host name was not found',
  EAI_AGAIN: 'the host name could not be looked up (temporary DNS failure)',
  ERR_STREAM_PREMATURE_CLOSE: 'the connection closed before the answer was complete',
  ERR_HTTP2_STREAM_ERROR: 'the HTTP/2 stream was reset',
  ERR_HTTP2_STREAM_CANCEL: 'the HTTP/2 stream was cancelled',
  ERR_HTTP2_SESSION_ERROR: 'the HTTP/2 session failed',
  ERR_HTTP2_GOAWAY_SESSION: 'the HTTP/2 session was closed by the server',
  ERR_HTTP2_INVALID_SESSION: 'the HTTP/2 session is closed',
}

/**
 * Words for an error of node:net, node:tls, node:http or node:http2. Certificate failures are
 * PERMISSION_DENIED (retrying cannot help, a --cacert can); everything else is NETWORK.
 *
 * @example
 * explainNetworkError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
 * // → TransportError('NETWORK', 'connection refused (ECONNREFUSED)')
 */
export function explainNetworkError(err: unknown): TransportError {
  if (err instanceof TransportError) return err
  const code = errnoCode(err)
  if (code !== undefined && UNTRUSTED_CERT.has(code)) {
    return new TransportError('PERMISSION_DENIED', `the server's TLS certificate is not trusted: ${messageOf(err)} (${code})`, {
      hint: 'If the server uses its own CA or a self-signed certificate, trust it with --cacert FILE; otherwise check that the URL names the right server',
      cause: err,
    })
  }
  const plain = notTlsServer(code, messageOf(err), 'the URL')
  if (plain !== undefined) return new TransportError('INVALID_ARGUMENT', plain.detail, { hint: plain.hint, cause: err })
  if (code !== undefined && /^ERR_SSL_|^ERR_TLS_/.test(code)) {
    return new TransportError('PERMISSION_DENIED', `the TLS handshake failed: ${messageOf(err)} (${code})`, {
      hint: 'Check that the server speaks https, and whether it wants a client certificate (--tls-client-cert)',
      cause: err,
    })
  }
  const reason = code === undefined ? undefined : REASONS[code]
  const text = reason === undefined ? messageOf(err) : reason
  return new TransportError('NETWORK', code === undefined ? text : `${text} (${code})`, { hint: networkHint(code, 'the URL'), cause: err })
}
