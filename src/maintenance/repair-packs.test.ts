import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AppError, isAppError, type Id } from '../base/index.js'
import { MemoryBackend, type Handle } from '../backends/index.js'
import { tamper, withMembers } from '../backends/testing/overrides.js'
import { Repository } from '../repository/index.js'
import { createTestRepository, seededBytes, TEST_PASSWORD } from '../repository/testing.js'
import { checkRepository } from './check.js'
import { writeSnapshot } from './prune-testing.js'
import { repairIndex } from './repair-index.js'
import { repairPacks } from './repair-packs.js'


/** A repository with two files of three 64 KiB chunks each, each file's chunks in a pack of its own. */
async function setup() {
  const backend = new MemoryBackend()
  const repo = await createTestRepository({ backend })
  const files = { 'a.bin': seededBytes(1, 3 * 65536), 'b.bin': seededBytes(2, 3 * 65536) }
  await writeSnapshot(repo, files)
  const dataPacks = [...repo.index.packs()].filter((p) => p.blobs.every((b) => b.type === 'data'))
  assert.equal(dataPacks.length, 2)
  return { backend, repo, files, dataPacks }
}

async function reopen(backend: MemoryBackend): Promise<Repository> {
  return Repository.open(backend, TEST_PASSWORD)
}

describe('repairPacks()', () => {
  it('stores again every intact blob of a damaged and a truncated pack, removes them, and names what is lost', async () => {
    const { backend, repo, dataPacks } = await setup()
    const [damaged, truncated] = dataPacks
    const sortedOf = (p: (typeof dataPacks)[number]) => [...p.blobs].sort((a, b) => a.offset - b.offset)
    // One byte of the damaged pack's middle blob flipped; the truncated pack cut inside its last blob.
    const hit = sortedOf(damaged)[1]
    const original = new Map<Id, Buffer>()
    for (const p of dataPacks) original.set(p.id, Buffer.from(await backend.load({ type: 'data', name: p.id })))
    const flipped = Buffer.from(original.get(damaged.id)!)
    flipped[hit.offset + 40] ^= 1
    await tamper(backend, { type: 'data', name: damaged.id }, () => flipped)
    const cutBlob = sortedOf(truncated)[2]
    await tamper(backend, { type: 'data', name: truncated.id }, (b) => b.subarray(0, cutBlob.offset + 10))

    const copies = new Map<Id, Buffer>()
    const r = await repairPacks(await reopen(backend), [damaged.id, truncated.id], { onPackRead: (id, bytes) => void copies.set(id, Buffer.from(bytes)) })
    assert.deepEqual(copies.get(damaged.id), flipped, 'a copy of each pack as it was read')
    assert.equal(copies.get(truncated.id)!.length, cutBlob.offset + 10)
    const byId = new Map(r.packs.map((p) => [p.id, p]))
    assert.deepEqual(byId.get(damaged.id)!.lost.map((l) => l.id), [hit.id])
    assert.equal(byId.get(damaged.id)!.salvaged, 2)
    assert.deepEqual(byId.get(truncated.id)!.lost.map((l) => l.id), [cutBlob.id])
    assert.match(byId.get(truncated.id)!.lost[0].error, /past the end of the pack/)
    assert.equal(byId.get(truncated.id)!.salvaged, 2)
    assert.equal(r.packsDeleted, 2)
    assert.equal(r.packsWritten, 1)

    const after = await reopen(backend)
    await after.loadIndex()
    const stored: Id[] = []
    for await (const f of backend.list('data')) stored.push(f.name)
    assert.ok(!stored.includes(damaged.id) && !stored.includes(truncated.id), 'the damaged packs are gone')
    for (const p of dataPacks) {
      for (const b of p.blobs) {
        if (b.id === hit.id || b.id === cutBlob.id) assert.equal(after.index.has('data', b.id), false)
        else assert.equal((await after.loadBlob('data', b.id)).length, 65536)
      }
    }
    // What is left is consistent: only the two lost blobs are reported, as missing from the index.
    const report = await checkRepository(after, { readData: true })
    assert.deepEqual(report.errors.map((e) => e.kind), ['blob-missing', 'blob-missing'], 'one per damaged file')
    assert.deepEqual(report.brokenPacks, [])
  })

  it('keeps a pack whose header cannot be read and that no index lists: what it holds is unknown', async () => {
    // After "repair index --read-all-packs" dropped such a pack's entries, "repair packs" found
    // no blobs in it, deleted it and said nothing was lost.
    const { backend, dataPacks } = await setup()
    const [cut] = dataPacks
    await tamper(backend, { type: 'data', name: cut.id }, (b) => b.subarray(0, 70_000))
    const rebuilt = await repairIndex(await reopen(backend), { readAllPacks: true })
    assert.deepEqual(rebuilt.skippedPacks.map((s) => s.id), [cut.id])
    const r = await repairPacks(await reopen(backend), [cut.id])
    assert.equal(r.packs[0].unknown, true)
    assert.equal(r.packsDeleted, 0)
    assert.equal((await backend.stat({ type: 'data', name: cut.id })).size, 70_000, 'the pack is still there')
  })

  it('stops before changing anything when a pack cannot be read for lack of permission', async () => {
    const { backend, dataPacks } = await setup()
    const refused = new AppError('IO', 'Cannot read it: permission denied (EACCES)')
    const guarded = withMembers(backend, {
      load: async (h: Handle, offset?: number, length?: number) => {
        if (h.type === 'data' && h.name === dataPacks[0].id) throw refused
        return backend.load(h, offset, length)
      },
    })
    const before = { data: [] as string[], index: [] as string[] }
    for await (const f of backend.list('data')) before.data.push(f.name)
    for await (const f of backend.list('index')) before.index.push(f.name)
    await assert.rejects(repairPacks(await Repository.open(guarded, TEST_PASSWORD), [dataPacks[0].id]), (err) => isAppError(err, 'IO') && /nothing was changed/.test(err.message))
    const now = { data: [] as string[], index: [] as string[] }
    for await (const f of backend.list('data')) now.data.push(f.name)
    for await (const f of backend.list('index')) now.index.push(f.name)
    assert.deepEqual(now, before)
  })
})
