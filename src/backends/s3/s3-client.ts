import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import * as tls from 'node:tls'
import type { S3Client } from '@aws-sdk/client-s3'
import { AppError, messageOf } from '../../base/index.js'
import type { BackendOptions } from '../registry.js'
import { GuardedHttpAgent, GuardedHttpsAgent } from './s3-agents.js'
import type { S3Settings } from './s3-settings.js'

/** The SDK module; loaded on first use, because importing it costs about 0.3 s of start-up. */
export type S3Sdk = typeof import('@aws-sdk/client-s3')

let sdkPromise: Promise<S3Sdk> | undefined

/** Loads @aws-sdk/client-s3 once per process. */
export function loadS3Sdk(): Promise<S3Sdk> {
  sdkPromise ??= import('@aws-sdk/client-s3')
  return sdkPromise
}

/** A configured client, the SDK's command classes, and the region it signs for. */
export interface S3Connection {
  sdk: S3Sdk
  client: S3Client
  region: string
  /** The secret key when it came from the environment (to scrub from messages), else undefined. */
  secret: string | undefined
  destroy(): void
}

/** Static credentials from the environment, as restic reads them (AWS_*, then MINIO_*). */
export interface EnvCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/**
 * AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else MINIO_ACCESS_KEY +
 * MINIO_SECRET_KEY, else undefined: then the SDK's default chain looks for credentials
 * (AWS_PROFILE and the shared files, SSO, the container and instance metadata services).
 */
export function envCredentials(env: NodeJS.ProcessEnv): EnvCredentials | undefined {
  const id = env.AWS_ACCESS_KEY_ID
  const secret = env.AWS_SECRET_ACCESS_KEY
  if (id && secret) return { accessKeyId: id, secretAccessKey: secret, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) }
  if (env.MINIO_ACCESS_KEY && env.MINIO_SECRET_KEY) return { accessKeyId: env.MINIO_ACCESS_KEY, secretAccessKey: env.MINIO_SECRET_KEY }
  return undefined
}

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {} }

/** A request whose connection sends and receives nothing this long fails (and is retried). */
const IDLE_TIMEOUT_MS = 120_000

/**
 * Builds the S3 client for `settings`:
 * - one keep-alive agent per scheme with `connections` sockets (see s3-agents.ts for why they
 *   are "guarded"); `--cacert` files are trusted in
 *   addition to the system's CAs, and `--tls-client-cert` (a PEM with certificate and key) is
 *   presented to servers that ask;
 * - checksums only where an operation requires them (`WHEN_REQUIRED`): the default adds
 *   aws-chunked framing to streamed bodies, which Swift's s3api refuses;
 * - Content-MD5 on DeleteObjects, which Swift requires and the SDK no longer sends;
 * - `sdkRetries` extra attempts (0 by default: the retry wrapper owns retrying);
 * - the SDK's logging silenced: library code reports through errors, never the console.
 * When the region is unknown (AWS without -o s3.region), it is asked from the bucket first.
 */
export async function connectS3(settings: S3Settings, options: BackendOptions): Promise<S3Connection> {
  const sdk = await loadS3Sdk()
  const env = options.env ?? process.env
  const creds = envCredentials(env)
  const profile = env.AWS_PROFILE || undefined
  const httpsAgent = new GuardedHttpsAgent({ keepAlive: true, maxSockets: settings.connections, ...(await tlsOptions(options)) })
  const httpAgent = new GuardedHttpAgent({ keepAlive: true, maxSockets: settings.connections })

  const make = (region: string, followRedirects: boolean): S3Client => {
    const client = withoutNodeVersionWarning(() => new sdk.S3Client({
      region,
      ...(settings.sdkEndpoint === undefined ? { tls: !settings.useHttp } : { endpoint: settings.sdkEndpoint }),
      forcePathStyle: settings.forcePathStyle,
      followRegionRedirects: followRedirects,
      ...(creds === undefined ? (profile === undefined ? {} : { profile }) : { credentials: creds }),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: settings.sdkRetries + 1,
      logger: quiet,
      // requestTimeout only warns (through the silenced logger) unless told to throw, and a
      // throttled upload of a large pack may take longer; socketTimeout fails a request whose
      // connection stays silent: a server that stopped answering hung cairn for ever.
      requestHandler: { httpAgent, httpsAgent, connectionTimeout: 30_000, socketTimeout: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS, logger: quiet },
    }))
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { headers?: Record<string, string>; body?: unknown }
        if (context.commandName === 'DeleteObjectsCommand' && request.headers !== undefined && typeof request.body === 'string') {
          request.headers['content-md5'] = createHash('md5').update(request.body).digest('base64')
        }
        return next(args)
      },
      { step: 'build', name: 'cairnContentMd5ForDeleteObjects', priority: 'low' },
    )
    return client
  }

  let region = settings.region
  if (region === undefined) region = await bucketRegion(sdk, make('us-east-1', true), settings.bucket)
  const client = make(region, settings.region === undefined)
  return {
    sdk,
    client,
    region,
    secret: creds?.secretAccessKey,
    destroy() {
      client.destroy()
      httpsAgent.destroy()
      httpAgent.destroy()
    },
  }
}

/**
 * Runs `fn` (which constructs a client) with the SDK's Node version warning switched off: on Node
 * 20 the first client would print a notice about SDK releases of 2027 on stderr, which is
 * nothing a cairn user can act on, and library code does not print. The variable is put back.
 */
function withoutNodeVersionWarning<T>(fn: () => T): T {
  const key = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'
  const before = process.env[key]
  process.env[key] = 'true'
  try {
    return fn()
  } finally {
    if (before === undefined) delete process.env[key]
    else process.env[key] = before
  }
}

/**
 * Where an AWS bucket lives (GetBucketLocation, as restic's minio-go asks). A bucket that does
 * not exist yet, or a key that may not ask, gets us-east-1; the client then follows region
 * redirects.
 */
async function bucketRegion(sdk: S3Sdk, probe: S3Client, bucket: string): Promise<string> {
  try {
    const out = await probe.send(new sdk.GetBucketLocationCommand({ Bucket: bucket }))
    const loc = out.LocationConstraint as string | undefined
    if (loc === undefined || loc === '') return 'us-east-1'
    return loc === 'EU' ? 'eu-west-1' : loc
  } catch {
    return 'us-east-1'
  }
  // The probe is not destroyed: that would destroy the agents it shares with the real client.
}

/** The `ca`, `cert` and `key` options for the https agent from `--cacert` and `--tls-client-cert`. */
async function tlsOptions(options: BackendOptions): Promise<{ ca?: string[]; cert?: string; key?: string; rejectUnauthorized?: boolean }> {
  const out: { ca?: string[]; cert?: string; key?: string; rejectUnauthorized?: boolean } = {}
  if (options.insecureTls === true) out.rejectUnauthorized = false
  const files = options.caCertFiles ?? []
  if (files.length > 0) {
    // In the order given, so that of two bad files the first is always the one named.
    const extra: string[] = []
    for (const f of files) extra.push(await readPem(f, '--cacert', 'CERTIFICATE'))
    // Passing `ca` replaces Node's trust store, so the default CAs go in too.
    const getDefault = (tls as { getCACertificates?: (kind: string) => string[] }).getCACertificates
    const defaults = getDefault === undefined ? [...tls.rootCertificates] : getDefault('default')
    out.ca = [...defaults, ...extra]
  }
  if (options.tlsClientCertFile !== undefined) {
    const pem = await readPem(options.tlsClientCertFile, '--tls-client-cert', 'CERTIFICATE')
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
      throw new AppError('INVALID_ARGUMENT', `Invalid --tls-client-cert file "${options.tlsClientCertFile}": no private key in it`, {
        hint: 'The file must hold the client certificate and its unencrypted private key, both in PEM form',
      })
    }
    out.cert = pem
    out.key = pem
  }
  return out
}

async function readPem(file: string, flag: string, kind: string): Promise<string> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new AppError('INVALID_ARGUMENT', `Cannot read ${flag} file "${file}": ${messageOf(err)}`, { hint: 'Check the path' })
  }
  if (!text.includes(`-----BEGIN ${kind}-----`)) {
    throw new AppError('INVALID_ARGUMENT', `Invalid ${flag} file "${file}": no PEM certificate in it`, {
      hint: 'Give a PEM file (text starting with "-----BEGIN CERTIFICATE-----")',
    })
  }
  return text
}
