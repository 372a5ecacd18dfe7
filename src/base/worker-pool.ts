/**
 * A pool of worker threads answering requests, batched: many small requests travel in one
 * message, since postMessage costs about as much as compressing a small file. Requests go to the
 * worker with the fewest bytes queued.
 *
 * Results with many bytes (sealed blobs) can come back through a reply ring: shared memory per
 * worker that the worker writes results into and the caller gives back (Reply.release) once it
 * has used them. So results cost no allocation, no transfer and no garbage: a backup would
 * otherwise leave a trail of megabyte-sized buffers for the garbage collector to find late and
 * for the allocator to fragment. When the ring is full because the caller is behind (its
 * thread busy, replies queued), the worker waits a little for it to catch up; a result that
 * still does not fit (the caller holds on to too much) comes in a buffer of its own.
 *
 * @example
 * const pool = new WorkerPool(new URL('./my-worker.js', import.meta.url), 2, { key }, { replyRing: 16 << 20 })
 * const result = await pool.call({ kind: 'x', data }, data.byteLength, [data.buffer])
 * const { result: r, output, release } = await pool.callWithOutput({ kind: 'y', data }, data.byteLength)
 * use(output); release()
 * await pool.close()
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Worker, parentPort, workerData } from 'node:worker_threads'
import { AppError } from './errors.js'

interface Pending {
  resolve: (r: unknown) => void
  reject: (e: unknown) => void
  weight: number
  withOutput: boolean
}

/** The caller's side of a worker's reply ring. */
interface RingState {
  buf: Buffer
  /**
   * [0]: bytes released so far, counted from the start (the worker reads it); [1]: while the
   * worker waits for room, the count [0] must reach for its output to fit (0 otherwise).
   */
  ctl: BigInt64Array
  /**
   * Results in the order the worker wrote them; those before `head` are released. A ring of
   * small results holds thousands: dropping them one by one from the front of an array (splice)
   * moved all the rest each time, 12 µs per result with 2,000 held.
   */
  held: Array<{ end: number; released: boolean }>
  head: number
}

interface Slot {
  worker: Worker
  pending: Map<number, Pending>
  load: number
  batch: Array<{ id: number; request: unknown }>
  transfer: ArrayBuffer[]
  batchWeight: number
  ring: RingState | undefined
}

/** A reply: the worker's result and, when the worker wrote bytes for it, a view of them. */
export interface Reply<R> {
  result: R
  /** The bytes the worker wrote for this request (see ReplyOutput), valid until release(). */
  output: Buffer | undefined
  /** Gives the output's memory back for reuse; call once, after the last use of `output`. */
  release(): void
}

/**
 * Where a worker's reply says its bytes are: in the ring at [start, start + length) counted
 * from the ring's first byte ever written (kind 0), or in reply buffer `index` (kind 1).
 */
export type OutputRef = [kind: 0, start: number, length: number] | [kind: 1, index: number, length: number]

interface WireReply {
  id: number
  result?: unknown
  output?: OutputRef
  error?: { message: string; code?: string }
}

interface Setup {
  data: unknown
  ring?: { buf: SharedArrayBuffer; ctl: SharedArrayBuffer; waitMs: number }
}

export interface WorkerPoolOptions {
  /** Bytes of reply ring per worker (see the class comment); 0 (default) for none. */
  replyRing?: number
  /**
   * How long a worker waits for ring room before it takes a buffer of its own (default
   * RING_WAIT_MS). Tests that assert where a reply went set it long: 10 ms is a scheduling
   * hiccup on a loaded machine.
   */
  ringWaitMs?: number
}

const BATCH_WEIGHT = 1 << 20
const BATCH_COUNT = 128
const NOOP = (): void => {}

export class WorkerPool {
  #slots: Slot[] = []
  #seq = 0
  #failed: unknown
  #flushScheduled = false

  #script: URL
  #threads: number
  #data: unknown
  #ringSize: number
  #ringWaitMs: number

  /** Workers start on the first request, so a run that needs none (nothing changed) pays nothing. */
  constructor(script: URL, threads: number, data?: unknown, options: WorkerPoolOptions = {}) {
    this.#script = script
    this.#threads = Math.max(1, threads)
    this.#data = data
    this.#ringSize = Math.max(0, Math.floor(options.replyRing ?? 0))
    this.#ringWaitMs = options.ringWaitMs ?? RING_WAIT_MS
  }

  /**
   * Starts the workers now rather than at the first request, so that their start-up (loading
   * modules: about 100 ms per worker) overlaps the caller's own preparations.
   */
  start(): void {
    if (this.#slots.length === 0 && this.#failed === undefined) this.#start()
  }

  #start(): void {
    for (let i = 0; i < this.#threads; i++) {
      let ring: RingState | undefined
      const setup: Setup = { data: this.#data }
      if (this.#ringSize > 0) {
        const buf = new SharedArrayBuffer(this.#ringSize)
        const ctl = new SharedArrayBuffer(16)
        ring = { buf: Buffer.from(buf), ctl: new BigInt64Array(ctl), held: [], head: 0 }
        setup.ring = { buf, ctl, waitMs: this.#ringWaitMs }
      }
      // Small heaps: workers hold little JS state, and a large young generation only costs memory.
      const worker = new Worker(this.#script, { workerData: setup, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 } })
      const slot: Slot = { worker, pending: new Map(), load: 0, batch: [], transfer: [], batchWeight: 0, ring }
      worker.on('message', (m: { replies: WireReply[]; buffers: ArrayBuffer[] }) => this.#onReplies(slot, m.replies, m.buffers))
      worker.on('error', (err) => {
        this.#failed = new AppError('INTERNAL', `A worker thread failed: ${err.message}`, { cause: err })
        for (const p of slot.pending.values()) p.reject(this.#failed)
        slot.pending.clear()
      })
      this.#slots.push(slot)
    }
  }

  #onReplies(slot: Slot, replies: WireReply[], buffers: ArrayBuffer[]): void {
    for (const r of replies) {
      let output: Buffer | undefined
      let release = NOOP
      const ref = r.output
      if (ref !== undefined && ref[0] === 0 && slot.ring !== undefined) {
        // Every ring result is held until released, in the order written, even one nobody awaits.
        const ring = slot.ring
        const at = ref[1] % ring.buf.length
        output = ring.buf.subarray(at, at + ref[2])
        const entry = { end: ref[1] + ref[2], released: false }
        ring.held.push(entry)
        release = () => {
          if (entry.released) return
          entry.released = true
          releaseRing(ring)
        }
      } else if (ref !== undefined && ref[0] === 1) {
        output = Buffer.from(buffers[ref[1]], 0, ref[2])
      }
      const p = slot.pending.get(r.id)
      if (!p || r.error) release()
      if (!p) continue
      slot.pending.delete(r.id)
      slot.load -= p.weight
      if (r.error) {
        p.reject(Object.assign(new Error(r.error.message), r.error.code ? { code: r.error.code } : {}))
        continue
      }
      if (p.withOutput) p.resolve({ result: r.result, output, release } satisfies Reply<unknown>)
      else {
        release()
        p.resolve(r.result)
      }
    }
  }

  /** Sends one request; `weight` (bytes of work) balances the workers; `transfer` moves buffers. */
  call<R>(request: unknown, weight: number, transfer: ArrayBuffer[] = []): Promise<R> {
    return this.#send<R>(request, weight, transfer, false)
  }

  /**
   * Like call(), for requests whose answer includes bytes the worker wrote (ReplyOutput): the
   * reply holds a view of them, to be released once used so the memory can serve again.
   */
  callWithOutput<R>(request: unknown, weight: number, transfer: ArrayBuffer[] = []): Promise<Reply<R>> {
    return this.#send<Reply<R>>(request, weight, transfer, true)
  }

  #send<R>(request: unknown, weight: number, transfer: ArrayBuffer[], withOutput: boolean): Promise<R> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed)
    if (this.#slots.length === 0) this.#start()
    let slot = this.#slots[0]
    for (const s of this.#slots) if (s.load < slot.load) slot = s
    const id = this.#seq++
    slot.load += weight
    const promise = new Promise<R>((resolve, reject) => slot.pending.set(id, { resolve: resolve as (r: unknown) => void, reject, weight, withOutput }))
    slot.batch.push({ id, request })
    for (const t of transfer) slot.transfer.push(t)
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

/** Gives the worker back the ring bytes up to the first result still held. */
function releaseRing(ring: RingState): void {
  const held = ring.held
  let end = -1
  let n = ring.head
  while (n < held.length && held[n].released) end = held[n++].end
  if (n === ring.head) return
  if (n === held.length) {
    held.length = 0
    ring.head = 0
  } else if (n >= 1024 && 2 * n >= held.length) {
    // Drop the released front now and then: each entry is moved at most once on average.
    held.splice(0, n)
    ring.head = 0
  } else ring.head = n
  const released = BigInt(end)
  Atomics.store(ring.ctl, 0, released)
  // A waiting worker (ReplyOutput.room) is woken once its output fits, not at every release:
  // waking it for each small result cost this thread a system call per blob.
  const wanted = Atomics.load(ring.ctl, 1)
  if (wanted !== 0n && released >= wanted) Atomics.notify(ring.ctl, 0)
}

/**
 * How long a worker waits for ring room before it takes a buffer of its own. A full ring
 * nearly always means the caller's thread is behind with queued replies, which it works off
 * in milliseconds; meanwhile a worker running ahead only turns out buffers that the allocator
 * gets back from another thread, in another order (measured: 22,000 of them, 420 MiB, in a
 * first backup of the Linux sources, which left each worker's malloc arena 30 MiB larger).
 * A waiting worker also leaves its core to the caller.
 */
const RING_WAIT_MS = 10

/**
 * The worker side of reply bytes: a handler asks for room, writes its bytes there and commits
 * them; the bytes reach the caller as Reply.output. Room comes from the reply ring when it has
 * enough free (contiguous) space, else from a buffer of its own, transferred with the replies.
 */
export class ReplyOutput {
  #ring: Buffer | undefined
  #released: BigInt64Array | undefined
  #waitMs = RING_WAIT_MS
  /** Ring bytes written so far (including the skipped ends where a result would not fit). */
  #written = 0
  #own: ArrayBuffer[] = []
  #cur: { buf: Buffer; offset: number; max: number; inRing: boolean } | undefined
  /** `released` when a wait for room timed out: no waiting again until the caller moves it. */
  #stuckAt = -1n
  /** #written when the last replies were sent: the caller can release up to there. */
  #sentUpTo = 0
  /** Called before waiting for ring room: sends the replies made so far (see serveWorker). */
  beforeWait: () => void = () => {}
  /** Bytes committed so far (see serveWorker's young-generation collections). */
  committed = 0

  constructor(ring?: Setup['ring']) {
    if (ring) {
      this.#ring = Buffer.from(ring.buf)
      this.#released = new BigInt64Array(ring.ctl)
      this.#waitMs = ring.waitMs
    }
  }

  /**
   * A buffer with at least `max` bytes free from `offset` on, for the request being handled.
   * When the ring is full this may first send the replies of the requests handled before (see
   * beforeWait), so a handler asks for room once, before it commits.
   */
  room(max: number): { buf: Buffer; offset: number } {
    const ring = this.#ring
    if (ring !== undefined && max <= ring.length) {
      const released = this.#released!
      let deadline = 0
      let lastLook = false
      for (;;) {
        const offset = this.#placeInRing(ring, released, max)
        if (offset >= 0) {
          this.#cur = { buf: ring, offset, max, inRing: true }
          return { buf: ring, offset }
        }
        // Full. Wait for the caller to release, unless it held on through the last wait (it
        // keeps results for a reason then, and waiting again would only slow every request).
        const held = Atomics.load(released, 0)
        if (lastLook) {
          this.#stuckAt = held
          break
        }
        if (held === this.#stuckAt) break
        if (deadline === 0) {
          deadline = performance.now() + this.#waitMs
          // Send this batch's replies first unless what the caller already has frees enough.
          if (this.#sentUpTo < this.#written + max - ring.length) this.beforeWait()
        }
        const now = performance.now()
        if (now >= deadline) {
          lastLook = true
          continue
        }
        // Woken once a quarter of the ring is free beyond what this output needs, or once all
        // the caller has been sent is released (it can release no more): a caller releasing
        // small results one by one would otherwise wake this thread for each, to write one more
        // and wait again.
        const wanted = Math.min(this.#sentUpTo, this.#written + max - ring.length + (ring.length >> 2))
        Atomics.store(released, 1, BigInt(wanted))
        const woke = Atomics.wait(released, 0, held, deadline - now)
        Atomics.store(released, 1, 0n)
        if (woke === 'timed-out') lastLook = true
      }
    }
    const buf = Buffer.from(new ArrayBuffer(max))
    this.#cur = { buf, offset: 0, max, inRing: false }
    return { buf, offset: 0 }
  }

  /** The ring offset where `max` bytes fit now, or -1 when they do not. */
  #placeInRing(ring: Buffer, released: BigInt64Array, max: number): number {
    const size = ring.length
    // Bytes [released, written) are held by the caller; the rest of the ring is free.
    let held = Number(Atomics.load(released, 0))
    const front = Math.ceil(this.#written / size) * size
    if (held === this.#written && front !== held) {
      // Nothing is held: start again at the front, so that only as much of the ring is ever
      // touched as is in use at once. (The caller moves `released` only while it holds
      // something, so it cannot move it meanwhile.)
      if (Atomics.compareExchange(released, 0, BigInt(held), BigInt(front)) === BigInt(held)) held = this.#written = front
    }
    const pos = this.#written % size
    const heldFrom = held % size
    // Skip to the front when the rest of the ring is too short, or when a quarter of the ring
    // or more is free there (the bytes skipped count as held until the caller has released what
    // precedes them). The room at the front ends where the caller's oldest held result lies:
    // skipping to a smaller front left room for a few results before the worker had to wait for
    // the caller, though the rest of the ring was free (a first backup of the Linux sources
    // waited 700 times per worker, 1.4 s in all).
    const frontFree = heldFrom < pos && heldFrom >= max && heldFrom >= size >> 2
    if (pos !== 0 && (pos + max > size || (held < this.#written && frontFree))) this.#written = front
    return this.#written + max - held <= size ? this.#written % size : -1
  }

  /** Keeps the `n` bytes written at the offset room() gave; put the returned ref in the handler's answer. */
  commit(n: number): OutputRef {
    const cur = this.#cur
    if (cur === undefined || !(n >= 0 && n <= cur.max)) throw new RangeError(`Cannot commit ${n} bytes: room() gave ${cur?.max ?? 0}`)
    this.#cur = undefined
    this.committed += n
    if (cur.inRing) {
      const start = this.#written
      this.#written += n
      return [0, start, n]
    }
    this.#own.push(cur.buf.buffer as ArrayBuffer)
    return [1, this.#own.length - 1, n]
  }

  /** Buffers of this batch's results that are not in the ring, to be transferred with the replies. */
  takeBatch(): ArrayBuffer[] {
    this.#sentUpTo = this.#written
    const own = this.#own
    this.#own = []
    return own
  }
}

/** What a worker handler answers: its result, bytes it committed to `out`, buffers to transfer. */
export interface HandlerAnswer {
  result: unknown
  output?: OutputRef
  transfer?: ArrayBuffer[]
  /**
   * Bytes of native buffers the handler let go of (a pack it was sent, blobs it decrypted): they
   * count towards the next young-generation collection like output bytes do.
   */
  garbage?: number
}

/** Inside a worker of a WorkerPool: the `data` the pool was created with. */
export function workerSetup<T>(): T {
  return (workerData as Setup).data as T
}

/**
 * A worker collects its young generation after producing this many output bytes, or after
 * handlers reported this many bytes of garbage. Producing them (compressing, encrypting) leaves
 * about as many bytes of short-lived native buffers (OpenSSL's cipher output), and buffers sent
 * in (a pack to verify) die with the request, but little is allocated on the JS heap, so V8
 * would only collect once hundreds of MiB of such garbage piled up, per worker. A young collection here costs well under a
 * millisecond (a worker keeps little alive) and frees them.
 */
const COLLECT_EVERY = 2 * 1024 * 1024

/**
 * A function running a young-generation (minor) collection, or a full one, or undefined where V8
 * offers none: for a thread that makes much short-lived native garbage (buffers) and little on
 * its heap, which V8 would otherwise leave to pile up.
 */
export function youngCollector(): ((full: boolean) => void) | undefined {
  const given = (globalThis as { gc?: (o?: object) => void }).gc
  if (typeof given === 'function') return (full) => given({ type: full ? 'major' : 'minor' })
  try {
    // gc() is only installed in contexts made while the flag is set: make one, then unset it.
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as unknown
    return typeof gc === 'function' ? (full) => (gc as (o?: object) => void)({ type: full ? 'major' : 'minor' }) : undefined
  } catch {
    return undefined
  } finally {
    setFlagsFromString('--no-expose-gc')
  }
}

/**
 * The worker side: answers each request of a batch with `handle`, which returns the result and
 * the buffers to transfer back, and may write bytes into `out` (see ReplyOutput). Errors become
 * rejections of that one request.
 */
export function serveWorker<Q>(handle: (request: Q, data: unknown, out: ReplyOutput) => HandlerAnswer): void {
  const port = parentPort
  if (!port) throw new Error('serveWorker() must run in a worker thread')
  const setup = workerData as Setup
  const out = new ReplyOutput(setup.ring)
  const collect = youngCollector()
  let collectedAt = 0
  let garbage = 0
  let replies: WireReply[] = []
  let transfer: ArrayBuffer[] = []
  /** Posts the replies made so far, if any. */
  const send = (): void => {
    if (replies.length === 0) return
    const buffers = out.takeBatch()
    port.postMessage({ replies, buffers }, [...transfer, ...buffers])
    replies = []
    transfer = []
  }
  // A worker that finds its ring full first sends what it has: the caller can only release
  // results it has received.
  out.beforeWait = send
  port.on('message', (batch: Array<{ id: number; request: Q }>) => {
    for (const { id, request } of batch) {
      try {
        const r = handle(request, setup.data, out)
        replies.push(r.output ? { id, result: r.result, output: r.output } : { id, result: r.result })
        if (r.transfer) for (const t of r.transfer) transfer.push(t)
        if (r.garbage !== undefined) garbage += r.garbage
      } catch (err) {
        const e = err as { message?: string; code?: string }
        replies.push({ id, error: { message: e.message ?? String(err), code: e.code } })
      }
    }
    send()
    if (collect !== undefined && out.committed + garbage - collectedAt >= COLLECT_EVERY) {
      collectedAt = out.committed + garbage
      // Buffers that were sent in live long enough to reach the old generation: a worker whose
      // handlers report garbage collects it all; one that only writes output, the young one.
      collect(garbage > 0)
    }
  })
}

/** A buffer that can be transferred: copies when `b` is a view into a larger (pooled) buffer. */
export function ownBuffer(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b)
}
