/**
 * A pool of worker threads answering requests, batched: many small requests travel in one
 * message, since postMessage costs about as much as compressing a small file. Requests go to the
 * worker with the fewest bytes queued.
 *
 * @example
 * const pool = new WorkerPool(new URL('./my-worker.js', import.meta.url), 2, { key })
 * const result = await pool.call({ kind: 'x', data }, data.byteLength, [data.buffer])
 * await pool.close()
 */
import { Worker, parentPort, workerData } from 'node:worker_threads'
import { AppError } from './errors.js'

interface Pending {
  resolve: (r: unknown) => void
  reject: (e: unknown) => void
  weight: number
}

interface Slot {
  worker: Worker
  pending: Map<number, Pending>
  load: number
  batch: Array<{ id: number; request: unknown }>
  transfer: ArrayBuffer[]
  batchWeight: number
}

const BATCH_WEIGHT = 1 << 20
const BATCH_COUNT = 128

export class WorkerPool {
  #slots: Slot[] = []
  #seq = 0
  #failed: unknown
  #flushScheduled = false

  #script: URL
  #threads: number
  #data: unknown

  /** Workers start on the first request, so a run that needs none (nothing changed) pays nothing. */
  constructor(script: URL, threads: number, data?: unknown) {
    this.#script = script
    this.#threads = Math.max(1, threads)
    this.#data = data
  }

  #start(): void {
    for (let i = 0; i < this.#threads; i++) {
      // Small heaps: workers hold little JS state, and a large young generation only costs memory.
      const worker = new Worker(this.#script, { workerData: this.#data, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 } })
      const slot: Slot = { worker, pending: new Map(), load: 0, batch: [], transfer: [], batchWeight: 0 }
      worker.on('message', (replies: Array<{ id: number; result?: unknown; error?: { message: string; code?: string } }>) => {
        for (const r of replies) {
          const p = slot.pending.get(r.id)
          if (!p) continue
          slot.pending.delete(r.id)
          slot.load -= p.weight
          if (r.error) p.reject(Object.assign(new Error(r.error.message), r.error.code ? { code: r.error.code } : {}))
          else p.resolve(r.result)
        }
      })
      worker.on('error', (err) => {
        this.#failed = new AppError('INTERNAL', `A worker thread failed: ${err.message}`, { cause: err })
        for (const p of slot.pending.values()) p.reject(this.#failed)
        slot.pending.clear()
      })
      this.#slots.push(slot)
    }
  }

  /** Sends one request; `weight` (bytes of work) balances the workers; `transfer` moves buffers. */
  call<R>(request: unknown, weight: number, transfer: ArrayBuffer[] = []): Promise<R> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed)
    if (this.#slots.length === 0) this.#start()
    let slot = this.#slots[0]
    for (const s of this.#slots) if (s.load < slot.load) slot = s
    const id = this.#seq++
    slot.load += weight
    const promise = new Promise<R>((resolve, reject) => slot.pending.set(id, { resolve: resolve as (r: unknown) => void, reject, weight }))
    slot.batch.push({ id, request })
    slot.transfer.push(...transfer)
    slot.batchWeight += Math.max(weight, 4096)
    if (slot.batchWeight >= BATCH_WEIGHT || slot.batch.length >= BATCH_COUNT) this.#flush(slot)
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(() => this.#flushAll())
    }
    return promise
  }

  #flush(slot: Slot): void {
    if (slot.batch.length === 0) return
    slot.worker.postMessage(slot.batch, slot.transfer)
    slot.batch = []
    slot.transfer = []
    slot.batchWeight = 0
  }

  #flushAll(): void {
    this.#flushScheduled = false
    for (const s of this.#slots) this.#flush(s)
  }

  async close(): Promise<void> {
    this.#flushAll()
    await Promise.all(this.#slots.map((s) => s.worker.terminate()))
  }
}

/**
 * The worker side: answers each request of a batch with `handle`, which returns the result and
 * the buffers to transfer back. Errors become rejections of that one request.
 */
export function serveWorker<Q>(handle: (request: Q, data: unknown) => { result: unknown; transfer?: ArrayBuffer[] }): void {
  const port = parentPort
  if (!port) throw new Error('serveWorker() must run in a worker thread')
  port.on('message', (batch: Array<{ id: number; request: Q }>) => {
    const replies: unknown[] = []
    const transfer: ArrayBuffer[] = []
    for (const { id, request } of batch) {
      try {
        const r = handle(request, workerData)
        replies.push({ id, result: r.result })
        if (r.transfer) transfer.push(...r.transfer)
      } catch (err) {
        const e = err as { message?: string; code?: string }
        replies.push({ id, error: { message: e.message ?? String(err), code: e.code } })
      }
    }
    port.postMessage(replies, transfer)
  })
}

/** A buffer that can be transferred: copies when `b` is a view into a larger (pooled) buffer. */
export function ownBuffer(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b)
}
