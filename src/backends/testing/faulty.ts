import { AppError } from '../../base/index.js'
import type { Backend, BackendProperties, FileInfo, FileType, Handle, ListOptions } from '../backend.js'
import { handleToString } from '../errors.js'
import { MemoryBackend } from '../memory/memory-backend.js'

/** The backend operations a FaultyBackend counts, delays and fails. */
export type Operation = 'create' | 'save' | 'load' | 'stat' | 'list' | 'remove'

/** One call that reached the wrapped backend (failed calls included). */
export interface CallRecord {
  op: Operation
  /** Set for save/load/stat/remove; `list` records `{ type, name: '' }`. */
  h?: Handle
  offset?: number
  length?: number
  /** Bytes saved or loaded (0 for other operations and failed calls). */
  bytes: number
}

/** Makes the error a fault throws; the default is a NETWORK AppError naming the operation. */
export type ErrorFactory = (op: Operation, h: Handle | undefined) => unknown

const networkError: ErrorFactory = (op, h) =>
  new AppError('NETWORK', `Injected fault: ${op}${h === undefined ? '' : `(${handleToString(h)})`}: connection reset`)

interface Fault {
  remaining: number
  error: ErrorFactory
  /** save only: store the file in the inner backend first, then fail (the ambiguous failure). */
  afterSave?: boolean
  /** list only: fail after yielding this many entries. */
  afterItems?: number
  /** Only calls whose handle has this type count. */
  type?: FileType
}

/**
 * A Backend → Backend wrapper for tests that counts and records every call, can delay each
 * call, and fails chosen calls: the first N of an operation, a save that lands but reports
 * failure, a listing cut off in the middle. The wrapped backend (a MemoryBackend unless given)
 * does the real work, so everything that does not fail behaves exactly as it would.
 *
 * @example
 * const be = new FaultyBackend()
 * be.failNext('load', 2) // the next two loads throw AppError('NETWORK')
 * await withRetry(be, { initialDelayMs: 1 }).load(h) // succeeds on the third try
 */
export class FaultyBackend implements Backend {
  readonly inner: Backend
  /** Every call that reached this backend, in order. */
  readonly calls: CallRecord[] = []
  /** Milliseconds each call waits before it runs (per operation). */
  readonly delays: Partial<Record<Operation, number>> = {}
  /** How many calls run at once right now, and the most seen. */
  active = 0
  maxActive = 0
  readonly #faults = new Map<Operation, Fault[]>()

  constructor(inner: Backend = new MemoryBackend('faulty')) {
    this.inner = inner
  }

  get location(): string {
    return this.inner.location
  }

  get properties(): BackendProperties {
    return this.inner.properties
  }

  /**
   * The next `count` calls of `op` (of files of `type`, when given) throw `error()` (default:
   * AppError NETWORK) without reaching the wrapped backend.
   */
  failNext(op: Operation, count = 1, options: { error?: ErrorFactory; type?: FileType } = {}): this {
    return this.#add(op, { remaining: count, error: options.error ?? networkError, ...(options.type ? { type: options.type } : {}) })
  }

  /** The next `count` saves store the file and then throw, as a connection cut before the reply does. */
  failAfterSave(count = 1, error: ErrorFactory = networkError): this {
    return this.#add('save', { remaining: count, error, afterSave: true })
  }

  /** The next `count` listings yield `afterItems` entries and then throw. */
  failListAfter(afterItems: number, count = 1, error: ErrorFactory = networkError): this {
    return this.#add('list', { remaining: count, error, afterItems })
  }

  /** Calls of `op` so far (optionally only for files of `type`). */
  count(op: Operation, type?: FileType): number {
    return this.calls.filter((c) => c.op === op && (type === undefined || c.h?.type === type)).length
  }

  /** Forgets the recorded calls (faults and delays stay). */
  resetCalls(): void {
    this.calls.length = 0
    this.maxActive = this.active
  }

  async create(): Promise<void> {
    await this.#enter('create', undefined)
    try {
      this.#take('create', undefined)
      this.calls.push({ op: 'create', bytes: 0 })
      await this.inner.create()
    } finally {
      this.active--
    }
  }

  async save(h: Handle, data: Uint8Array): Promise<void> {
    await this.#enter('save', h)
    try {
      const record: CallRecord = { op: 'save', h: { ...h }, bytes: 0 }
      this.calls.push(record)
      const fault = this.#take('save', h)
      if (fault?.afterSave) {
        await this.inner.save(h, data)
        throw fault.error('save', h)
      }
      if (fault) throw fault.error('save', h)
      await this.inner.save(h, data)
      record.bytes = data.length
    } finally {
      this.active--
    }
  }

  async load(h: Handle, offset?: number, length?: number): Promise<Buffer> {
    await this.#enter('load', h)
    try {
      const record: CallRecord = { op: 'load', h: { ...h }, bytes: 0 }
      if (offset !== undefined) record.offset = offset
      if (length !== undefined) record.length = length
      this.calls.push(record)
      const fault = this.#take('load', h)
      if (fault) throw fault.error('load', h)
      const data = await this.inner.load(h, offset, length)
      record.bytes = data.length
      return data
    } finally {
      this.active--
    }
  }

  async stat(h: Handle): Promise<FileInfo> {
    await this.#enter('stat', h)
    try {
      this.calls.push({ op: 'stat', h: { ...h }, bytes: 0 })
      const fault = this.#take('stat', h)
      if (fault) throw fault.error('stat', h)
      return await this.inner.stat(h)
    } finally {
      this.active--
    }
  }

  list(type: FileType, options?: ListOptions): AsyncIterable<FileInfo> {
    const self = this
    return (async function* () {
      await self.#enter('list', { type, name: '' })
      let fault: Fault | undefined
      try {
        self.calls.push({ op: 'list', h: { type, name: '' }, bytes: 0 })
        fault = self.#take('list', { type, name: '' })
        if (fault && fault.afterItems === undefined) throw fault.error('list', undefined)
      } finally {
        self.active--
      }
      let n = 0
      for await (const fi of self.inner.list(type, options)) {
        if (fault?.afterItems !== undefined && n >= fault.afterItems) throw fault.error('list', undefined)
        n++
        yield fi
      }
      if (fault?.afterItems !== undefined) throw fault.error('list', undefined)
    })()
  }

  async remove(h: Handle): Promise<void> {
    await this.#enter('remove', h)
    try {
      this.calls.push({ op: 'remove', h: { ...h }, bytes: 0 })
      const fault = this.#take('remove', h)
      if (fault) throw fault.error('remove', h)
      await this.inner.remove(h)
    } finally {
      this.active--
    }
  }

  async close(): Promise<void> {
    await this.inner.close()
  }

  #add(op: Operation, fault: Fault): this {
    const list = this.#faults.get(op) ?? []
    list.push(fault)
    this.#faults.set(op, list)
    return this
  }

  /** Counts the call as active, then waits its delay: the delay stands for latency, so it counts as running. */
  async #enter(op: Operation, _h: Handle | undefined): Promise<void> {
    this.active++
    this.maxActive = Math.max(this.maxActive, this.active)
    const ms = this.delays[op]
    if (ms !== undefined && ms > 0) await new Promise((r) => setTimeout(r, ms))
  }

  /** The first pending fault for this call, used up by one. */
  #take(op: Operation, h: Handle | undefined): Fault | undefined {
    const list = this.#faults.get(op)
    const fault = list?.find((f) => f.remaining > 0 && (f.type === undefined || f.type === h?.type))
    if (fault === undefined) return undefined
    fault.remaining--
    return fault
  }
}
