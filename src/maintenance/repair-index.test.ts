import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hashId, type Id } from '../base/index.js'
import { MemoryBackend, type Backend, type FileInfo, type FileType, type Handle } from '../backends/index.js'
import { decodeIndex, Repository } from '../repository/index.js'
import { createTestRepository, seededBytes, TEST_PASSWORD } from '../repository/testing.js'
import { checkRepository } from './check.js'
import { repairIndex } from './repair-index.js'
import { packOf, saveTestSnapshot, tamper, type TestSnapshot } from './testing.js'

/** A memory backend that records saves and removes, in order, as "save index/ab12…". */
class LoggingBackend extends MemoryBackend {
  readonly log: string[] = []
  override async save(h: Handle, data: Uint8Array): Promise<void> {
    await super.save(h, data)
    this.log.push(`save ${h.type}/${h.name}`)
  }
  override async remove(h: Handle): Promise<void> {
    await super.remove(h)
    this.log.push(`remove ${h.type}/${h.name}`)
  }
}

async function setup(backend: Backend = new MemoryBackend()): Promise<{ repo: Repository; a: TestSnapshot; b: TestSnapshot }> {
  const repo = await createTestRepository({ backend })
  const a = await saveTestSnapshot(repo, { files: { '/srv/one.bin': seededBytes(10, 3000), '/srv/two.txt': 'two' }, packSize: 2000 })
  const b = await saveTestSnapshot(repo, { files: { '/srv/one.bin': seededBytes(11, 3000), '/srv/two.txt': 'two' }, packSize: 2000 })
  return { repo, a, b }
}

const reopen = (repo: Repository) => Repository.open(repo.backend, TEST_PASSWORD)

async function list(be: Backend, type: FileType): Promise<FileInfo[]> {
  const out: FileInfo[] = []
  for await (const f of be.list(type)) out.push(f)
  return out
}

/** Every (pack, blob, offset, length, uncompressed length) the index files list, sorted. */
async function indexEntries(repo: Repository): Promise<string[]> {
  const out: string[] = []
  for (const id of await repo.listIds('index')) {
    for (const p of decodeIndex(await repo.loadUnpacked('index', id)).packs) {
      for (const b of p.blobs) out.push(`${p.id} ${b.type} ${b.id} ${b.offset} ${b.length} ${b.uncompressedLength}`)
    }
  }
  return out.sort()
}

describe('repairIndex()', () => {
  it('rebuilds a deleted index file from the pack headers, and the repository is whole again', async () => {
    const { repo, b } = await setup()
    const before = await indexEntries(repo)
    const indexes = await repo.listIds('index')
    await repo.backend.remove({ type: 'index', name: indexes[1] })
    assert.ok((await checkRepository(await reopen(repo))).errors.length > 0, 'setup: the repository is damaged')

    const result = await repairIndex(await reopen(repo))
    assert.ok(result.addedPacks.length > 0)
    assert.deepEqual(result.removedPacks, [])
    assert.deepEqual(result.skippedPacks, [])
    assert.deepEqual(result.oldIndexes, [indexes[0]])
    assert.deepEqual(await indexEntries(repo), before, 'the same entries as the original index files')
    const report = await checkRepository(await reopen(repo), { readData: true })
    assert.deepEqual(report.errors, [])
    assert.deepEqual(report.hints, [])
    const fresh = await reopen(repo)
    await fresh.loadIndex()
    assert.deepEqual(await fresh.loadBlob('data', b.files.get('/srv/one.bin')![0]), seededBytes(11, 3000).subarray(0, 1000))
  })

  it('writes the new index files, naming every old one in supersedes, before removing anything', async () => {
    const backend = new LoggingBackend()
    const { repo } = await setup(backend)
    const old = await repo.listIds('index')
    backend.log.length = 0
    const result = await repairIndex(await reopen(repo))
    assert.deepEqual(new Set(result.oldIndexes), new Set(old))
    assert.equal(result.newIndexes.length, 1)
    assert.deepEqual(backend.log, [...result.newIndexes.map((id) => `save index/${id}`), ...result.oldIndexes.map((id) => `remove index/${id}`)])
    const written = decodeIndex(await repo.loadUnpacked('index', result.newIndexes[0]))
    assert.deepEqual(new Set(written.supersedes), new Set(old))
    assert.deepEqual(await repo.listIds('index'), result.newIndexes)
  })

  it('drops the entries of a pack that is gone', async () => {
    const { repo, b } = await setup()
    const pack = packOf(repo, 'data', b.files.get('/srv/one.bin')![2])
    await repo.backend.remove({ type: 'data', name: pack })
    const result = await repairIndex(await reopen(repo))
    assert.deepEqual(result.removedPacks, [pack])
    assert.ok(!(await indexEntries(repo)).some((e) => e.startsWith(pack)))
    const report = await checkRepository(await reopen(repo))
    assert.ok(!report.errors.some((e) => e.kind === 'pack-missing'))
    assert.ok(report.errors.some((e) => e.kind === 'blob-missing'), 'the file that used it is now missing blobs')
  })

  it('re-reads a pack whose size does not match the index', async () => {
    const { repo, a } = await setup()
    // an index entry that makes the pack look bigger than it is
    const pack = packOf(repo, 'data', a.files.get('/srv/one.bin')![0])
    const { encodeIndex } = await import('../repository/index.js')
    const bogus = { type: 'data' as const, id: hashId(Buffer.from('bogus')), offset: 999_999, length: 100, uncompressedLength: 0 }
    await repo.saveUnpacked('index', encodeIndex({ supersedes: [], packs: [{ id: pack, blobs: [bogus] }] }))
    assert.ok((await checkRepository(await reopen(repo))).errors.some((e) => e.kind === 'pack-size'))
    const result = await repairIndex(await reopen(repo))
    assert.deepEqual(result.reindexedPacks, [pack])
    assert.ok(!(await indexEntries(repo)).some((e) => e.includes(bogus.id)))
    assert.deepEqual((await checkRepository(await reopen(repo), { readData: true })).errors, [])
  })

  it('with readAllPacks reads every pack and gives the same index', async () => {
    const { repo } = await setup()
    const before = await indexEntries(repo)
    const packs = (await list(repo.backend, 'data')).map((f) => f.name).sort()
    const result = await repairIndex(await reopen(repo), { readAllPacks: true })
    assert.deepEqual([...result.addedPacks].sort(), packs)
    assert.equal(result.oldIndexes.length, 2)
    assert.deepEqual(await indexEntries(repo), before)
  })

  it('reports a pack whose header cannot be read, and leaves it in place', async () => {
    const { repo } = await setup()
    const junk = seededBytes(99, 500)
    const name: Id = hashId(junk)
    await repo.backend.save({ type: 'data', name }, junk)
    const result = await repairIndex(await reopen(repo))
    assert.equal(result.skippedPacks.length, 1)
    assert.equal(result.skippedPacks[0].id, name)
    assert.match(result.skippedPacks[0].error, /header/)
    assert.deepEqual(await repo.backend.load({ type: 'data', name }), junk)
  })

  it('keeps the old entries of an indexed pack that was cut short, so repair packs can still salvage it', async () => {
    // Dropping it (as restic's rebuild-index does) lost every blob in it, the intact ones too.
    const { repo } = await setup()
    const [pack] = [...repo.index.packs()]
    const h = { type: 'data' as const, name: pack.id }
    const bytes = await repo.backend.load(h)
    await repo.backend.remove(h)
    await repo.backend.save(h, bytes.subarray(0, Math.floor(bytes.length / 2)))
    const result = await repairIndex(await reopen(repo))
    assert.deepEqual(result.keptPacks.map((k) => k.id), [pack.id])
    assert.deepEqual(result.skippedPacks, [])
    const after = await reopen(repo)
    await after.loadIndex()
    for (const b of pack.blobs) assert.equal(after.index.lookup(b.type, b.id)?.packId, pack.id)
  })

  it('replaces an index file that cannot be read', async () => {
    const { repo } = await setup()
    const [bad] = await repo.listIds('index')
    await tamper(repo.backend, { type: 'index', name: bad }, (b) => {
      b[20] ^= 1
    })
    const result = await repairIndex(await reopen(repo))
    assert.deepEqual(result.unreadableIndexes.map((u) => u.id), [bad])
    assert.ok(result.oldIndexes.includes(bad))
    assert.ok(!(await repo.listIds('index')).includes(bad))
    assert.deepEqual((await checkRepository(await reopen(repo), { readData: true })).errors, [])
  })

  it('splits the new index into files of at most blobsPerFile blobs; the first names the old ones', async () => {
    const { repo } = await setup()
    const before = await indexEntries(repo)
    const old = await repo.listIds('index')
    const result = await repairIndex(await reopen(repo), { blobsPerFile: 3 })
    assert.ok(result.newIndexes.length >= 3, `got ${result.newIndexes.length} files`)
    assert.deepEqual(await indexEntries(repo), before)
    const files = await Promise.all(result.newIndexes.map(async (id) => decodeIndex(await repo.loadUnpacked('index', id))))
    assert.deepEqual(new Set(files[0].supersedes), new Set(old))
    for (const f of files.slice(1)) assert.deepEqual(f.supersedes, [])
    for (const f of files.slice(0, -1)) assert.ok(f.packs.reduce((n, p) => n + p.blobs.length, 0) >= 3)
  })

  it('writes no index file for an empty repository', async () => {
    const result = await repairIndex(await createTestRepository())
    assert.deepEqual(result.newIndexes, [])
    assert.equal(result.packs, 0)
  })
})
