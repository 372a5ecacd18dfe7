import { AppError, createLimit, isId } from '../../base/index.js'
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from '../backend.js'
import { FileExistsError, NotFoundError, handleToString, shortReadError } from '../errors.js'
import { checkHandle, checkListType, checkRange } from '../handle.js'
import { V2_TYPE, parseListing } from './list-format.js'
import { BodyLengthError, contentLength, drain, parseContentRange, readBody, readErrorText, readExactly } from './response-body.js'
import { failurePrefix, statusError, type RestOperation } from './status-error.js'
import type { RestRequest, RestResponse, RestTransport } from './transport.js'

const CONFIG: Handle = { type: 'config', name: '' }

/** What RestBackend needs besides its transport. */
export interface RestBackendOptions {
  /** Shown in messages, with no password: `rest:http://host:8000/` or `rclone:remote:path`. */
  location: string
  /** Requests in flight at once (restic's `rest.connections` / `rclone.connections`). */
  connections: number
  /** Whether a saved file is listed at once (BackendProperties.listsAfterWrite); default true. */
  listsAfterWrite?: boolean
}

/** What a response handler may ask for after the connection slot is given back. */
type Outcome<T> = { done: T } | { forbidden: string; resent?: boolean } | { unsatisfiable: number | undefined }

/**
 * A repository behind restic's REST protocol, v2 with v1 fallback (restic-format.md §7.2), over
 * any RestTransport: rest-server, `rclone serve restic`, or rclone as a child process. Objects
 * are flat (`data/<id>`); the server maps them to its layout.
 *
 * Saves are POSTs with an explicit Content-Length and need exactly 200. A server that answers 403
 * to a save is asked (HEAD) whether the file exists, which makes the 403 a FileExistsError.
 * `config` is checked with a HEAD before it is saved, because some servers (rclone) replace
 * files on POST. Loads send `Range: bytes=OFF-END` (`bytes=0-` for whole files) and check the
 * answer's Content-Range and length, so a server that ignores Range cannot hand back the wrong
 * bytes.
 *
 * @example
 * const be = new RestBackend(new HttpTransport({ url, connections: 5 }), { location: `rest:${url}`, connections: 5 })
 * await be.create()
 */
export class RestBackend implements Backend {
  readonly location: string
  readonly properties: BackendProperties
  readonly #t: RestTransport
  readonly #limit: <T>(fn: () => Promise<T>) => Promise<T>

  constructor(transport: RestTransport, options: RestBackendOptions) {
    this.#t = transport
    this.location = options.location
    // rest-server keeps files in a file system; an rclone remote may be an object store.
    this.properties = { connections: options.connections, local: false, listsAfterWrite: options.listsAfterWrite ?? true }
    this.#limit = createLimit(options.connections)
  }

  async create(): Promise<void> {
    if (await this.#exists(CONFIG, 'create')) {
      throw new AppError('REPOSITORY_EXISTS', `Cannot create a repository at "${this.location}": a config file exists already`, {
        hint: 'Open the existing repository, or choose another location',
      })
    }
    const req: RestRequest = {
      method: 'POST',
      path: '',
      query: 'create=true',
      headers: { 'content-type': 'binary/octet-stream', 'content-length': '0' },
    }
    await this.#call('create', '', req, async (res) => {
      if (res.status !== 200) return undefined
      await drain(res)
      return { done: undefined }
    })
  }

  async save(h: Handle, data: Uint8Array): Promise<void> {
    checkHandle(h)
    if (h.type === 'config' && (await this.#exists(h, 'save'))) throw new FileExistsError(h, this.location)
    const req: RestRequest = {
      method: 'POST',
      path: objectPath(h),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.byteLength), accept: V2_TYPE },
      body: data,
    }
    const outcome = await this.#call('save', handleToString(h), req, async (res) => {
      if (res.status === 200) {
        await drain(res)
        return { done: undefined }
      }
      if (res.status === 403) {
        // The server's reason ("read-only access: … use --no-lock") is kept for the message.
        return { forbidden: await readErrorText(res), resent: res.resent === true }
      }
      return undefined
    })
    if ('forbidden' in outcome) {
      if (await this.#exists(h, 'save')) {
        // Sent again after a connection reset: the first sending stored it, and only the answer
        // was lost. The name is the content's hash, which the server checks.
        if (outcome.resent && (await this.stat(h)).size === data.byteLength) return
        throw new FileExistsError(h, this.location)
      }
      throw statusError(failurePrefix('save', handleToString(h), this.location), 'save', 403, 'Forbidden', outcome.forbidden)
    }
  }

  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    checkHandle(h)
    checkRange(offset, length)
    if (length === 0) {
      const { size } = await this.stat(h)
      if (offset > size) throw shortReadError(h, this.location, offset, length, size)
      return Buffer.alloc(0)
    }
    const range = `bytes=${offset}-${length === undefined ? '' : offset + length - 1}`
    const req: RestRequest = { method: 'GET', path: objectPath(h), headers: { range, accept: V2_TYPE } }
    const outcome = await this.#call('load', handleToString(h), req, async (res): Promise<Outcome<Buffer> | undefined> => {
      if (res.status === 404) {
        await drain(res)
        throw new NotFoundError(h, this.location)
      }
      if (res.status === 416) {
        await drain(res)
        const cr = parseContentRange(res.header('content-range'))
        return { unsatisfiable: cr?.total }
      }
      if (res.status === 206) return { done: await this.#readRange(h, res, offset, length) }
      if (res.status === 200) return { done: await this.#readWhole(h, res, offset, length) }
      return undefined
    })
    if ('done' in outcome) return outcome.done
    // 416: nothing at `offset`. That is an empty result only for "from the end of the file to the end".
    const size = 'unsatisfiable' in outcome && outcome.unsatisfiable !== undefined ? outcome.unsatisfiable : (await this.stat(h)).size
    if (length === undefined && offset === size) return Buffer.alloc(0)
    throw shortReadError(h, this.location, offset, length, size)
  }

  async stat(h: Handle): Promise<FileInfo> {
    checkHandle(h)
    const name = h.type === 'config' ? 'config' : h.name
    const outcome = await this.#call('stat', handleToString(h), { method: 'HEAD', path: objectPath(h), headers: { accept: V2_TYPE } }, async (res) => {
      if (res.status === 404) {
        await drain(res)
        throw new NotFoundError(h, this.location)
      }
      if (res.status !== 200) return undefined
      await drain(res)
      const size = contentLength(res)
      if (size === undefined) {
        throw new AppError('INVALID_DATA', `${failurePrefix('stat', handleToString(h), this.location)}: the server sent no Content-Length`, {
          hint: 'Check that the URL points at a restic REST server',
        })
      }
      return { done: { name, size } }
    })
    return (outcome as { done: FileInfo }).done
  }

  list(type: FileType): AsyncIterable<FileInfo> {
    checkListType(type)
    return this.#list(type)
  }

  async remove(h: Handle): Promise<void> {
    checkHandle(h)
    await this.#call('remove', handleToString(h), { method: 'DELETE', path: objectPath(h), headers: { accept: V2_TYPE } }, async (res) => {
      if (res.status !== 200 && res.status !== 204 && res.status !== 404) return undefined
      await drain(res)
      return { done: undefined }
    })
  }

  async close(): Promise<void> {
    await this.#t.close()
  }

  async *#list(type: FileType): AsyncGenerator<FileInfo> {
    const req: RestRequest = { method: 'GET', path: `${type}/`, headers: { accept: V2_TYPE } }
    const prefix = failurePrefix('list', type, this.location)
    const outcome = await this.#call('list', type, req, async (res) => {
      if (res.status === 404) {
        await drain(res)
        return { done: { version: 2 as const, files: [] } }
      }
      if (res.status !== 200) return undefined
      const body = await readBody(res)
      try {
        return { done: parseListing(body, res.header('content-type')) }
      } catch (err) {
        throw new AppError('INVALID_DATA', `${prefix}: the server's listing is invalid: ${(err as Error).message}`, {
          hint: 'Check that the URL points at a restic REST server',
        })
      }
    })
    const listing = (outcome as { done: ReturnType<typeof parseListing> }).done
    if (listing.version === 2) {
      for (const f of listing.files) if (isId(f.name)) yield f
      return
    }
    // v1 names only: ask each file's size, a batch at a time, skipping files removed meanwhile.
    const names = listing.names.filter((n) => isId(n))
    const batch = this.properties.connections * 4
    for (let i = 0; i < names.length; i += batch) {
      const infos = await Promise.all(
        names.slice(i, i + batch).map((name) =>
          this.stat({ type, name }).catch((err: unknown) => {
            if (err instanceof NotFoundError) return undefined
            throw err
          }),
        ),
      )
      for (const fi of infos) if (fi !== undefined) yield fi
    }
  }

  /** 206: the Content-Range must start at `offset`; its total tells a short file from a short body. */
  async #readRange(h: Handle, res: RestResponse, offset: number, length: number | undefined): Promise<Buffer> {
    const cr = parseContentRange(res.header('content-range'))
    if (cr === undefined || cr.start === undefined) {
      res.discard()
      throw this.#invalid(h, `the server answered 206 with ${cr === undefined ? 'no valid' : 'an unsatisfied'} Content-Range`)
    }
    if (cr.start !== offset) {
      res.discard()
      throw this.#invalid(h, `the server sent bytes from offset ${cr.start}, not ${offset}`)
    }
    if (cr.total !== undefined && offset > cr.total) {
      res.discard()
      throw shortReadError(h, this.location, offset, length, cr.total)
    }
    const got = Math.max(0, cr.end - cr.start + 1)
    const declared = contentLength(res)
    if (declared !== undefined && declared !== got) {
      res.discard()
      throw this.#invalid(h, `the server's Content-Length ${declared} does not match its Content-Range "${res.header('content-range')}"`)
    }
    const want = length ?? (cr.total === undefined ? got : cr.total - offset)
    if (got < want) {
      res.discard()
      throw shortReadError(h, this.location, offset, length, cr.total ?? offset + got)
    }
    if (got > want) {
      res.discard()
      throw this.#invalid(h, `the server sent ${got} bytes, ${want} were asked for`)
    }
    return this.#readExactly(h, res, want)
  }

  /** 200 to a ranged GET: the server ignored Range (rest-server does for config) and sent the whole file. */
  async #readWhole(h: Handle, res: RestResponse, offset: number, length: number | undefined): Promise<Buffer> {
    const size = contentLength(res)
    const data = size === undefined ? await readBody(res) : await this.#readExactly(h, res, size)
    const want = length ?? data.length - offset
    if (offset > data.length || want > data.length - offset) throw shortReadError(h, this.location, offset, length, data.length)
    if (offset === 0 && want === data.length) return data
    return Buffer.from(data.subarray(offset, offset + want))
  }

  async #readExactly(h: Handle, res: RestResponse, n: number): Promise<Buffer> {
    try {
      return await readExactly(res, n)
    } catch (err) {
      if (err instanceof BodyLengthError) throw this.#invalid(h, err.message)
      throw err
    }
  }

  #invalid(h: Handle, why: string): AppError {
    return new AppError('INVALID_DATA', `${failurePrefix('load', handleToString(h), this.location)}: ${why}`, {
      hint: 'The server or a proxy in between mangled the answer; if this persists, check the server',
    })
  }

  /** HEAD: does the file exist? */
  async #exists(h: Handle, op: RestOperation): Promise<boolean> {
    const outcome = await this.#call(op, handleToString(h), { method: 'HEAD', path: objectPath(h), headers: { accept: V2_TYPE } }, async (res) => {
      if (res.status !== 200 && res.status !== 404) return undefined
      await drain(res)
      return { done: res.status === 200 }
    })
    return (outcome as { done: boolean }).done
  }

  /**
   * One request inside a connection slot. `handle` deals with the statuses it expects and
   * returns undefined for any other, which becomes statusError(). Transport failures, during the
   * request or while reading the body, become the transport's explanation.
   */
  #call<T>(op: RestOperation, target: string, req: RestRequest, handle: (res: RestResponse) => Promise<Outcome<T> | undefined>): Promise<Outcome<T>> {
    const prefix = () => failurePrefix(op, target === '' ? this.location : target, this.location)
    return this.#limit(async () => {
      let res: RestResponse
      try {
        res = await this.#t.request(req)
      } catch (err) {
        throw this.#transportFailure(prefix(), err)
      }
      try {
        const outcome = await handle(res)
        if (outcome !== undefined) return outcome
        const text = await readErrorText(res)
        throw statusError(prefix(), op, res.status, res.statusText, text)
      } catch (err) {
        res.discard()
        if (err instanceof AppError || err instanceof TypeError || err instanceof RangeError) throw err
        throw this.#transportFailure(prefix(), err)
      }
    })
  }

  #transportFailure(prefix: string, err: unknown): AppError {
    const why = this.#t.explain(err)
    return new AppError(why.code, `${prefix}: ${why.message}`, { ...(why.hint === undefined ? {} : { hint: why.hint }), cause: err })
  }
}

/** Flat object paths, as the protocol has them: `config`, `data/<id>`, `keys/<id>`. */
function objectPath(h: Handle): string {
  return h.type === 'config' ? 'config' : `${h.type}/${h.name}`
}
