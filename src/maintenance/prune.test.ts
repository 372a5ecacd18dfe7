/**
 * planPrune() and PrunePlan.execute() on memory repositories: what is counted and decided, what
 * the repository holds afterwards, refusals when data is missing, and a crash after every
 * possible number of changes.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AppError, hashId, isAppError, type Id } from '../base/index.js'
import { MemoryBackend } from '../backends/index.js'
import { BlobWriter, decodeIndex, encodeBlob, MasterIndex, Repository } from '../repository/index.js'
import { createTestRepository, seededBytes, TEST_PASSWORD } from '../repository/testing.js'
import { encodeSnapshot, encodeTree, loadSnapshots } from '../snapshots/index.js'
import { testNode } from '../snapshots/testing.js'
import { planForget, removeSnapshots } from './forget.js'
import { maxUnusedBytes, parseByteSize, parseMaxUnused } from './prune-options.js'
import { CrashingBackend, cloneBackend, repositoryProblems, writeSnapshot } from './prune-testing.js'
import { tamper } from './testing.js'
import { planPrune as planPruneWithWorkers, type PruneOptions } from './prune.js'

const KiB = 1024

/** Repacking on this thread: starting worker threads would dominate these small tests. */
const planPrune = (repo: Repository, options: PruneOptions = {}) => planPruneWithWorkers(repo, { threads: 0, ...options })

async function fileCount(repo: Repository, type: 'data' | 'index' | 'snapshots'): Promise<number> {
  return (await repo.listIds(type)).length
}

async function reopen(backend: MemoryBackend | CrashingBackend): Promise<Repository> {
  return Repository.open(backend, TEST_PASSWORD)
}

/**
 * Four snapshots; forgetting the first and third leaves: packs only they used (b's, and their
 * root trees: deleted), a pack half used (e and f: repacked), packs fully used (kept).
 */
async function prunableRepository(): Promise<{ backend: MemoryBackend; keep: Id[]; forget: Id[] }> {
  const backend = new MemoryBackend()
  const repo = await createTestRepository({ backend })
  const a = seededBytes(1, 256 * KiB) // its own pack, used throughout
  const b = seededBytes(2, 256 * KiB) // only in s1
  const e = seededBytes(3, 128 * KiB)
  const f = seededBytes(4, 128 * KiB) // e and f share a pack; f only in s3
  const s1 = await writeSnapshot(repo, { a, b }, { time: '2025-01-01T00:00:00Z' })
  const s2 = await writeSnapshot(repo, { a, 'sub/c': seededBytes(5, 100 * KiB) }, { time: '2025-01-02T00:00:00Z' })
  const s3 = await writeSnapshot(repo, { ef: Buffer.concat([e, f]) }, { time: '2025-01-03T00:00:00Z' })
  const s4 = await writeSnapshot(repo, { e, 'sub/c': seededBytes(5, 100 * KiB) }, { time: '2025-01-04T00:00:00Z' })
  return { backend, keep: [s2, s4], forget: [s1, s3] }
}

describe('planPrune()', () => {
  it('classifies blobs and packs the way restic does', async () => {
    const { backend, forget } = await prunableRepository()
    const repo = await reopen(backend)
    await removeSnapshots(repo, forget)
    const plan = await planPrune(repo)
    const s = plan.stats
    // used: a (4 chunks), c (2), e (2), and the trees of s2 and s4 (root + sub each, sub shared)
    assert.equal(s.blobs.used, 4 + 2 + 2 + 3)
    // unused: b (4), f (2), the root trees of s1 and s3
    assert.equal(s.blobs.unused, 4 + 2 + 2)
    assert.equal(s.blobs.duplicate, 0)
    assert.equal(s.packs.unused, 3, 'the pack of b and the root tree packs of s1 and s3')
    assert.equal(s.packs.partlyUsed, 1, 'the e/f pack')
    assert.equal(s.packs.used, 4, 'a, c, and the tree packs of s2 and s4')
    assert.equal(plan.deletePacks.size, 3)
    assert.equal(plan.repackPacks.size, 1)
    assert.equal(s.size.repackrm, 2 * (64 * KiB + 32))
    assert.ok(s.size.unused > 384 * KiB)
    assert.deepEqual(plan.indexIds.length, await fileCount(repo, 'index'))
  })

  it('refuses to plan when a blob in use is in no index, naming it', async () => {
    const { backend } = await prunableRepository()
    const repo = await reopen(backend)
    const ghost = hashId(Buffer.from('never stored'))
    // a snapshot whose file refers to a data blob that was never stored
    await repo.withWriter(async (w) => {
      const tree = await w.saveBlob('tree', encodeTree([testNode({ content: [ghost], size: 1 })]))
      await repo.saveUnpacked('snapshots', encodeSnapshot({ time: '2025-02-01T00:00:00Z', tree: tree.id, paths: ['/x'] }))
    }, { threads: 0 })
    await assert.rejects(planPrune(repo), (err: Error) => err.message.includes('Data seems to be missing') && err.message.includes(ghost))
  })

  it('refuses to plan when a pack in use is missing or a tree cannot be loaded', async () => {
    const { backend, keep } = await prunableRepository()
    let repo = await reopen(backend)
    await repo.loadIndex()
    const snapshot = (await loadSnapshots(repo)).find((e) => e.id === keep[1])!
    const treePack = repo.index.lookup('tree', snapshot.snapshot.tree)!.packId
    const ePack = repo.index.lookup('data', hashId(seededBytes(3, 128 * KiB).subarray(0, 64 * KiB)))!.packId
    await backend.remove({ type: 'data', name: ePack })
    const files = await fileCount(repo, 'data')
    repo = await reopen(backend)
    await assert.rejects(planPrune(repo), new RegExp(`The index lists 1 needed packs that are missing from the repository \\(${ePack}\\); nothing was deleted`))
    await backend.remove({ type: 'data', name: treePack })
    repo = await reopen(backend)
    await assert.rejects(planPrune(repo), (err: Error & { hint?: string }) => err.message.startsWith(`Cannot load tree ${snapshot.snapshot.tree}`) && /nothing was deleted/.test(err.hint ?? ''))
    assert.equal(await fileCount(repo, 'data'), files - 1)
  })
})

describe('PrunePlan.execute()', () => {
  it('leaves a sound repository with only used data and one index superseding the old ones', async () => {
    const { backend, forget } = await prunableRepository()
    const logged = new CrashingBackend(backend)
    const repo = await reopen(logged)
    await removeSnapshots(repo, forget)
    const oldIndex = await repo.listIds('index')
    const plan = await planPrune(repo, { maxUnused: parseMaxUnused('0%') })
    const result = await plan.execute()
    assert.equal(result.packsDeleted, plan.deletePacks.size + plan.repackPacks.size)
    assert.ok(result.bytesFreed > 384 * KiB, `freed ${result.bytesFreed}`)

    const after = await reopen(backend)
    assert.deepEqual(await repositoryProblems(after), [])
    const newIndex = await after.listIds('index')
    assert.equal(newIndex.length, 1)
    const supersedes = decodeIndex(await after.loadUnpacked('index', newIndex[0])).supersedes
    assert.deepEqual([...plan.indexIds].sort(), [...oldIndex].sort())
    // the old index files, and the one written for the repacked packs on the way
    assert.equal(supersedes.length, oldIndex.length + 1)
    assert.ok(oldIndex.every((id) => supersedes.includes(id)))
    // Every pack in storage is indexed, and nothing unused is left.
    const again = await planPrune(after, { maxUnused: parseMaxUnused('0%') })
    assert.equal(again.stats.blobs.unused, 0)
    assert.equal(again.stats.packs.unref, 0)
    assert.equal(again.empty, true)
    // Order of changes: all saves of packs and index come before any deletion.
    const firstRemove = logged.log.findIndex((op) => op.startsWith('remove') && !op.endsWith('snapshots'))
    assert.ok(logged.log.slice(firstRemove).every((op) => op.startsWith('remove')), logged.log.join(', '))
  })

  it('deletes unreferenced packs only after the new index is written', async () => {
    const { backend, forget } = await prunableRepository()
    const repo = await reopen(backend)
    // A pack whose index was never written (as after a crash during backup).
    const orphan = new BlobWriter({ backend, key: repo.key, version: 2, index: new MasterIndex(), saveFramedUnpacked: async () => hashId(Buffer.from('none')) })
    await orphan.saveBlob('data', seededBytes(9, 50 * KiB))
    await orphan.flush()
    await removeSnapshots(repo, forget)
    const logged = new CrashingBackend(backend)
    const plan = await planPrune(await reopen(logged))
    assert.equal(plan.stats.packs.unref, 1)
    await plan.execute()
    const lastIndexSave = logged.log.lastIndexOf('save index')
    const firstPackRemove = logged.log.indexOf('remove data')
    assert.ok(lastIndexSave >= 0 && lastIndexSave < firstPackRemove, logged.log.join(', '))
    assert.deepEqual(await repositoryProblems(await reopen(backend)), [])
    assert.equal((await planPrune(await reopen(backend))).stats.packs.unref, 0)
  })

  it('keeps one copy of a duplicated blob', async () => {
    const { backend } = await prunableRepository()
    const repo = await reopen(backend)
    await repo.loadIndex()
    const aChunk = seededBytes(1, 256 * KiB).subarray(0, 64 * KiB)
    // Store a used blob a second time, in a pack of its own with its own index file.
        const fresh = new BlobWriter({ backend, key: repo.key, version: 2, index: new MasterIndex(), saveFramedUnpacked: (t, f) => repo.saveFramedUnpacked(t, f) })
    await fresh.saveBlob('data', aChunk)
    await fresh.flush()
    const plan = await planPrune(await reopen(backend))
    assert.equal(plan.stats.blobs.duplicate, 1)
    await plan.execute()
    const after = await reopen(backend)
    assert.deepEqual(await repositoryProblems(after), [])
    assert.equal(after.index.lookupAll('data', hashId(aChunk)).length, 1)
  })

  it('keeps the sound copy of a duplicated blob whose other copy is damaged, whichever comes first', async () => {
    // The first copy in index order was kept without a look, and half the time it was the
    // damaged one: the sound copy's pack was deleted and the file lost.
    for (const damageFirst of [true, false]) {
      const { backend } = await prunableRepository()
      const repo = await reopen(backend)
      await repo.loadIndex()
      const aChunk = seededBytes(1, 256 * KiB).subarray(0, 64 * KiB)
      const id = hashId(aChunk)
      const original = repo.index.lookup('data', id)!
      const fresh = new BlobWriter({ backend, key: repo.key, version: 2, index: new MasterIndex(), saveFramedUnpacked: (t, f) => repo.saveFramedUnpacked(t, f) })
      await fresh.saveBlob('data', aChunk)
      await fresh.flush()
      const copies = (await reopen(backend).then(async (r) => (await r.loadIndex(), r))).index.lookupAll('data', id)
      assert.equal(copies.length, 2)
      const victim = damageFirst ? original : copies.find((c) => c.packId !== original.packId)!
      await tamper(backend, { type: 'data', name: victim.packId }, (b) => {
        b[victim.offset + 30] ^= 1
      })
      await (await planPrune(await reopen(backend), { maxUnused: { kind: 'bytes', bytes: 0 } })).execute()
      const after = await reopen(backend)
      await after.loadIndex()
      assert.deepEqual(await after.loadBlob('data', id), Buffer.from(aChunk), `damaged ${damageFirst ? 'first' : 'second'} copy`)
    }
  })

  it('copies out the sound copy of a duplicated blob when the pack of the damaged copy is the one kept', async () => {
    // The damaged copy's pack stays (its other blobs are in use) while the sound copy's pack is
    // repacked: the damaged copy counted as the one that stays, so the sound one was not copied
    // and went with its pack.
    const backend = new MemoryBackend()
    const repo = await createTestRepository({ backend })
    const big = seededBytes(40, 1024 * KiB)
    const x = seededBytes(41, 10 * KiB)
    const xId = hashId(x)
    const tree = await repo.withWriter(
      async (w) => {
        const content: Id[] = []
        for (let off = 0; off < big.length; off += 64 * KiB) content.push((await w.saveBlob('data', big.subarray(off, off + 64 * KiB))).id)
        await w.saveBlob('data', x)
        const nodes = [testNode({ name: Buffer.from('big'), size: big.length, content }), testNode({ name: Buffer.from('x'), size: x.length, content: [xId] })]
        return (await w.saveBlob('tree', encodeTree(nodes))).id
      },
      { threads: 0 },
    )
    await repo.saveUnpacked('snapshots', encodeSnapshot({ time: '2025-03-01T00:00:00Z', tree, paths: ['/d'] }))
    await repo.loadIndex()
    const damagedCopy = repo.index.lookup('data', xId)!
    // A second copy of x, beside a blob nothing uses, in a pack and index file of its own.
    const fresh = new BlobWriter({ backend, key: repo.key, version: 2, index: new MasterIndex(), saveFramedUnpacked: (t, f) => repo.saveFramedUnpacked(t, f) })
    await fresh.saveBlob('data', x)
    await fresh.saveBlob('data', seededBytes(42, 100 * KiB))
    await fresh.flush()
    await tamper(backend, { type: 'data', name: damagedCopy.packId }, (b) => {
      b[damagedCopy.offset + 30] ^= 1
    })

    const plan = await planPrune(await reopen(backend))
    assert.ok(!plan.repackPacks.has(damagedCopy.packId) && !plan.deletePacks.has(damagedCopy.packId), 'the pack of the damaged copy stays')
    assert.equal(plan.repackPacks.size, 1, 'the pack of the sound copy is repacked')
    await plan.execute()
    const after = await reopen(backend)
    await after.loadIndex()
    const sound: string[] = []
    for (const c of after.index.lookupAll('data', xId)) {
      try {
        assert.deepEqual(after.decodeBlob(c, await backend.load({ type: 'data', name: c.packId }, c.offset, c.length), c.packId), x)
        sound.push(c.packId)
      } catch {
        // the damaged copy
      }
    }
    assert.equal(sound.length, 1, 'a sound copy of x is still indexed')
  })

  it('repacks uncompressed trees (format v2), and uncompressed data on request', async () => {
    const backend = new MemoryBackend()
    const repo = await createTestRepository({ backend })
    const text = Buffer.from('compressible '.repeat(20_000))
    const noise = seededBytes(30, 50 * KiB) // incompressible
    await repo.withWriter(async (w) => {
      const data = [(await w.saveBlob('data', text)).id, (await w.saveBlob('data', noise)).id]
      // An uncompressed tree, as a repository migrated from format 1 holds them: a writer
      // compresses trees of a v2 repository even with compression off.
      const treeBytes = encodeTree([testNode({ content: data, size: text.length + noise.length })])
      const tree = await w.saveEncodedBlob('tree', hashId(treeBytes), treeBytes.length, { ...encodeBlob(repo.key, 'tree', treeBytes, 0), release: () => {} })
      await repo.saveUnpacked('snapshots', encodeSnapshot({ time: '2025-02-01T00:00:00Z', tree: tree.id, paths: ['/x'] }))
    }, { compression: 'off', threads: 0 })
    let plan = await planPrune(await reopen(backend))
    assert.equal(plan.repackPacks.size, 1, 'the tree pack only')
    await plan.execute()
    plan = await planPrune(await reopen(backend), { repackUncompressed: true })
    assert.equal(plan.repackPacks.size, 1, 'now the data pack')
    await plan.execute()
    const after = await reopen(backend)
    await after.loadIndex()
    assert.ok([...after.index.blobs()].every((b) => b.uncompressedLength > 0), 'every blob is compressed')
    assert.ok(after.index.lookup('data', hashId(text))!.length < 2000)
    assert.deepEqual(await repositoryProblems(await reopen(backend)), [])
    // Even the incompressible blob is stored compressed now, so the next run has nothing to do.
    assert.equal((await planPrune(await reopen(backend), { repackUncompressed: true })).empty, true)
  })

  it('stops before changing anything but new packs when a blob to copy is damaged', async () => {
    const { backend, forget } = await prunableRepository()
    const repo = await reopen(backend)
    await removeSnapshots(repo, forget)
    const plan = await planPrune(repo)
    const [efPack] = [...plan.repackPacks.keys()]
    const eChunk = repo.index.lookup('data', hashId(seededBytes(3, 128 * KiB).subarray(0, 64 * KiB)))!
    assert.equal(eChunk.packId, efPack)
    const bytes = await backend.load({ type: 'data', name: efPack })
    bytes[eChunk.offset + 40] ^= 1
    await backend.remove({ type: 'data', name: efPack })
    await backend.save({ type: 'data', name: efPack }, bytes)
    const before = { data: await repo.listIds('data'), index: await repo.listIds('index') }
    await assert.rejects(plan.execute(), new RegExp(`Cannot repack pack ${efPack}: .*nothing was deleted`))
    const after = { data: await repo.listIds('data'), index: await repo.listIds('index') }
    assert.ok(before.data.every((id) => after.data.includes(id)), 'no pack was deleted')
    assert.deepEqual(after.index.sort(), before.index.sort(), 'the index is unchanged')
  })

  it('stops with the network error when the storage cannot be reached while repacking, not blaming a damaged pack', async () => {
    // It said "pack X cannot be read … run check --read-data", after retrying every blob again.
    const { backend, forget } = await prunableRepository()
    const repo = await reopen(backend)
    await removeSnapshots(repo, forget)
    const plan = await planPrune(repo)
    assert.ok(plan.repackPacks.size > 0)
    const before = await repo.listIds('data')
    const load = backend.load.bind(backend)
    let loads = 0
    backend.load = async (h, offset, length) => {
      if (h.type !== 'data') return load(h, offset, length)
      loads++
      throw new AppError('NETWORK', 'Cannot reach the server: connection refused (ECONNREFUSED)')
    }
    await assert.rejects(plan.execute(), (err) => isAppError(err, 'NETWORK') && /ECONNREFUSED/.test(err.message))
    assert.equal(loads, 1, 'no other copy is tried once the storage is unreachable')
    backend.load = load
    assert.deepEqual((await repo.listIds('data')).filter((id) => before.includes(id)).sort(), [...before].sort(), 'no pack was deleted')
  })

  it('honours --max-unused unlimited and --max-repack-size', async () => {
    const { backend, forget } = await prunableRepository()
    await removeSnapshots(await reopen(backend), forget)
    // With 4 MiB packs the half-used pack (256 KiB) is not "small", so nothing forces a repack.
    const unlimited = await planPrune(await reopen(backend), { maxUnused: parseMaxUnused('unlimited'), packSize: 4 << 20 })
    assert.equal(unlimited.repackPacks.size, 0)
    const strict = await planPrune(await reopen(backend), { maxUnused: parseMaxUnused('unlimited') })
    assert.equal(strict.repackPacks.size, 1, 'below 1/25 of 16 MiB, the pack counts as small and is repacked')
    const none = await planPrune(await reopen(backend), { maxRepackBytes: 0 })
    assert.equal(none.repackPacks.size, 0)
    assert.equal(none.deletePacks.size, 3)
  })
})

describe('prune interrupted at any point', () => {
  it('leaves a sound repository after a crash at every change, and prune again finishes', async () => {
    const { backend: prepared, forget, keep } = await prunableRepository()
    await removeSnapshots(await reopen(prepared), forget)
    // How many changes a full run makes.
    const counter = new CrashingBackend(await cloneBackend(prepared))
    await (await planPrune(await reopen(counter), { maxUnused: parseMaxUnused('0%') })).execute()
    const total = counter.changes
    assert.ok(total >= 8, `a full prune makes ${total} changes`)

    for (let k = 0; k < total; k++) {
      const inner = await cloneBackend(prepared)
      const crashing = new CrashingBackend(inner)
      crashing.crashAfter = k
      await assert.rejects(
        (async () => (await planPrune(await reopen(crashing), { maxUnused: parseMaxUnused('0%') })).execute())(),
        /simulated crash/,
      )
      assert.deepEqual(await repositoryProblems(await reopen(inner)), [], `after a crash at change ${k}`)
      assert.deepEqual((await loadSnapshots(await reopen(inner))).map((e) => e.id).sort(), [...keep].sort())
      await (await planPrune(await reopen(inner), { maxUnused: parseMaxUnused('0%') })).execute()
      assert.deepEqual(await repositoryProblems(await reopen(inner)), [], `after finishing a prune that crashed at change ${k}`)
      assert.equal((await planPrune(await reopen(inner), { maxUnused: parseMaxUnused('0%') })).empty, true)
    }
  })
})

describe('forget helpers', () => {
  it('planForget() applies the policy per host and removeSnapshots() deletes only snapshot files', async () => {
    const backend = new MemoryBackend()
    const repo = await createTestRepository({ backend })
    for (const [i, host] of ['x', 'x', 'y', 'x', 'y'].entries()) {
      await writeSnapshot(repo, { f: seededBytes(20 + i, 1000) }, { host, time: `2025-01-0${i + 1}T00:00:00Z` })
    }
    const groups = planForget(await loadSnapshots(repo), { last: 1 }, 'host')
    assert.deepEqual(groups.map((g) => [g.key.hostname, g.keep.length, g.remove.length]), [['x', 1, 2], ['y', 1, 1]])
    const packs = await fileCount(repo, 'data')
    await removeSnapshots(repo, groups.flatMap((g) => g.remove.map((e) => e.id)))
    assert.equal(await fileCount(repo, 'snapshots'), 2)
    assert.equal(await fileCount(repo, 'data'), packs)
  })
})

describe('prune options', () => {
  it('parseMaxUnused() and parseByteSize() read restic\'s spellings', () => {
    assert.deepEqual(parseMaxUnused('5%'), { kind: 'percent', percent: 5 })
    assert.deepEqual(parseMaxUnused(' unlimited '), { kind: 'unlimited' })
    assert.deepEqual(parseMaxUnused('2k'), { kind: 'bytes', bytes: 2048 })
    assert.throws(() => parseMaxUnused('100%'), /below 100%/)
    assert.throws(() => parseMaxUnused('abc'), /Invalid size "abc" for --max-unused/)
    assert.equal(parseByteSize('3G', '--max-repack-size'), 3 * 1024 ** 3)
    assert.equal(parseByteSize('10', '--max-repack-size'), 10)
    assert.equal(maxUnusedBytes({ kind: 'percent', percent: 20 }, 1000), 250)
  })
})
