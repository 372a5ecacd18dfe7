import { AppError, errnoCode, messageOf } from '../../base/index.js'
import { networkHint, notTlsServer } from '../errors.js'
import { BUCKET_NAME_RULES } from './s3-settings.js'

/** What an error message may name: never the secret key, which is scrubbed if a server echoes it. */
export interface S3ErrorContext {
  /** The backend's location (`s3:https://host/bucket/prefix`). */
  location: string
  endpointUrl: string
  bucket: string
  /** The secret in use, to remove from any message; undefined when the SDK found it itself. */
  secret?: string
  /** AWS_PROFILE, when the credentials were to come from that profile. */
  profile?: string
}

/** Codes S3 servers give for bad or unusable credentials. */
const CREDENTIAL_CODES = new Set([
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'InvalidSecurity',
  'InvalidClientTokenId',
])
const DENIED_CODES = new Set(['AccessDenied', 'AllAccessDisabled', 'AccountProblem', 'Forbidden'])
/** Worth trying again: the server is busy, or the request ran out of time. */
const TRANSIENT_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'OperationAborted',
])
const REGION_CODES = new Set(['AuthorizationHeaderMalformed', 'PermanentRedirect', 'IllegalLocationConstraintException', 'InvalidRegion'])
/** Node and SDK errors of a connection that failed or broke. */
const NETWORK_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
])
/** OpenSSL's verification failures, as Node reports them in `code`. */
const TLS_TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/** The S3 error code (`NoSuchKey`, `SignatureDoesNotMatch`, `NotFound` for a HEAD) of an SDK error. */
export function s3Code(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const e = err as { Code?: unknown; name?: unknown; $metadata?: unknown }
  const code = typeof e.Code === 'string' ? e.Code : e.$metadata !== undefined && typeof e.name === 'string' ? e.name : undefined
  // A reply without a body (every HEAD) has no code; the SDK calls it "Unknown".
  return code === 'Unknown' || code === 'UnknownError' ? undefined : code
}

/** The HTTP status of an SDK error, if the server answered at all. */
export function s3Status(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const status = (err as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode
  return typeof status === 'number' ? status : undefined
}

/** A 404 for a key (`NoSuchKey`, or `NotFound` from a HEAD, which has no body to say more). */
export function isMissingKey(err: unknown): boolean {
  const code = s3Code(err)
  if (code === 'NoSuchBucket') return false
  return code === 'NoSuchKey' || code === 'NotFound' || s3Status(err) === 404
}

/**
 * Turns an SDK or network error into an AppError whose code says what to do: PERMISSION_DENIED
 * (credentials), NO_REPOSITORY (no such bucket), NETWORK (connection trouble, 5xx, throttling:
 * worth a retry), INVALID_ARGUMENT (region, TLS trust), IO (anything else). `action` names what
 * failed, e.g. `save "data/ab12…"`. The message never contains the secret key.
 */
export function s3Error(err: unknown, action: string, ctx: S3ErrorContext): AppError {
  if (err instanceof AppError) return err
  const mapped = classify(err, ctx)
  const message = scrub(`Cannot ${action} in "${ctx.location}": ${mapped.detail}`, ctx.secret)
  return new AppError(mapped.code, message, mapped.hint === undefined ? { cause: err } : { hint: mapped.hint, cause: err })
}

interface Classified {
  code: AppError['code']
  detail: string
  hint?: string
}

function classify(err: unknown, ctx: S3ErrorContext): Classified {
  const where = `bucket "${ctx.bucket}" at "${ctx.endpointUrl}"`
  const status = s3Status(err)
  const code = s3Code(err)
  const serverText = serverMessage(err, code)
  const name = typeof err === 'object' && err !== null ? (err as { name?: unknown }).name : undefined

  if (name === 'CredentialsProviderError') {
    const profile = ctx.profile
    if (profile !== undefined && profile !== '') {
      return {
        code: 'PERMISSION_DENIED',
        detail: `no S3 credentials found for ${where}: ${messageOf(err)}`,
        hint: `Check that the profile "${profile}" named by AWS_PROFILE is in ~/.aws/credentials (or ~/.aws/config), or unset AWS_PROFILE and set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
      }
    }
    return {
      code: 'PERMISSION_DENIED',
      detail: `no S3 credentials found for ${where}`,
      hint: 'Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials), or AWS_PROFILE for a profile in ~/.aws/credentials',
    }
  }
  if ((code !== undefined && CREDENTIAL_CODES.has(code)) || ((status === 403 || status === 401) && (code === undefined || !DENIED_CODES.has(code)))) {
    return {
      code: 'PERMISSION_DENIED',
      detail: `access to ${where} was refused: the credentials were not accepted (${describe(status, code, serverText)})`,
      hint: 'Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the profile in AWS_PROFILE), and the region',
    }
  }
  if ((code !== undefined && DENIED_CODES.has(code)) || status === 403) {
    return {
      code: 'PERMISSION_DENIED',
      detail: `access to ${where} was denied (${describe(status, code, serverText)})`,
      hint: 'The credentials work but may not use this bucket or prefix; check the bucket policy and the user\'s permissions',
    }
  }
  if (code === 'NoSuchBucket') {
    return {
      code: 'NO_REPOSITORY',
      detail: `${where} does not exist`,
      hint: 'Check the bucket name, or run "init" to create the bucket and a repository in it',
    }
  }
  if (code !== undefined && REGION_CODES.has(code)) {
    return {
      code: 'INVALID_ARGUMENT',
      detail: `${where} refused the region of the request (${describe(status, code, serverText)})`,
      hint: 'Give the bucket\'s region with -o s3.region=REGION or AWS_DEFAULT_REGION (servers other than AWS usually want us-east-1)',
    }
  }
  if (code === 'InvalidBucketName') {
    return { code: 'INVALID_ARGUMENT', detail: `the server does not accept the bucket name "${ctx.bucket}" (${describe(status, code, serverText)})`, hint: BUCKET_NAME_RULES }
  }
  if (code === 'InvalidStorageClass') {
    return {
      code: 'INVALID_ARGUMENT',
      detail: `${where} does not offer the storage class asked for (${describe(status, code, serverText)})`,
      hint: 'Check -o s3.storage-class (STANDARD works everywhere), or leave it out',
    }
  }
  if (code === 'RequestTimeTooSkewed') {
    return { code: 'INVALID_ARGUMENT', detail: `${where} refused the request: ${describe(status, code, serverText)}`, hint: 'Set this computer\'s clock right' }
  }
  const errno = errnoCode(err)
  const plain = notTlsServer(errno, messageOf(err), 'the endpoint')
  if (plain !== undefined) return { code: 'INVALID_ARGUMENT', detail: `cannot reach "${ctx.endpointUrl}": ${plain.detail}`, hint: plain.hint }
  if (errno !== undefined && (TLS_TRUST_CODES.has(errno) || errno.startsWith('ERR_TLS_') || errno.startsWith('ERR_SSL_'))) {
    return {
      code: 'INVALID_ARGUMENT',
      detail: `the TLS connection to "${ctx.endpointUrl}" failed: ${messageOf(err)}`,
      hint: 'For a server with a private CA, pass the CA certificate with --cacert FILE; check that the host name matches the certificate',
    }
  }
  if (
    (code !== undefined && TRANSIENT_CODES.has(code)) ||
    (status !== undefined && (status >= 500 || status === 429 || status === 408)) ||
    (errno !== undefined && NETWORK_ERRNOS.has(errno)) ||
    name === 'TimeoutError' ||
    (status === undefined && isNetworkish(err))
  ) {
    return {
      code: 'NETWORK',
      detail: status === undefined ? `cannot reach "${ctx.endpointUrl}": ${messageOf(err)}` : `the server failed (${describe(status, code, serverText)})`,
      hint: networkHint(errno, 'the endpoint'),
    }
  }
  if (status === 400 && code === undefined) {
    // A bare 400 to a HEAD: a bucket name the server does not take, or a region it does not.
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(ctx.bucket)) {
      return {
        code: 'INVALID_ARGUMENT',
        detail: `the server rejected the request (HTTP 400, no details: a HEAD has no body); the bucket name "${ctx.bucket}" may be what it does not accept`,
        hint: BUCKET_NAME_RULES,
      }
    }
    return {
      code: 'IO',
      detail: `the server rejected the request (HTTP 400, no details: a HEAD has no body)`,
      hint: 'This is often a region the server does not accept: try -o s3.region=us-east-1, or the bucket\'s region',
    }
  }
  if (status !== undefined) return { code: 'IO', detail: `unexpected reply from "${ctx.endpointUrl}" (${describe(status, code, serverText)})` }
  return { code: 'IO', detail: messageOf(err) }
}

/** Errors without a status from the HTTP layer (socket hang up, aborted reads). */
function isNetworkish(err: unknown): boolean {
  const msg = messageOf(err).toLowerCase()
  return msg.includes('socket hang up') || msg.includes('aborted') || msg.includes('premature close') || msg.includes('econnreset')
}

function serverMessage(err: unknown, code: string | undefined): string | undefined {
  const msg = messageOf(err)
  // For bodiless replies (HEAD) the SDK's message is just the code or "UnknownError".
  if (msg === '' || msg === code || msg === 'UnknownError' || msg === 'Unknown') return undefined
  return msg
}

function describe(status: number | undefined, code: string | undefined, text: string | undefined): string {
  const head = [status === undefined ? undefined : `HTTP ${status}`, code].filter((p): p is string => p !== undefined).join(' ')
  if (text === undefined) return head === '' ? 'no details' : head
  return head === '' ? text : `${head}: ${text}`
}

function scrub(s: string, secret: string | undefined): string {
  if (secret === undefined || secret.length < 4) return s
  return s.split(secret).join('***')
}
