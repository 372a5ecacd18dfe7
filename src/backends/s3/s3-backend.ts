import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import { AppError } from '../../base/index.js'
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from '../backend.js'
import { FileExistsError, NotFoundError, handleToString, shortReadError } from '../errors.js'
import { checkHandle, checkListType, checkRange } from '../handle.js'
import type { BackendOptions } from '../registry.js'
import { connectS3, type S3Connection } from './s3-client.js'
import { isMissingKey, s3Code, s3Error, s3Status, type S3ErrorContext } from './s3-errors.js'
import { nameFromListedKey, objectKey, typePrefix } from './s3-layout.js'
import { uploadMultipart } from './s3-multipart.js'
import { resolveS3Settings, type S3Location, type S3Settings } from './s3-settings.js'

/**
 * A repository in an S3 bucket (AWS, or any S3 server: MinIO, Ceph, Swift's s3api, …), in
 * restic's layout for S3 (`<prefix>/config`, `<prefix>/data/<id[0:2]>/<id>`, …; see
 * s3-layout.ts), so restic reads what cairn writes and the other way round.
 *
 * Locations: `s3:https://host[:port]/bucket[/prefix]`, `s3:http://…` (plain http),
 * `s3:s3.amazonaws.com/bucket[/prefix]` (https). Options (`-o`): `s3.region`,
 * `s3.storage-class`, `s3.connections` (default 5), `s3.bucket-lookup=auto|dns|path` (auto:
 * path-style for every server but AWS), `s3.multipart-threshold` (default 200MiB),
 * `s3.part-size` (default 16MiB), `s3.retries` (SDK-internal retries, default 0). Credentials:
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN from `options.env` (or
 * process.env), else the SDK's default chain (AWS_PROFILE and ~/.aws files, SSO, instance
 * roles; that chain reads process.env). `--cacert` CAs are trusted besides the system's.
 *
 * Nothing is sent until the first operation; the SDK itself is loaded then too.
 *
 * @example
 * const be = new S3Backend({ endpoint: '127.0.0.1:8080', bucket: 'b', prefix: 'repo', useHttp: true }, { env })
 * await be.create()
 */
export class S3Backend implements Backend {
  readonly location: string
  readonly properties: BackendProperties
  readonly #settings: S3Settings
  readonly #options: BackendOptions
  readonly #ctx: S3ErrorContext
  #conn: Promise<S3Connection> | undefined
  /** Saves in flight per key: a second save of the same key waits, then finds the first's object. */
  readonly #saving = new Map<string, Promise<void>>()

  /** Throws INVALID_ARGUMENT / UNSUPPORTED for bad `-o s3.*` options; does no I/O. */
  constructor(loc: S3Location, options: BackendOptions = {}) {
    this.#settings = resolveS3Settings(loc, options.extended ?? {}, options.env ?? process.env)
    this.#options = options
    const s = this.#settings
    this.location = `s3:${s.endpointUrl}/${s.bucket}${s.prefix === '' ? '' : `/${s.prefix}`}`
    this.properties = { connections: s.connections, local: false, listsAfterWrite: false }
    const profile = (options.env ?? process.env).AWS_PROFILE
    this.#ctx = { location: this.location, endpointUrl: s.endpointUrl, bucket: s.bucket, ...(profile ? { profile } : {}) }
  }

  /**
   * Creates the bucket when it is missing (an existing one, also "already owned by you", is
   * fine; a 403 on the check is taken as "exists but not ours to inspect", as restic does), then
   * fails with REPOSITORY_EXISTS when a config object is present.
   */
  async create(): Promise<void> {
    const c = await this.#connection()
    const s = this.#settings
    try {
      await c.client.send(new c.sdk.HeadBucketCommand({ Bucket: s.bucket }))
    } catch (err) {
      if (s3Status(err) === 403) {
        // maybe a key limited to a prefix: carry on, the config check below tells the truth
      } else if (s3Status(err) === 404) {
        await this.#createBucket(c)
      } else {
        throw this.#error(err, `create bucket "${s.bucket}"`)
      }
    }
    if (await this.#exists(c, objectKey(s.prefix, { type: 'config', name: '' }), 'create the repository')) {
      throw new AppError('REPOSITORY_EXISTS', `Cannot create a repository in "${this.location}": a config file exists already`, {
        hint: 'Open the existing repository, or choose another bucket or prefix',
      })
    }
  }

  /**
   * Checks with HEAD that the object is absent, then PUTs it (or uploads it in parts from
   * `s3.multipart-threshold` on). S3 has no atomic create (Swift's s3api also refuses
   * `If-None-Match: *`), so two writers in different processes racing for the same name could
   * both succeed; inside one backend, saves of the same name are serialized so the second sees
   * the first's object and gets FileExistsError. Names are content hashes, so such a race stores
   * the same bytes twice. A PUT is atomic: readers see the whole object or none. Every body is
   * sent with Content-MD5, which the server checks.
   */
  async save(h: Handle, data: Uint8Array): Promise<void> {
    checkHandle(h)
    const key = objectKey(this.#settings.prefix, h)
    const before = this.#saving.get(key)
    const run = (before === undefined ? Promise.resolve() : before.catch(() => {})).then(() => this.#saveOnce(h, key, data))
    this.#saving.set(key, run)
    try {
      await run
    } finally {
      if (this.#saving.get(key) === run) this.#saving.delete(key)
    }
  }

  /** A ranged GET (`bytes=offset-end`); a reply shorter than asked for is INVALID_DATA. */
  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    checkHandle(h)
    checkRange(offset, length)
    const c = await this.#connection()
    const key = objectKey(this.#settings.prefix, h)
    const action = `read "${handleToString(h)}"`
    if (length === 0) {
      const size = await this.#size(c, h, key, action)
      if (offset > size) throw shortReadError(h, this.location, offset, length, size)
      return Buffer.alloc(0)
    }
    const range = offset === 0 && length === undefined ? undefined : `bytes=${offset}-${length === undefined ? '' : offset + length - 1}`
    let body: Buffer
    let total: number | undefined
    let status: number | undefined
    try {
      const out = await c.client.send(new c.sdk.GetObjectCommand({ Bucket: this.#settings.bucket, Key: key, ...(range === undefined ? {} : { Range: range }) }))
      status = out.$metadata.httpStatusCode
      total = totalSize(out.ContentRange)
      body = await readBody(out.Body as Readable | undefined, out.ContentLength)
    } catch (err) {
      if (s3Code(err) === 'InvalidRange' || s3Status(err) === 416) {
        const size = await this.#size(c, h, key, action)
        if (length === undefined && offset === size) return Buffer.alloc(0)
        throw shortReadError(h, this.location, offset, length, size)
      }
      if (isMissingKey(err)) throw new NotFoundError(h, this.location)
      throw this.#error(err, action)
    }
    if (range !== undefined && status === 200) {
      // The server ignored the Range header and sent the whole object: cut the range out.
      total = body.length
      body = body.subarray(offset, length === undefined ? undefined : offset + length)
    }
    const want = length ?? (total === undefined ? body.length : total - offset)
    if (body.length !== want) {
      const size = total ?? (await this.#size(c, h, key, action))
      throw shortReadError(h, this.location, offset, length, size)
    }
    return body
  }

  /** HEAD of the object; its Content-Length is the size. */
  async stat(h: Handle): Promise<FileInfo> {
    checkHandle(h)
    const c = await this.#connection()
    const size = await this.#size(c, h, objectKey(this.#settings.prefix, h), `stat "${handleToString(h)}"`)
    return { name: h.type === 'config' ? 'config' : h.name, size }
  }

  /**
   * ListObjectsV2 under `<prefix>/<type>/`, page by page (data recursively, the other types one
   * level deep), yielding only keys that are files of this layout. Stopping early stops paging.
   */
  list(type: FileType): AsyncIterable<FileInfo> {
    checkListType(type)
    return this.#list(type)
  }

  /** DeleteObject; a missing object (204 or NoSuchKey) is not an error. */
  async remove(h: Handle): Promise<void> {
    checkHandle(h)
    const c = await this.#connection()
    try {
      await c.client.send(new c.sdk.DeleteObjectCommand({ Bucket: this.#settings.bucket, Key: objectKey(this.#settings.prefix, h) }))
    } catch (err) {
      if (isMissingKey(err)) return
      throw this.#error(err, `remove "${handleToString(h)}"`)
    }
  }

  /** Closes the idle connections; the backend may not be used afterwards. */
  async close(): Promise<void> {
    const conn = this.#conn
    this.#conn = undefined
    if (conn !== undefined) (await conn.catch(() => undefined))?.destroy()
  }

  async *#list(type: FileType): AsyncGenerator<FileInfo> {
    const c = await this.#connection()
    const prefix = typePrefix(this.#settings.prefix, type)
    let token: string | undefined
    do {
      let page
      try {
        page = await c.client.send(
          new c.sdk.ListObjectsV2Command({
            Bucket: this.#settings.bucket,
            Prefix: prefix,
            ...(type === 'data' ? {} : { Delimiter: '/' }),
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        )
      } catch (err) {
        throw this.#error(err, `list "${type}"`)
      }
      for (const obj of page.Contents ?? []) {
        if (obj.Key === undefined || !obj.Key.startsWith(prefix)) continue
        const name = nameFromListedKey(type, obj.Key.slice(prefix.length))
        if (name !== undefined) yield { name, size: obj.Size ?? 0 }
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined
    } while (token !== undefined)
  }

  async #saveOnce(h: Handle, key: string, data: Uint8Array): Promise<void> {
    const c = await this.#connection()
    const s = this.#settings
    const action = `save "${handleToString(h)}"`
    if (await this.#exists(c, key, action)) throw new FileExistsError(h, this.location)
    const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    try {
      if (body.length >= s.multipartThreshold) {
        await uploadMultipart(c, { bucket: s.bucket, key, storageClass: s.storageClass, partSize: s.partSize, concurrency: s.connections }, body)
      } else {
        await c.client.send(
          new c.sdk.PutObjectCommand({
            Bucket: s.bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            ContentType: 'application/octet-stream',
            ContentMD5: createHash('md5').update(body).digest('base64'),
            ...(s.storageClass === undefined ? {} : { StorageClass: s.storageClass as never }),
          }),
        )
      }
    } catch (err) {
      throw this.#error(err, action)
    }
  }

  async #createBucket(c: S3Connection): Promise<void> {
    const s = this.#settings
    try {
      await c.client.send(
        new c.sdk.CreateBucketCommand({
          Bucket: s.bucket,
          ...(c.region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: c.region as never } }),
        }),
      )
    } catch (err) {
      if (s3Code(err) === 'BucketAlreadyOwnedByYou') return
      if (s3Code(err) === 'BucketAlreadyExists') {
        throw new AppError('PERMISSION_DENIED', `Cannot create bucket "${s.bucket}" at "${s.endpointUrl}": the name belongs to another account`, {
          hint: 'Bucket names are global on AWS; choose another name',
        })
      }
      throw this.#error(err, `create bucket "${s.bucket}"`)
    }
  }

  async #exists(c: S3Connection, key: string, action: string): Promise<boolean> {
    try {
      await c.client.send(new c.sdk.HeadObjectCommand({ Bucket: this.#settings.bucket, Key: key }))
      return true
    } catch (err) {
      if (isMissingKey(err)) return false
      throw this.#error(err, action)
    }
  }

  async #size(c: S3Connection, h: Handle, key: string, action: string): Promise<number> {
    try {
      const out = await c.client.send(new c.sdk.HeadObjectCommand({ Bucket: this.#settings.bucket, Key: key }))
      return out.ContentLength ?? 0
    } catch (err) {
      if (isMissingKey(err)) throw new NotFoundError(h, this.location)
      throw this.#error(err, action)
    }
  }

  /** The client, made on first use; a failed attempt (say, a CA file missing) is tried again next time. */
  #connection(): Promise<S3Connection> {
    if (this.#conn === undefined) {
      const p = connectS3(this.#settings, this.#options).then((c) => {
        this.#ctx.secret = c.secret
        return c
      })
      this.#conn = p
      p.catch(() => {
        if (this.#conn === p) this.#conn = undefined
      })
    }
    return this.#conn
  }

  #error(err: unknown, action: string): AppError {
    return s3Error(err, action, this.#ctx)
  }
}

/** The object size from a `Content-Range: bytes a-b/size` header. */
function totalSize(contentRange: string | undefined): number | undefined {
  const m = contentRange === undefined ? null : /\/(\d+)\s*$/.exec(contentRange)
  return m === null ? undefined : Number(m[1])
}

/**
 * Reads a response body into one buffer (sized by Content-Length when the server gives it). A
 * body that ends before its announced length is a broken connection (a NETWORK error once
 * mapped); one longer than announced is refused.
 */
async function readBody(body: Readable | undefined, contentLength: number | undefined): Promise<Buffer> {
  if (body === undefined) return Buffer.alloc(0)
  if (contentLength === undefined) {
    const chunks: Buffer[] = []
    for await (const chunk of body) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks)
  }
  const out = Buffer.allocUnsafe(contentLength)
  let got = 0
  for await (const chunk of body) {
    const b = chunk as Buffer
    if (got + b.length > contentLength) {
      body.destroy()
      throw new Error(`the server sent more than the ${contentLength} bytes it announced`)
    }
    b.copy(out, got)
    got += b.length
  }
  if (got < contentLength) {
    throw Object.assign(new Error(`the connection ended after ${got} of ${contentLength} bytes`), { code: 'ERR_STREAM_PREMATURE_CLOSE' })
  }
  return out
}
