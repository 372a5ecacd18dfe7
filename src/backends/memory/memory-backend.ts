import { AppError } from '../../base/index.js'
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from '../backend.js'
import { FileExistsError, NotFoundError, shortReadError } from '../errors.js'
import { checkHandle, checkListType, checkRange } from '../handle.js'

/**
 * A repository held in a Map: a real backend with the same contract as the others (immutable
 * files, NotFoundError, no short reads), used by tests and anywhere a throw-away repository
 * is wanted. Bytes are copied on the way in and out, so callers cannot change stored files.
 *
 * @example
 * const be = new MemoryBackend()
 * await be.save({ type: 'keys', name: id }, bytes)
 */
export class MemoryBackend implements Backend {
  readonly location: string
  readonly properties: BackendProperties = { connections: 8, local: true, listsAfterWrite: true }
  /** One map per type, so list() does not scan other types. The config file lives under `config` with name ''. */
  readonly #files = new Map<FileType, Map<string, Buffer>>()

  constructor(name = '') {
    this.location = `memory:${name}`
  }

  async create(): Promise<void> {
    if (this.#get({ type: 'config', name: '' }) !== undefined) {
      throw new AppError('REPOSITORY_EXISTS', `Cannot create a repository in "${this.location}": a config file exists already`, {
        hint: 'Open the existing repository, or choose another location',
      })
    }
  }

  async save(h: Handle, data: Uint8Array): Promise<void> {
    checkHandle(h)
    const files = this.#typeMap(h.type)
    const key = keyOf(h)
    if (files.has(key)) throw new FileExistsError(h, this.location)
    files.set(key, Buffer.from(data))
  }

  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    checkHandle(h)
    checkRange(offset, length)
    const data = this.#get(h)
    if (data === undefined) throw new NotFoundError(h, this.location)
    const want = length ?? data.length - offset
    if (offset > data.length || want > data.length - offset) throw shortReadError(h, this.location, offset, length, data.length)
    return Buffer.from(data.subarray(offset, offset + want))
  }

  async stat(h: Handle): Promise<FileInfo> {
    checkHandle(h)
    const data = this.#get(h)
    if (data === undefined) throw new NotFoundError(h, this.location)
    return { name: h.type === 'config' ? 'config' : h.name, size: data.length }
  }

  /** Iterates over a snapshot taken at the call, so saves and removes during the walk are safe. */
  list(type: FileType): AsyncIterable<FileInfo> {
    checkListType(type)
    const entries = [...(this.#files.get(type) ?? [])].map(([name, data]) => ({ name, size: data.length }))
    return (async function* () {
      yield* entries
    })()
  }

  async remove(h: Handle): Promise<void> {
    checkHandle(h)
    this.#files.get(h.type)?.delete(keyOf(h))
  }

  async close(): Promise<void> {}

  #get(h: Handle): Buffer | undefined {
    return this.#files.get(h.type)?.get(keyOf(h))
  }

  #typeMap(type: FileType): Map<string, Buffer> {
    let m = this.#files.get(type)
    if (m === undefined) {
      m = new Map()
      this.#files.set(type, m)
    }
    return m
  }
}

function keyOf(h: Handle): string {
  return h.type === 'config' ? '' : h.name
}
