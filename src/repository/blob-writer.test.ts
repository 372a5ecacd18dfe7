import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { hashId, isAppError } from '../base/index.js'
import { LocalBackend, MemoryBackend, type Backend, type Handle, type LocalFs } from '../backends/index.js'
import { encodeBlob } from './blob-encoder.js'
import { createTestRepository, seededBytes, TEST_PASSWORD } from './testing.js'
import { Repository } from './repository.js'
import { fsWithFiles, withMembers } from '../backends/testing/overrides.js'

/** A memory backend whose saves take a while, recording the buffer each pack was passed in. */
function slowBackend(): { backend: Backend; packBuffers: ArrayBufferLike[] } {
  const mem = new MemoryBackend()
  const packBuffers: ArrayBufferLike[] = []
  const save: Backend['save'] = async (h, data) => {
    if (h.type === 'data') {
      packBuffers.push(data.buffer)
      assert.equal(hashId(data), h.name, 'the pack is whole while it is saved')
      await new Promise((r) => setTimeout(r, 5))
    }
    return mem.save(h, data)
  }
  return { backend: withMembers<Backend>(mem, { save }), packBuffers }
}

describe('BlobWriter', () => {
  for (const uploads of [undefined, 3]) {
    it(`assembles packs in a few reused buffers (uploads at once: ${uploads ?? 'default'})`, async () => {
      const { backend, packBuffers } = slowBackend()
      const repo = await createTestRepository({ backend })
      const blobs = Array.from({ length: 60 }, (_, i) => seededBytes(100 + i, 20_000 + i))
      await repo.withWriter(
        async (w) => {
          for (const b of blobs) await w.saveBlob('data', b)
        },
        { packSize: 64 * 1024, uploadConcurrency: uploads },
      )
      assert.ok(packBuffers.length >= 15, `${packBuffers.length} packs`)
      // A local backend uploads one pack at a time: one buffer fills while the other uploads.
      assert.ok(new Set(packBuffers).size <= (uploads ?? 1) + 1, `${new Set(packBuffers).size} buffers`)
      for (const b of blobs) assert.deepEqual(await repo.loadBlob('data', hashId(b)), b)
    })
  }

  it('gives back an encoded blob once it is packed, or at once when the blob is known', async () => {
    const repo = await createTestRepository()
    const data = seededBytes(1, 5000)
    const id = hashId(data)
    const released: string[] = []
    const encoded = (tag: string) => ({ ...encodeBlob(repo.key, 'data', data, 3), release: () => released.push(tag) })
    await repo.withWriter(async (w) => {
      assert.deepEqual(await w.saveEncodedBlob('data', id, data.length, encoded('first')), { id, known: false })
      assert.deepEqual(await w.saveEncodedBlob('data', id, data.length, encoded('again')), { id, known: true })
    })
    assert.deepEqual(released, ['first', 'again'])
    assert.deepEqual(await repo.loadBlob('data', id), data)
  })
})

describe('BlobWriter compression', () => {
  it('compresses the trees of a v2 repository even with compression off, as restic does; data follows the mode', async () => {
    // Trees came out uncompressed, and every prune repacked them again (it compresses trees).
    const tree = Buffer.from('{"nodes":[]}'.repeat(200))
    const data = Buffer.from('compressible '.repeat(2000))
    for (const [version, treeCompressed] of [[2, true], [1, false]] as const) {
      const repo = await createTestRepository({ version })
      await repo.withWriter(async (w) => {
        await w.saveBlob('tree', tree)
        await w.saveBlob('data', data)
      }, { compression: 'off' })
      assert.equal(repo.index.lookup('tree', hashId(tree))!.uncompressedLength > 0, treeCompressed, `tree, format ${version}`)
      assert.equal(repo.index.lookup('data', hashId(data))!.uncompressedLength, 0, `data, format ${version}`)
      assert.deepEqual(await repo.loadBlob('tree', hashId(tree)), tree)
    }
  })
})

describe('BlobWriter on a backend that stages packs', () => {
  /** A local repository whose data saves are counted; staged packs do not go through save(). */
  async function localRepository(fs?: LocalFs): Promise<{ repo: Awaited<ReturnType<typeof createTestRepository>>; path: string; dataSaves: () => number }> {
    const path = await mkdtemp(join(tmpdir(), 'cairn-blob-writer-'))
    const local = new LocalBackend(path, fs === undefined ? {} : { fs })
    let saves = 0
    const backend = withMembers<Backend>(local, { save: (h: Handle, data: Uint8Array) => ((saves += h.type === 'data' ? 1 : 0), local.save(h, data)) })
    return { repo: await createTestRepository({ backend }), path, dataSaves: () => saves }
  }

  const tempFiles = async (path: string) => (await readdir(join(path, 'data'), { recursive: true })).filter((f) => f.includes('-tmp'))

  it('writes data packs while they fill, small blobs gathered and large ones as they are', async () => {
    const { repo, path, dataSaves } = await localRepository()
    try {
      const small = Array.from({ length: 300 }, (_, i) => seededBytes(1000 + i, 500 + ((i * 37) % 3000)))
      const large = Array.from({ length: 8 }, () => randomBytes(200_000)) // incompressible: sealed larger than the gathering limit
      const released: number[] = []
      await repo.withWriter(
        async (w) => {
          for (let i = 0; i < small.length; i++) {
            if (i % 40 === 0) {
              const b = large[i / 40]
              await w.saveEncodedBlob('data', hashId(b), b.length, { ...encodeBlob(repo.key, 'data', b, 3), release: () => released.push(i) })
            }
            await w.saveBlob('data', small[i])
          }
        },
        { packSize: 256 * 1024 },
      )
      assert.equal(dataSaves(), 0, 'no pack was saved whole')
      assert.equal(released.length, 8, 'every encoded blob was given back')
      const packs: string[] = []
      for await (const f of repo.backend.list('data')) packs.push(f.name)
      assert.ok(packs.length >= 5, `${packs.length} packs`)
      for (const name of packs) assert.equal(hashId(await readFile(join(path, 'data', name.slice(0, 2), name))), name, 'a pack is named by its bytes')
      for (const b of [...small, ...large]) assert.deepEqual(await repo.loadBlob('data', hashId(b)), b)
      assert.deepEqual(await tempFiles(path), [])
    } finally {
      await rm(path, { recursive: true, force: true })
    }
  })

  /** A local file system whose pack writes fail with ENOSPC from the `failFrom`th write on. */
  function fullAfter(failFrom: number): LocalFs {
    let writes = 0
    return fsWithFiles((fd, path) =>
      !path.endsWith('-tmp')
        ? fd
        : withMembers(fd, {
            write: ((...args: Parameters<FileHandle['write']>) =>
              ++writes >= failFrom ? Promise.reject(Object.assign(new Error('ENOSPC: injected'), { code: 'ENOSPC' })) : fd.write(...args)) as FileHandle['write'],
          }),
    )
  }

  const reopened = async (repo: Repository) => {
    const again = await Repository.open(repo.backend, TEST_PASSWORD)
    await again.loadIndex()
    return again
  }

  it('a write that fails (disk full) fails the writer and leaves no partial pack or temp file; the packs it finished are indexed', async () => {
    // They were left unindexed: a run again after freeing space could not use them, stored them again and filled the disk again.
    const { repo, path } = await localRepository(fullAfter(12))
    try {
      const blobs = Array.from({ length: 40 }, () => randomBytes(100_000))
      await assert.rejects(
        repo.withWriter(
          async (w) => {
            for (const b of blobs) await w.saveBlob('data', b)
          },
          { packSize: 256 * 1024 },
        ),
        (err: unknown) => isAppError(err, 'IO') && /no space left on device/.test(err.message),
      )
      assert.deepEqual(await tempFiles(path), [])
      const stored: string[] = []
      for await (const f of repo.backend.list('data')) {
        assert.equal(hashId(await repo.backend.load({ type: 'data', name: f.name })), f.name, 'a stored pack is whole')
        stored.push(f.name)
      }
      assert.ok(stored.length >= 2, `${stored.length} packs were finished`)
      const again = await reopened(repo)
      assert.deepEqual([...again.index.packIdSet()].sort(), stored.sort())
      const kept = blobs.filter((b) => again.index.has('data', hashId(b)))
      assert.ok(kept.length >= 4, `${kept.length} blobs are indexed`)
      for (const b of kept) assert.deepEqual(await again.loadBlob('data', hashId(b)), b)
    } finally {
      await rm(path, { recursive: true, force: true })
    }
  })

  it('a failure seen only when the writer is flushed is cleaned up as well: no temp file is left', async () => {
    // withWriter flushed outside its abort: the open pack's staged file stayed on the full disk.
    const { repo, path } = await localRepository(fullAfter(1))
    try {
      await assert.rejects(
        repo.withWriter(async (w) => {
          // Each save's failure is taken as that blob's own (a caller may go on with others).
          for (let i = 0; i < 4; i++) {
            const b = randomBytes(200_000)
            await w.saveEncodedBlob('data', hashId(b), b.length, encodeBlob(repo.key, 'data', b, 3)).catch(() => {})
            await new Promise((r) => setTimeout(r, 20))
          }
          assert.notEqual(w.failure, undefined)
        }),
        (err: unknown) => isAppError(err, 'IO') && /no space left on device/.test(err.message),
      )
      assert.deepEqual(await tempFiles(path), [])
    } finally {
      await rm(path, { recursive: true, force: true })
    }
  })
})
