import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { AppError, hashId, isAppError } from '../../base/index.js'
import type { FileInfo, FileType, Handle } from '../backend.js'
import { FileExistsError, NotFoundError } from '../errors.js'
import { FaultyBackend } from '../testing/faulty.js'
import { withRetry, type RetryOptions } from './retry.js'
import { isTransient } from './transient.js'

/** Tiny delays and no jitter, so tests are fast and messages predictable. */
const FAST: RetryOptions = { initialDelayMs: 2, multiplier: 2, jitter: 0, retries: 5 }

function file(type: FileType, size = 100): { h: Handle; data: Buffer } {
  const data = randomBytes(size)
  return { h: { type, name: hashId(data) }, data }
}

async function collect(it: AsyncIterable<FileInfo>): Promise<string[]> {
  const out: string[] = []
  for await (const fi of it) out.push(fi.name)
  return out
}

describe('withRetry()', () => {
  it('retries removeTemporaryFiles() when the connection drops, as every other call (prune failed on one drop)', async () => {
    const faulty = new FaultyBackend()
    let calls = 0
    const flaky = Object.assign(faulty, {
      removeTemporaryFiles: async () => {
        if (++calls < 3) throw new AppError('NETWORK', 'the connection was lost')
        return { files: 2, bytes: 10 }
      },
    })
    const messages: string[] = []
    const be = withRetry(flaky, { ...FAST, onMessage: (m) => messages.push(m) })
    assert.deepEqual(await be.removeTemporaryFiles?.(), { files: 2, bytes: 10 })
    assert.equal(calls, 3)
    assert.equal(messages.at(-1), 'RemoveTemporaryFiles() succeeded after 2 retries')
    assert.equal(withRetry(new FaultyBackend(), FAST).removeTemporaryFiles, undefined, 'only where the backend has it')
  })

  it('retries a load that fails with NETWORK and reports each retry and the success', async () => {
    const faulty = new FaultyBackend()
    const { h, data } = file('data')
    await faulty.save(h, data)
    faulty.failNext('load', 2)
    const messages: string[] = []
    const be = withRetry(faulty, { ...FAST, onMessage: (m) => messages.push(m) })
    assert.deepEqual(await be.load(h), data)
    assert.equal(faulty.count('load'), 3)
    const short = h.name.slice(0, 10)
    assert.deepEqual(messages, [
      `Load(data/${short}) failed: Injected fault: load(data/${h.name}): connection reset, retrying in 2ms`,
      `Load(data/${short}) failed: Injected fault: load(data/${h.name}): connection reset, retrying in 4ms`,
      `Load(data/${short}) succeeded after 2 retries`,
    ])
  })

  it('names the range of a ranged load in its messages', async () => {
    const faulty = new FaultyBackend()
    const { h, data } = file('data')
    await faulty.save(h, data)
    faulty.failNext('load', 1)
    const messages: string[] = []
    const be = withRetry(faulty, { ...FAST, onMessage: (m) => messages.push(m) })
    assert.deepEqual(await be.load(h, 10, 20), data.subarray(10, 30))
    assert.match(messages[0], /^Load\(data\/[0-9a-f]{10}, offset 10, length 20\) failed: /)
  })

  it('retries plain socket errors (ECONNRESET, ETIMEDOUT, EPIPE, ECONNREFUSED)', async () => {
    for (const code of ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNREFUSED']) {
      const faulty = new FaultyBackend()
      const { h, data } = file('index')
      await faulty.save(h, data)
      faulty.failNext('stat', 1, { error: () => Object.assign(new Error(`socket: ${code}`), { code }) })
      assert.deepEqual(await withRetry(faulty, FAST).stat(h), { name: h.name, size: data.length })
      assert.equal(faulty.count('stat'), 2, code)
    }
  })

  it('never retries final errors: not found, permission, damaged data, wrong password, exists', async () => {
    const finals: Array<() => unknown> = [
      () => new AppError('PERMISSION_DENIED', 'Forbidden'),
      () => new AppError('INVALID_DATA', 'bad MAC'),
      () => new AppError('WRONG_PASSWORD', 'wrong password'),
      () => new AppError('REPOSITORY_EXISTS', 'exists'),
      () => new AppError('IO', 'disk full'),
      () => new Error('no code at all'),
      () => new TypeError('bad name'),
    ]
    for (const make of finals) {
      const faulty = new FaultyBackend()
      const { h } = file('snapshots')
      faulty.failNext('load', 5, { error: make })
      const want = make()
      await assert.rejects(withRetry(faulty, FAST).load(h), (err: unknown) => (err as Error).message === (want as Error).message)
      assert.equal(faulty.count('load'), 1, (want as Error).message)
    }
    const faulty = new FaultyBackend()
    const { h, data } = file('keys')
    await assert.rejects(withRetry(faulty, FAST).load(h), NotFoundError)
    assert.equal(faulty.count('load'), 1)
    await faulty.save(h, data)
    await assert.rejects(withRetry(faulty, FAST).save(h, data), FileExistsError)
    assert.equal(faulty.count('save'), 2, 'the FileExistsError of a first attempt is not retried')
  })

  it('gives up after the configured retries and throws the last error unchanged', async () => {
    const faulty = new FaultyBackend()
    const { h } = file('data')
    faulty.failNext('load', 100)
    const messages: string[] = []
    await assert.rejects(withRetry(faulty, { ...FAST, retries: 3, onMessage: (m) => messages.push(m) }).load(h), (err: unknown) =>
      isAppError(err, 'NETWORK'),
    )
    assert.equal(faulty.count('load'), 4, 'one attempt and three retries')
    assert.equal(messages.length, 3)
  })

  it('gives up when the next wait would pass the maximum elapsed time', async () => {
    const faulty = new FaultyBackend()
    faulty.failNext('stat', 100)
    const started = Date.now()
    await assert.rejects(withRetry(faulty, { initialDelayMs: 40, multiplier: 2, jitter: 0, retries: 10, maxElapsedMs: 100 }).stat(file('data').h))
    assert.equal(faulty.count('stat'), 2, 'waited 40 ms once; 80 more would pass 100 ms')
    assert.ok(Date.now() - started < 1000)
  })

  it('an interruption ends the wait for the next attempt at once, and no failed attempt is retried after it', async () => {
    // A server that was down held a Ctrl-C up for a minute or more: the waits did not look at it.
    const faulty = new FaultyBackend()
    faulty.failNext('load', 100)
    const ac = new AbortController()
    const be = withRetry(faulty, { initialDelayMs: 60_000, jitter: 0, retries: 10, signal: ac.signal })
    const started = Date.now()
    const load = be.load(file('data').h)
    setTimeout(() => ac.abort(new AppError('INTERRUPTED', 'Interrupted')), 50)
    await assert.rejects(load, (err: unknown) => isAppError(err, 'INTERRUPTED'))
    assert.ok(Date.now() - started < 5000, 'it did not wait the minute')
    assert.equal(faulty.count('load'), 1)
    faulty.failNext('stat', 5)
    const after = withRetry(faulty, { ...FAST, signal: ac.signal })
    await assert.rejects(after.stat(file('data').h), (err: unknown) => isAppError(err, 'INTERRUPTED'))
    assert.equal(faulty.count('stat'), 1, 'tried once, not again')
  })

  it('backs off exponentially, within the jitter and the maximum delay', async () => {
    const delays: number[] = []
    const faulty = new FaultyBackend()
    faulty.failNext('stat', 6)
    await withRetry(faulty, {
      initialDelayMs: 4,
      multiplier: 2,
      maxDelayMs: 20,
      jitter: 0.5,
      retries: 6,
      random: () => 0.999999, // the top of the jitter range: 1.5 x the base delay
      onMessage: (m) => {
        const ms = /retrying in (\d+)ms/.exec(m)
        if (ms) delays.push(Number(ms[1]))
      },
    })
      .stat(file('data').h)
      .catch(() => {})
    assert.deepEqual(delays, [6, 12, 24, 30, 30, 30])
  })

  it('treats a retried save that finds its file with the same size as a success', async () => {
    const faulty = new FaultyBackend()
    const { h, data } = file('data', 5000)
    faulty.failAfterSave(1) // stored, but the reply was lost
    const messages: string[] = []
    await withRetry(faulty, { ...FAST, onMessage: (m) => messages.push(m) }).save(h, data)
    assert.deepEqual(await faulty.load(h), data)
    assert.equal(faulty.count('save'), 2)
    assert.equal(faulty.count('stat'), 1)
    assert.match(messages.at(-1) ?? '', /^Save\(data\/[0-9a-f]{10}\) succeeded after 1 retry$/)
  })

  it('refuses a retried save that finds a different file under its name', async () => {
    const faulty = new FaultyBackend()
    const { h, data } = file('data', 5000)
    faulty.failNext('save', 1)
    await faulty.inner.save(h, Buffer.from('something else')) // another writer was quicker, with other bytes
    await assert.rejects(withRetry(faulty, FAST).save(h, data), FileExistsError)
  })

  it('restarts a listing that fails part-way and yields every file exactly once', async () => {
    const faulty = new FaultyBackend()
    const names: string[] = []
    for (let i = 0; i < 20; i++) {
      const f = file('index', 10)
      names.push(f.h.name)
      await faulty.save(f.h, f.data)
    }
    faulty.failListAfter(7).failListAfter(12).failNext('list', 1)
    const messages: string[] = []
    const listed = await collect(withRetry(faulty, { ...FAST, onMessage: (m) => messages.push(m) }).list('index'))
    assert.deepEqual([...listed].sort(), [...names].sort())
    assert.equal(new Set(listed).size, 20)
    assert.equal(faulty.count('list'), 4, 'three failures, then one complete listing')
    assert.equal(messages.filter((m) => m.startsWith('List(index) failed')).length, 3)
  })

  it('does not retry a listing of an invalid type', async () => {
    const faulty = new FaultyBackend()
    await assert.rejects(collect(withRetry(faulty, FAST).list('bogus' as FileType)), TypeError)
  })

  it('a listing abandoned early stops without errors', async () => {
    const faulty = new FaultyBackend()
    for (let i = 0; i < 5; i++) {
      const f = file('snapshots', 10)
      await faulty.save(f.h, f.data)
    }
    let n = 0
    for await (const _ of withRetry(faulty, FAST).list('snapshots')) if (++n === 2) break
    assert.equal(n, 2)
  })
})

describe('isTransient()', () => {
  it('is true for NETWORK and socket errors, false for everything else', () => {
    assert.equal(isTransient(new AppError('NETWORK', 'reset')), true)
    assert.equal(isTransient(Object.assign(new Error('x'), { code: 'ECONNRESET' })), true)
    assert.equal(isTransient(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }) })), true)
    assert.equal(isTransient(new TypeError('bad argument')), false)
    assert.equal(isTransient(new AppError('NOT_FOUND', 'gone')), false)
    assert.equal(isTransient(new AppError('IO', 'reset', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) })), false)
    assert.equal(isTransient(Object.assign(new Error('x'), { code: 'ENOENT' })), false)
    assert.equal(isTransient('a string'), false)
    // No such host name: asking again does not make it resolve.
    assert.equal(isTransient(new AppError('NETWORK', 'host name not found', { cause: Object.assign(new Error('x'), { code: 'ENOTFOUND' }) })), false)
    assert.equal(isTransient(new AppError('NETWORK', 'lookup failed for now', { cause: Object.assign(new Error('x'), { code: 'EAI_AGAIN' }) })), true)
  })
})
