import { AppError } from '../../base/index.js'

const MiB = 1024 * 1024

/** S3's smallest part (every part of a multipart upload but the last must be at least this). */
export const MIN_PART_SIZE = 5 * MiB
/** Swift's s3api allows 1000 parts (`max_upload_part_num`); AWS allows 10000. We stay under both. */
export const MAX_PARTS = 1000

/** Where an `s3:` location points, as parseRepositoryUrl() returns it. */
export interface S3Location {
  /** `host[:port]` of the endpoint, or an AWS host such as `s3.amazonaws.com`. */
  endpoint: string
  bucket: string
  /** Path inside the bucket, without leading or trailing `/`; '' for the bucket's root. */
  prefix: string
  /** `s3:http://…`: talk plain http. */
  useHttp: boolean
}

export type BucketLookup = 'auto' | 'dns' | 'path'

/**
 * Everything the S3 backend needs to know, resolved from the location, the `-o s3.*` options and
 * the environment. Pure data; resolveS3Settings() makes it and reports bad values.
 */
export interface S3Settings {
  bucket: string
  /** '' or a path with no leading/trailing slash; object keys are `<prefix>/<type>/…`. */
  prefix: string
  /** `http://host:port` or `https://host:port`, as shown in messages. */
  endpointUrl: string
  /**
   * The endpoint handed to the SDK; undefined for the generic AWS host `s3.amazonaws.com`, where
   * the SDK derives the regional endpoint from the region.
   */
  sdkEndpoint: string | undefined
  useHttp: boolean
  /** The endpoint is Amazon's own (`*.amazonaws.com`). */
  isAws: boolean
  /** The region to sign with; undefined: ask the bucket (AWS only). */
  region: string | undefined
  storageClass: string | undefined
  /** Requests in flight at once (sockets per backend); `-o s3.connections`, default 5 as restic. */
  connections: number
  /** Path-style addressing (`host/bucket/key`) instead of virtual hosts (`bucket.host/key`). */
  forcePathStyle: boolean
  /** Objects of at least this many bytes go up as multipart uploads. */
  multipartThreshold: number
  /** Size of each part of a multipart upload (grown when an object would need too many). */
  partSize: number
  /** Extra attempts the SDK makes itself; 0 by default, because retrying is a wrapper's job. */
  sdkRetries: number
}

/** The `-o` keys this backend understands, with what they do (for the error on an unknown one). */
export const S3_OPTIONS: Readonly<Record<string, string>> = {
  's3.region': 'region to sign requests for (default: AWS_DEFAULT_REGION, AWS_REGION, else us-east-1, or the bucket\'s region on AWS)',
  's3.storage-class': 'storage class of new objects (STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, …)',
  's3.connections': 'concurrent requests (default 5)',
  's3.bucket-lookup': '"auto" (default: path-style except on AWS), "dns" (virtual hosts) or "path"',
  's3.multipart-threshold': 'objects of at least this size are uploaded in parts (default 200MiB)',
  's3.part-size': 'size of each part of a multipart upload (default 16MiB, at least 5MiB)',
  's3.retries': 'attempts the S3 client repeats a failed request itself (default 0)',
  's3.layout': 'only "default" (restic\'s layout for S3 since 0.8)',
  's3.list-objects-v1': 'only "false": cairn always lists with ListObjectsV2',
}

export const DEFAULT_CONNECTIONS = 5
export const DEFAULT_MULTIPART_THRESHOLD = 200 * MiB
export const DEFAULT_PART_SIZE = 16 * MiB

/**
 * Resolves the settings for an S3 location. `extended` holds `-o key=value` pairs (keys of
 * other backends are ignored, unknown `s3.*` keys are refused); `env` supplies
 * AWS_DEFAULT_REGION / AWS_REGION.
 *
 * Region: `-o s3.region`, else AWS_DEFAULT_REGION, else AWS_REGION, else the one in an AWS host
 * name (`s3.eu-west-1.amazonaws.com`), else us-east-1 for other servers (Swift and MinIO sign
 * for it by default) or undefined for AWS (the backend then asks the bucket where it lives).
 *
 * @example
 * resolveS3Settings({ endpoint: '127.0.0.1:9000', bucket: 'b', prefix: 'repo', useHttp: true }, {}, {})
 * // → { endpointUrl: 'http://127.0.0.1:9000', region: 'us-east-1', forcePathStyle: true, … }
 */
export function resolveS3Settings(
  loc: S3Location,
  extended: Readonly<Record<string, string>>,
  env: NodeJS.ProcessEnv,
): S3Settings {
  for (const key of Object.keys(extended)) {
    if (key.startsWith('s3.') && !(key in S3_OPTIONS)) {
      throw new AppError('INVALID_ARGUMENT', `Unknown option "${key}" for the s3 backend`, {
        hint: `Known options: ${Object.keys(S3_OPTIONS).join(', ')}`,
      })
    }
  }
  checkBucketName(loc.bucket)
  const host = loc.endpoint.toLowerCase()
  const hostname = host.replace(/:\d+$/, '')
  const isAws = hostname === 'amazonaws.com' || hostname.endsWith('.amazonaws.com') || hostname.endsWith('.amazonaws.com.cn')
  const scheme = loc.useHttp ? 'http' : 'https'
  const endpointUrl = `${scheme}://${loc.endpoint}`

  const region = nonEmpty(extended['s3.region']) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? nonEmpty(env.AWS_REGION) ?? (isAws ? awsRegionOf(hostname) : 'us-east-1')
  const lookup = parseLookup(extended['s3.bucket-lookup'])
  // Virtual hosts need the bucket in DNS and in the certificate: only AWS is sure to have both,
  // and a bucket name with dots breaks the wildcard certificate even there.
  const forcePathStyle = lookup === 'path' || (lookup === 'auto' && (!isAws || loc.bucket.includes('.')))

  const layout = extended['s3.layout']
  if (layout !== undefined && layout !== '' && layout !== 'default') {
    throw new AppError('UNSUPPORTED', `Unsupported value "${layout}" for -o s3.layout`, {
      hint: 'cairn writes and reads restic\'s default layout only; convert an old "s3legacy" repository with restic first',
    })
  }
  const v1 = extended['s3.list-objects-v1']
  if (v1 !== undefined && v1 !== 'false' && v1 !== '') {
    throw new AppError('UNSUPPORTED', `Unsupported value "${v1}" for -o s3.list-objects-v1`, {
      hint: 'cairn lists with ListObjectsV2 only; leave the option out',
    })
  }

  const partSize = parseSize('s3.part-size', extended['s3.part-size']) ?? DEFAULT_PART_SIZE
  if (partSize < MIN_PART_SIZE) {
    throw new AppError('INVALID_ARGUMENT', `Invalid value "${extended['s3.part-size']}" for -o s3.part-size: S3 parts must be at least 5MiB`)
  }
  const multipartThreshold = parseSize('s3.multipart-threshold', extended['s3.multipart-threshold']) ?? DEFAULT_MULTIPART_THRESHOLD

  return {
    bucket: loc.bucket,
    prefix: cleanPrefix(loc.prefix),
    endpointUrl,
    sdkEndpoint: isAws && (hostname === 's3.amazonaws.com' || hostname === 'amazonaws.com') ? undefined : endpointUrl,
    useHttp: loc.useHttp,
    isAws,
    region,
    storageClass: nonEmpty(extended['s3.storage-class']),
    connections: parseCount('s3.connections', extended['s3.connections'], 1) ?? DEFAULT_CONNECTIONS,
    forcePathStyle,
    multipartThreshold: Math.max(multipartThreshold, 1),
    partSize,
    sdkRetries: parseCount('s3.retries', extended['s3.retries'], 0) ?? 0,
  }
}

/**
 * The region in an AWS host name: `s3.eu-west-1.amazonaws.com`, `s3-eu-west-1.amazonaws.com`,
 * `s3.dualstack.eu-west-1.amazonaws.com`. The global names (`s3.amazonaws.com`,
 * `s3-external-1.amazonaws.com`) have none.
 */
export function awsRegionOf(hostname: string): string | undefined {
  const m = /^s3[.-](?:dualstack\.|fips\.)?([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d)\.amazonaws\.com(?:\.cn)?$/.exec(hostname)
  return m?.[1]
}

/**
 * A byte size as restic-style options give it: a whole number with an optional binary unit
 * (`k`, `M`, `G`, also written `KiB`, `MiB`, `GiB`; a trailing `B` is allowed). Undefined or ''
 * gives undefined.
 *
 * @example
 * parseSize('s3.part-size', '16MiB') // → 16777216
 */
export function parseSize(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const m = /^\s*(\d+)\s*(?:([kmgt])(?:i?b)?|b)?\s*$/i.exec(value)
  if (m === null) {
    throw new AppError('INVALID_ARGUMENT', `Invalid value "${value}" for -o ${name}: expected a size such as 16MiB, 512k or 5242880`)
  }
  const unit = (m[2] ?? '').toLowerCase()
  const factor = unit === '' ? 1 : 1024 ** ('kmgt'.indexOf(unit) + 1)
  const n = Number(m[1]) * factor
  if (!Number.isSafeInteger(n)) throw new AppError('INVALID_ARGUMENT', `Invalid value "${value}" for -o ${name}: too large`)
  return n
}

/**
 * The part size for an object of `size` bytes: the configured one, grown in whole MiB so the
 * object needs at most MAX_PARTS parts.
 */
export function partSizeFor(size: number, configured: number): number {
  const needed = Math.ceil(size / MAX_PARTS / MiB) * MiB
  return Math.max(configured, needed, MIN_PART_SIZE)
}

function parseLookup(value: string | undefined): BucketLookup {
  const v = (value ?? '').trim().toLowerCase()
  if (v === '' || v === 'auto') return 'auto'
  if (v === 'dns' || v === 'path') return v
  throw new AppError('INVALID_ARGUMENT', `Invalid value "${value}" for -o s3.bucket-lookup: expected "auto", "dns" or "path"`)
}

function parseCount(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > 1000) {
    throw new AppError('INVALID_ARGUMENT', `Invalid value "${value}" for -o ${name}: expected a whole number from ${min} to 1000`)
  }
  return n
}

function nonEmpty(s: string | undefined): string | undefined {
  const t = s?.trim()
  return t === undefined || t === '' ? undefined : t
}

/** Go's path.Clean leaves `.` for an empty path; in a bucket that means "no prefix". */
function cleanPrefix(prefix: string): string {
  const p = prefix.replace(/\/+$/, '')
  return p === '.' ? '' : p
}

/** S3's rules for bucket names, in words, for hints. */
export const BUCKET_NAME_RULES = 'S3 bucket names are 3 to 63 characters: lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit'

/**
 * Refuses a bucket name no S3 server takes, before anything is sent, as restic's client
 * (minio-go) does: the server's answer to a HEAD is a bare 400 that says nothing. Lenient where
 * minio-go is (capitals, "_" and ":" pass), since some servers allow them.
 */
export function checkBucketName(bucket: string): void {
  const why =
    bucket.length < 3 ? 'it is shorter than 3 characters'
    : bucket.length > 63 ? 'it is longer than 63 characters'
    : !/^[A-Za-z0-9][A-Za-z0-9._:-]*[A-Za-z0-9]$/.test(bucket) ? 'it holds a character that is not allowed, or does not start and end with a letter or digit'
    : bucket.includes('..') ? 'it holds ".."'
    : /^\d+\.\d+\.\d+\.\d+$/.test(bucket) ? 'it looks like an IP address'
    : undefined
  if (why !== undefined) throw new AppError('INVALID_ARGUMENT', `Invalid S3 bucket name "${bucket}": ${why}`, { hint: BUCKET_NAME_RULES })
}
