/**
 * Reusable buffers in shared memory, for data read on one thread and decoded on a worker
 * (whole packs in `check --read-data`, pieces of packs in a restore). A fresh buffer per read,
 * freed on the worker that decoded it, goes back to the reading thread's allocator heap, which
 * then grows well past the data in flight (by 100 MiB in a check of 16 MiB packs), and every
 * page of it is faulted in anew. A slot instead is read into again and again; a worker sees it
 * without a copy or a transfer.
 *
 * A slot grows to the largest size asked of it, in whole MiB, starting at `firstSize`. Shared
 * memory is zero-filled lazily, so pages are only touched as reads fill them: a generous first
 * size costs nothing until it is used.
 */
export class SharedSlots {
  readonly #firstSize: number
  #free: Slot[] = []

  constructor(firstSize: number) {
    this.#firstSize = firstSize
  }

  /** A slot to read into; give() it back once no thread looks at its bytes any more. */
  take(): SharedSlot {
    const slot = this.#free.pop() ?? new Slot(this.#firstSize)
    let given = false
    return {
      fit: (n) => slot.fit(n),
      give: () => {
        if (given) return
        given = true
        this.#free.push(slot)
      },
    }
  }
}

/** One slot taken from SharedSlots. */
export interface SharedSlot {
  /** The first `n` bytes of the slot's memory, grown first when it is smaller. */
  fit(n: number): Buffer
  /** Returns the slot for reuse; calls after the first do nothing. */
  give(): void
}

const MIB = 1024 * 1024

class Slot {
  #buf: Buffer = Buffer.alloc(0)
  readonly #firstSize: number

  constructor(firstSize: number) {
    this.#firstSize = firstSize
  }

  fit(n: number): Buffer {
    // A slot that grows leaves its old memory to the garbage collectors of two threads, so it
    // grows rarely: to whole MiB, and at once to the first size.
    if (this.#buf.length < n) this.#buf = Buffer.from(new SharedArrayBuffer(Math.max(this.#firstSize, Math.ceil(n / MIB) * MIB)))
    return this.#buf.subarray(0, n)
  }
}
