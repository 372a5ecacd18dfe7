import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { WorkerPool, type Reply } from './worker-pool.js'

const KiB = 1024
const RING = 64 * KiB

/**
 * A worker answering { n, fill } with n bytes of `fill` written into its reply output, and
 * { fail } with an error after writing (but not committing) some bytes.
 */
const WORKER = (base: string) => `
import { serveWorker } from ${JSON.stringify(base)}
serveWorker((m, data, out) => {
  const { buf, offset } = out.room(m.n)
  buf.fill(m.fill, offset, offset + m.n)
  if (m.fail) throw new Error('failed on purpose')
  return { result: { n: m.n, data }, output: out.commit(m.n) }
})
`

describe('WorkerPool reply ring', () => {
  let dir: string
  let script: URL

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-worker-pool-'))
    const file = join(dir, 'worker.mjs')
    await writeFile(file, WORKER(new URL('./index.js', import.meta.url).href))
    script = pathToFileURL(file)
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  type R = Reply<{ n: number; data: unknown }>
  const ask = (pool: WorkerPool, n: number, fill: number) => pool.callWithOutput<{ n: number; data: unknown }>({ n, fill }, n)
  const inRing = (r: R) => r.output!.buffer instanceof SharedArrayBuffer

  it('returns each output intact and reuses the ring from its front once outputs are released', async () => {
    const pool = new WorkerPool(script, 1, { tag: 'x' }, { replyRing: RING })
    try {
      for (let round = 0; round < 20; round++) {
        const replies = await Promise.all([ask(pool, 10 * KiB, round), ask(pool, 20 * KiB, round + 1)])
        assert.deepEqual(replies[0].result, { n: 10 * KiB, data: { tag: 'x' } })
        for (const [i, r] of replies.entries()) {
          assert.ok(inRing(r), 'the output is in the ring')
          assert.equal(r.output!.length, [10, 20][i] * KiB)
          assert.ok(r.output!.every((b) => b === (round + i) % 256))
        }
        // Everything was released before this round: it starts at the front again.
        assert.equal(replies[0].output!.byteOffset, 0)
        for (const r of replies) r.release()
      }
    } finally {
      await pool.close()
    }
  })

  it('hands out buffers of their own while the caller holds the ring, and the ring again after', async () => {
    const pool = new WorkerPool(script, 1, undefined, { replyRing: RING })
    try {
      const held: R[] = []
      for (let i = 0; i < 6; i++) held.push(await ask(pool, 16 * KiB, i))
      // 4 × 16 KiB fill the 64 KiB ring; the caller holds on through a short wait, so the rest
      // come apart (and the sixth and the ninth do not wait again: nothing was released since).
      assert.deepEqual(held.map(inRing), [true, true, true, true, false, false])
      held.forEach((r, i) => assert.ok(r.output!.every((b) => b === i)))
      // Releasing out of order frees nothing until the first one goes.
      held[2].release()
      held[3].release()
      assert.equal(inRing(await ask(pool, 16 * KiB, 9)), false)
      held[0].release()
      held[1].release()
      held[1].release() // twice is harmless
      const again = await ask(pool, 16 * KiB, 7)
      assert.ok(inRing(again))
      assert.ok(again.output!.every((b) => b === 7))
    } finally {
      await pool.close()
    }
  })

  it('writes on after a result the caller holds, rather than skip to a front that is nearly full', async () => {
    const pool = new WorkerPool(script, 1, undefined, { replyRing: RING })
    try {
      const [a, b] = await Promise.all([ask(pool, 4 * KiB, 1), ask(pool, 4 * KiB, 2)])
      assert.ok(inRing(a) && inRing(b))
      // Free: the first 4 KiB, and everything after b. Skipping to the front leaves room for
      // one result there; the next would wait for b, then take a buffer of its own.
      a.release()
      const c = await ask(pool, 4 * KiB, 3)
      const d = await ask(pool, 4 * KiB, 4)
      assert.deepEqual([c, d].map(inRing), [true, true], 'both went into the ring')
      assert.ok(c.output!.every((x) => x === 3) && d.output!.every((x) => x === 4))
      assert.ok(b.output!.every((x) => x === 2), 'the held result is intact')
      for (const r of [b, c, d]) r.release()
    } finally {
      await pool.close()
    }
  })

  it('waits for a caller that is only behind: sends the replies made so far, then writes into the room they free', async () => {
    // A long wait: with the default 10 ms, a busy machine that delays this thread a little
    // longer sends a reply through a buffer of its own, which is right, but not what this tests.
    const pool = new WorkerPool(script, 1, undefined, { replyRing: RING, ringWaitMs: 5000 })
    try {
      // One batch of three 40 KiB outputs for a 64 KiB ring: each fits only once the one before
      // it was released, which the caller does as soon as it has it.
      const useAndRelease = (r: R, fill: number) => {
        const ok = inRing(r) && r.output!.every((b) => b === fill)
        r.release()
        return ok
      }
      const got = await Promise.all([1, 2, 3].map((fill) => ask(pool, 40 * KiB, fill).then((r) => useAndRelease(r, fill))))
      assert.deepEqual(got, [true, true, true], 'every output came through the ring, intact')
    } finally {
      await pool.close()
    }
  })

  it('frees ring room written for a failed request and for call(), which takes no output', async () => {
    const pool = new WorkerPool(script, 1, undefined, { replyRing: RING })
    try {
      await assert.rejects(pool.call({ n: 40 * KiB, fill: 1, fail: true }, 1), /failed on purpose/)
      // call() releases at once: twenty of them pass through a ring that holds four.
      for (let i = 0; i < 20; i++) assert.deepEqual(await pool.call({ n: 16 * KiB, fill: i }, 1), { n: 16 * KiB, data: undefined })
      const r = await ask(pool, RING, 3)
      assert.ok(inRing(r), 'the whole ring is free')
      assert.equal(r.output!.length, RING)
    } finally {
      await pool.close()
    }
  })

  it('keeps track of thousands of held outputs released out of order, and frees the ring up to the first one held', async () => {
    const pool = new WorkerPool(script, 1, undefined, { replyRing: 3 * 1024 * KiB })
    try {
      const many = await Promise.all(Array.from({ length: 3000 }, (_, i) => ask(pool, KiB, i)))
      assert.ok(many.every(inRing))
      // Everything but the first, from the back: the ring stays held.
      for (let i = many.length - 1; i >= 1; i--) many[i].release()
      assert.equal(inRing(await ask(pool, 200 * KiB, 1)), false, 'no room while the first is held')
      many[0].release()
      const whole = await ask(pool, 2 * 1024 * KiB, 2)
      assert.ok(inRing(whole) && whole.output!.byteOffset === 0, 'all released: the ring starts at its front')
      whole.release()
      // In order, most of them: what was released is room again, behind what is still held.
      const next = await Promise.all(Array.from({ length: 2000 }, (_, i) => ask(pool, KiB, i)))
      next.slice(0, 1500).forEach((r) => r.release())
      const wrapped = await ask(pool, 1400 * KiB, 5)
      assert.ok(inRing(wrapped), 'the 1,500 KiB released at the front hold it')
      assert.ok(next.slice(1500).every((r, i) => r.output!.every((b) => b === (1500 + i) % 256)), 'the held outputs are intact')
      for (const r of [...next.slice(1500), wrapped]) r.release()
      assert.ok(inRing(await ask(pool, 3 * 1024 * KiB, 6)), 'and all of it once everything is released')
    } finally {
      await pool.close()
    }
  })

  it('works without a ring: every output in a buffer of its own', async () => {
    const pool = new WorkerPool(script, 2)
    try {
      const replies = await Promise.all([1, 2, 3].map((i) => ask(pool, i * KiB, i)))
      for (const [i, r] of replies.entries()) {
        assert.equal(inRing(r), false)
        assert.equal(r.output!.length, (i + 1) * KiB)
        r.release()
      }
    } finally {
      await pool.close()
    }
  })
})
