import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { createLimit, hashId, isAppError } from '../../base/index.js'
import type { Backend, FileInfo, FileType, Handle, ListOptions } from '../backend.js'
import { FileExistsError, NotFoundError } from '../errors.js'

const CONFIG: Handle = { type: 'config', name: '' }
const TYPES: FileType[] = ['keys', 'index', 'snapshots', 'locks', 'data']

/** Random bytes and the handle named after their hash, as the repository layer names files. */
function file(type: FileType, size: number): { h: Handle; data: Buffer } {
  const data = randomBytes(size)
  return { h: { type, name: hashId(data) }, data }
}

async function collect(be: Backend, type: FileType, options?: ListOptions): Promise<FileInfo[]> {
  const out: FileInfo[] = []
  for await (const fi of be.list(type, options)) out.push(fi)
  return out
}

/** Backends may throw at the call or at the first step of the iteration; both count. */
async function assertListThrows(be: Backend, type: FileType): Promise<void> {
  await assert.rejects(async () => {
    for await (const _ of be.list(type)) break
  }, TypeError)
}

function sortByName(list: FileInfo[]): FileInfo[] {
  return [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/** Known, accepted departures of a backend from the contract. */
export interface ConformanceOptions {
  /**
   * The server replaces a file saved again under the same name instead of refusing (`rclone
   * serve restic`, as restic lives with it: names are content hashes, so the bytes are the same).
   * The suite then saves the same bytes again and accepts success or FileExistsError; `config`
   * must still never be replaced.
   */
  overwrites?: boolean
}

/**
 * The contract of backend.ts as tests: every backend registers this suite. `make` returns a new,
 * empty backend for each test (not yet created); the suite calls create() and close().
 *
 * @example
 * runConformanceSuite('MemoryBackend', async () => new MemoryBackend())
 */
export function runConformanceSuite(name: string, make: () => Promise<Backend>, options: ConformanceOptions = {}): void {
  const overwrites = options.overwrites === true
  /** A created backend, closed when `fn` ends. */
  async function withBackend(fn: (be: Backend) => Promise<void>): Promise<void> {
    const be = await make()
    await be.create()
    try {
      await fn(be)
    } finally {
      await be.close()
    }
  }

  describe(`${name} conformance`, () => {
    it('load() returns what save() stored, for every file type', () =>
      withBackend(async (be) => {
        for (const type of TYPES) {
          const { h, data } = file(type, 1000 + type.length)
          await be.save(h, data)
          assert.deepEqual(await be.load(h), data)
        }
      }))

    it('load() with offset and length returns exactly that range', () =>
      withBackend(async (be) => {
        const { h, data } = file('data', 4096)
        await be.save(h, data)
        assert.deepEqual(await be.load(h, 0, 10), data.subarray(0, 10))
        assert.deepEqual(await be.load(h, 100, 1000), data.subarray(100, 1100))
        assert.deepEqual(await be.load(h, 4000, 96), data.subarray(4000))
        assert.deepEqual(await be.load(h, 4000), data.subarray(4000), 'offset without length reads to the end')
        assert.equal((await be.load(h, 17, 0)).length, 0)
        assert.equal((await be.load(h, 4096)).length, 0, 'offset at the end without length is empty')
      }))

    it('load() of a range past the end fails instead of returning short', () =>
      withBackend(async (be) => {
        const { h, data } = file('data', 100)
        await be.save(h, data)
        const isShort = (err: unknown) => isAppError(err, 'INVALID_DATA') && /too short.*it has 100 bytes/.test(err.message)
        await assert.rejects(be.load(h, 90, 11), isShort)
        await assert.rejects(be.load(h, 0, 101), isShort)
        await assert.rejects(be.load(h, 200, 1), isShort)
        await assert.rejects(be.load(h, 101), isShort)
      }))

    it('load() rejects a negative offset or length', () =>
      withBackend(async (be) => {
        const { h, data } = file('index', 10)
        await be.save(h, data)
        await assert.rejects(be.load(h, -1, 2), RangeError)
        await assert.rejects(be.load(h, 0, -2), RangeError)
        await assert.rejects(be.load(h, 0.5, 2), RangeError)
      }))

    it('load() returns a buffer the caller may change without changing the stored file', () =>
      withBackend(async (be) => {
        const { h, data } = file('snapshots', 64)
        await be.save(h, data)
        const copy = Buffer.from(data)
        data.fill(0) // the caller reuses its buffer after save()
        const loaded = await be.load(h)
        assert.deepEqual(loaded, copy)
        loaded.fill(1)
        assert.deepEqual(await be.load(h), copy)
      }))

    it('stat() returns the size of a file', () =>
      withBackend(async (be) => {
        const { h, data } = file('keys', 333)
        await be.save(h, data)
        assert.deepEqual(await be.stat(h), { name: h.name, size: 333 })
      }))

    it('load() and stat() throw NotFoundError for a missing file', () =>
      withBackend(async (be) => {
        const { h } = file('data', 10)
        await assert.rejects(be.load(h), (err: unknown) => err instanceof NotFoundError && isAppError(err, 'NOT_FOUND'))
        await assert.rejects(be.load(h, 0, 1), NotFoundError)
        await assert.rejects(be.stat(h), NotFoundError)
        await assert.rejects(be.stat(CONFIG), NotFoundError)
        await assert.rejects(be.load(CONFIG), NotFoundError)
      }))

    if (!overwrites) {
      it('save() refuses to overwrite a file and keeps the stored bytes', () =>
        withBackend(async (be) => {
          const { h, data } = file('index', 50)
          await be.save(h, data)
          await assert.rejects(be.save(h, Buffer.from('other')), (err: unknown) => err instanceof FileExistsError)
          assert.deepEqual(await be.load(h), data)
          assert.equal((await collect(be, 'index')).length, 1)
        }))
    } else {
      it('save() of an existing name with the same bytes succeeds or throws FileExistsError, and keeps one file', () =>
        withBackend(async (be) => {
          const { h, data } = file('index', 50)
          await be.save(h, data)
          await be.save(h, data).catch((err: unknown) => assert.ok(err instanceof FileExistsError, String(err)))
          assert.deepEqual(await be.load(h), data)
          assert.deepEqual(await collect(be, 'index'), [{ name: h.name, size: 50 }])
        }))
    }

    it('save() accepts an empty file', () =>
      withBackend(async (be) => {
        const { h, data } = file('locks', 0)
        await be.save(h, data)
        assert.equal((await be.load(h)).length, 0)
        assert.deepEqual(await be.stat(h), { name: h.name, size: 0 })
        assert.deepEqual(await collect(be, 'locks'), [{ name: h.name, size: 0 }])
      }))

    it('save() and load() handle a 20 MiB file, whole and in ranges', () =>
      withBackend(async (be) => {
        const { h, data } = file('data', 20 * 1024 * 1024)
        await be.save(h, data)
        assert.equal((await be.stat(h)).size, data.length)
        const loaded = await be.load(h)
        assert.ok(loaded.equals(data))
        const tail = await be.load(h, data.length - 100_000, 100_000)
        assert.ok(tail.equals(data.subarray(data.length - 100_000)))
      }))

    it('concurrent saves all land', () =>
      withBackend(async (be) => {
        const files = Array.from({ length: 100 }, (_, i) => file(i % 2 === 0 ? 'data' : 'snapshots', 100 + i))
        await Promise.all(files.map((f) => be.save(f.h, f.data)))
        for (const f of files) assert.deepEqual(await be.load(f.h), f.data)
        assert.equal((await collect(be, 'data')).length, 50)
        assert.equal((await collect(be, 'snapshots')).length, 50)
      }))

    it('concurrent saves of the same name store one file and reject the rest', () =>
      withBackend(async (be) => {
        const { h, data } = file('data', 1000)
        const results = await Promise.allSettled(Array.from({ length: 8 }, () => be.save(h, data)))
        const ok = results.filter((r) => r.status === 'fulfilled').length
        if (overwrites) assert.ok(ok >= 1, 'at least one save succeeds')
        else assert.equal(ok, 1)
        for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof FileExistsError)
        assert.deepEqual(await be.load(h), data)
        assert.deepEqual(await collect(be, 'data'), [{ name: h.name, size: 1000 }])
      }))

    it('list() yields each of 1000 files exactly once, with its size', () =>
      withBackend(async (be) => {
        const files = Array.from({ length: 1000 }, (_, i) => file('data', 8 + (i % 37)))
        const limit = createLimit(16)
        await Promise.all(files.map((f) => limit(() => be.save(f.h, f.data))))
        const listed = await collect(be, 'data')
        assert.equal(listed.length, 1000)
        const want = sortByName(files.map((f) => ({ name: f.h.name, size: f.data.length })))
        assert.deepEqual(sortByName(listed), want)
      }))

    it('list() asked for names only yields the same names, each size true or -1', () =>
      withBackend(async (be) => {
        const files = Array.from({ length: 40 }, (_, i) => file('snapshots', 10 + i))
        for (const f of files) await be.save(f.h, f.data)
        const listed = await collect(be, 'snapshots', { namesOnly: true })
        assert.deepEqual(listed.map((f) => f.name).sort(), files.map((f) => f.h.name).sort())
        const sizes = new Map(files.map((f) => [f.h.name, f.data.length]))
        for (const f of listed) assert.ok(f.size === -1 || f.size === sizes.get(f.name), `${f.name}: size ${f.size}`)
      }))

    it('list() yields only files of the asked type', () =>
      withBackend(async (be) => {
        const byType = new Map(TYPES.map((t) => [t, file(t, 20)]))
        for (const f of byType.values()) await be.save(f.h, f.data)
        await be.save(CONFIG, Buffer.from('config'))
        for (const [type, f] of byType) assert.deepEqual(await collect(be, type), [{ name: f.h.name, size: 20 }])
      }))

    it('list() of an empty type yields nothing', () =>
      withBackend(async (be) => {
        for (const type of TYPES) assert.deepEqual(await collect(be, type), [])
      }))

    it('list() can be abandoned early', () =>
      withBackend(async (be) => {
        for (let i = 0; i < 40; i++) {
          const f = file('keys', 10)
          await be.save(f.h, f.data)
        }
        let seen = 0
        for await (const _ of be.list('keys')) if (++seen === 3) break
        assert.equal(seen, 3)
        assert.equal((await collect(be, 'keys')).length, 40)
      }))

    it('remove() deletes a file, and removing a missing file is not an error', () =>
      withBackend(async (be) => {
        const { h, data } = file('locks', 30)
        const other = file('locks', 31)
        await be.save(h, data)
        await be.save(other.h, other.data)
        await be.remove(h)
        await assert.rejects(be.stat(h), NotFoundError)
        await assert.rejects(be.load(h), NotFoundError)
        assert.deepEqual(await collect(be, 'locks'), [{ name: other.h.name, size: 31 }])
        await be.remove(h)
        await be.remove(file('data', 1).h)
      }))

    it('save() after remove() stores the new bytes', () =>
      withBackend(async (be) => {
        const { h, data } = file('snapshots', 30)
        await be.save(h, data)
        await be.remove(h)
        await be.save(h, Buffer.from('second'))
        assert.deepEqual(await be.load(h), Buffer.from('second'))
      }))

    it('create() twice is fine while there is no config', async () => {
      const be = await make()
      try {
        await be.create()
        await be.create()
        const { h, data } = file('data', 5)
        await be.save(h, data)
        await be.create()
        assert.deepEqual(await be.load(h), data)
      } finally {
        await be.close()
      }
    })

    it('config is one file: saved, loaded, never replaced, and create() then refuses', () =>
      withBackend(async (be) => {
        const data = Buffer.from('{"version":2}')
        await be.save(CONFIG, data)
        assert.deepEqual(await be.load(CONFIG), data)
        assert.deepEqual(await be.load({ type: 'config', name: 'ignored' }), data, 'the name of a config handle is ignored')
        assert.deepEqual(await be.load(CONFIG, 1, 7), data.subarray(1, 8))
        assert.deepEqual(await be.stat(CONFIG), { name: 'config', size: data.length })
        await assert.rejects(be.save(CONFIG, Buffer.from('x')), (err: unknown) => isAppError(err, 'REPOSITORY_EXISTS'))
        assert.deepEqual(await be.load(CONFIG), data)
        await assert.rejects(be.create(), (err: unknown) => isAppError(err, 'REPOSITORY_EXISTS'))
        for (const type of TYPES) assert.deepEqual(await collect(be, type), [])
        await assertListThrows(be, 'config')
        await be.remove(CONFIG)
        await assert.rejects(be.stat(CONFIG), NotFoundError)
      }))

    it('every method rejects a name that is not an ID', () =>
      withBackend(async (be) => {
        const bad: Handle[] = [
          { type: 'data', name: '../../config' },
          { type: 'keys', name: 'ab' },
          { type: 'index', name: 'A'.repeat(64) },
          { type: 'bogus' as FileType, name: 'a'.repeat(64) },
        ]
        for (const h of bad) {
          await assert.rejects(be.save(h, Buffer.from('x')), TypeError)
          await assert.rejects(be.load(h), TypeError)
          await assert.rejects(be.stat(h), TypeError)
          await assert.rejects(be.remove(h), TypeError)
        }
        await assertListThrows(be, 'bogus' as FileType)
      }))
  })
}
