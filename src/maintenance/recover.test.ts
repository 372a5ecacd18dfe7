import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Repository } from '../repository/index.js'
import { createTestRepository, TEST_PASSWORD } from '../repository/testing.js'
import { decodeTree, loadSnapshots } from '../snapshots/index.js'
import { checkRepository } from './check.js'
import { recover } from './recover.js'
import { offsetOf, packOf, saveTestSnapshot, tamper } from './testing.js'

const NOW = new Date('2026-11-24T06:00:00Z')

describe('recover()', () => {
  it('saves a snapshot that holds the root of a forgotten snapshot, and only that', async () => {
    const repo = await createTestRepository()
    const lost = await saveTestSnapshot(repo, { files: { '/srv/a/one.txt': 'one', '/srv/b/two.txt': 'two' } })
    const kept = await saveTestSnapshot(repo, { files: { '/home/me/three.txt': 'three' } })
    await repo.backend.remove({ type: 'snapshots', name: lost.id })

    const result = await recover(repo, { hostname: 'nas', username: 'me', uid: 1000, gid: 1000, now: NOW })
    assert.deepEqual(result.roots, [lost.tree])
    assert.equal(result.index.rewritten, false, 'a complete index is left alone')
    assert.ok(result.snapshotId)
    assert.deepEqual(result.snapshot, {
      time: '2026-11-24T06:00:00Z',
      tree: result.snapshot!.tree,
      paths: ['/recover'],
      hostname: 'nas',
      tags: ['recovered'],
      username: 'me',
      uid: 1000,
      gid: 1000,
    })

    const fresh = await Repository.open(repo.backend, TEST_PASSWORD)
    await fresh.loadIndex()
    const snapshots = await loadSnapshots(fresh)
    assert.deepEqual(snapshots.map((s) => s.id).sort(), [kept.id, result.snapshotId].sort())
    const top = decodeTree(await fresh.loadBlob('tree', result.snapshot!.tree))
    assert.deepEqual(
      top.map((n) => [n.name.toString(), n.type, n.mode, n.subtree]),
      [[lost.tree.slice(0, 8), 'dir', 0o755, lost.tree]],
    )
    const report = await checkRepository(fresh)
    assert.deepEqual(report.errors, [])

    const again = await recover(fresh, { hostname: 'nas', now: NOW })
    assert.deepEqual(again.roots, [], 'the recovered snapshot reaches the tree now')
    assert.equal(again.snapshotId, undefined)
  })

  it('recovers the tree of a snapshot whose file cannot be read, reporting the file', async () => {
    // It stopped at the damaged snapshot file, the very case it is for.
    const repo = await createTestRepository()
    const damaged = await saveTestSnapshot(repo, { files: { '/srv/a/one.txt': 'one' } })
    await saveTestSnapshot(repo, { files: { '/home/me/three.txt': 'three' } })
    await tamper(repo.backend, { type: 'snapshots', name: damaged.id }, (b) => {
      b[30] ^= 1
    })
    const result = await recover(repo, { hostname: 'nas', now: NOW })
    assert.deepEqual(result.unreadableSnapshots.map((s) => s.id), [damaged.id])
    assert.deepEqual(result.roots, [damaged.tree])
    assert.ok(result.snapshotId)
  })

  it('indexes packs whose index file is lost before it looks for trees', async () => {
    const repo = await createTestRepository()
    const lost = await saveTestSnapshot(repo, { files: { '/srv/a.txt': 'a' } })
    for (const id of await repo.listIds('index')) await repo.backend.remove({ type: 'index', name: id })
    await repo.backend.remove({ type: 'snapshots', name: lost.id })

    const fresh = await Repository.open(repo.backend, TEST_PASSWORD)
    const result = await recover(fresh, { hostname: 'nas', now: NOW })
    assert.equal(result.index.rewritten, true)
    assert.ok(result.index.addedPacks.length > 0)
    assert.deepEqual(result.roots, [lost.tree])
    const reopened = await Repository.open(repo.backend, TEST_PASSWORD)
    assert.deepEqual((await checkRepository(reopened)).errors, [])
  })

  it('finds several roots, reports a tree it cannot load, and writes nothing when every tree is reachable', async () => {
    const repo = await createTestRepository()
    const one = await saveTestSnapshot(repo, { files: { '/x/1.txt': '1' } })
    const two = await saveTestSnapshot(repo, { files: { '/y/2.txt': '2' } })
    const none = await recover(repo, { hostname: 'nas', now: NOW })
    assert.deepEqual(none.roots, [])
    assert.equal(none.snapshotId, undefined)
    assert.deepEqual(await repo.listIds('snapshots').then((l) => l.sort()), [one.id, two.id].sort())

    await repo.backend.remove({ type: 'snapshots', name: one.id })
    await repo.backend.remove({ type: 'snapshots', name: two.id })
    const result = await recover(repo, { hostname: 'nas', now: NOW })
    assert.deepEqual(result.roots, [one.tree, two.tree].sort())
    const top = decodeTree(await repo.loadBlob('tree', result.snapshot!.tree))
    assert.deepEqual(top.map((n) => n.subtree).sort(), [one.tree, two.tree].sort())
  })

  it('reports a tree it cannot load, and then finds the trees below it as roots of their own', async () => {
    const repo = await createTestRepository()
    const s = await saveTestSnapshot(repo, { files: { '/srv/a/1.txt': '1' }, packSize: 1 })
    await repo.backend.remove({ type: 'snapshots', name: s.id })
    const root = s.tree
    const below = s.dirs.get('/srv')!
    await tamper(repo.backend, { type: 'data', name: packOf(repo, 'tree', root) }, (b) => {
      b[offsetOf(repo, 'tree', root) + 20] ^= 1
    })
    const fresh = await Repository.open(repo.backend, TEST_PASSWORD)
    const result = await recover(fresh, { hostname: 'nas', now: NOW })
    assert.deepEqual(result.unreadableTrees.map((t) => t.id), [root])
    assert.deepEqual(result.roots, [root, below].sort(), 'the damaged root is still unreferenced, and /srv now is too')
  })

  it('leaves the index as it is when a pack it lists is gone: it only adds packs no index lists', async () => {
    // It rewrote every index file without the missing pack, so a pack missing only for now (a
    // copy half synced) lost its entries for good.
    const repo = await createTestRepository()
    const lost = await saveTestSnapshot(repo, { files: { '/srv/a/one.txt': 'one' }, packSize: 1 })
    const other = await saveTestSnapshot(repo, { files: { '/home/me/two.txt': 'two' }, packSize: 1 })
    await repo.backend.remove({ type: 'snapshots', name: lost.id })
    const gone = packOf(repo, 'data', other.files.get('/home/me/two.txt')![0])
    const saved = await repo.backend.load({ type: 'data', name: gone })
    await repo.backend.remove({ type: 'data', name: gone })
    const indexesBefore = new Map<string, Buffer>()
    for (const id of await repo.listIds('index')) indexesBefore.set(id, await repo.backend.load({ type: 'index', name: id }))

    const result = await recover(await Repository.open(repo.backend, TEST_PASSWORD), { hostname: 'nas', now: NOW })
    assert.deepEqual(result.roots, [lost.tree])
    assert.deepEqual(result.index.removedPacks, [])
    // Each index file is still there as it was (beside the one of the new snapshot's tree).
    for (const [id, bytes] of indexesBefore) assert.deepEqual(await repo.backend.load({ type: 'index', name: id }), bytes, id)
    // The pack comes back: nothing was lost.
    await repo.backend.save({ type: 'data', name: gone }, saved)
    assert.deepEqual((await checkRepository(await Repository.open(repo.backend, TEST_PASSWORD), { readData: true })).errors, [])
  })
})
