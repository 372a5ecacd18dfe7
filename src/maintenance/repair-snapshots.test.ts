import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Id } from '../base/index.js'
import { Repository } from '../repository/index.js'
import { createTestRepository, seededBytes, TEST_PASSWORD } from '../repository/testing.js'
import { decodeSnapshot, decodeTree, type Node } from '../snapshots/index.js'
import { checkRepository } from './check.js'
import { repairIndex } from './repair-index.js'
import { repairSnapshots } from './repair-snapshots.js'
import { packOf, saveTestSnapshot, type TestSnapshot } from './testing.js'

const reopen = async (repo: Repository) => {
  const r = await Repository.open(repo.backend, TEST_PASSWORD)
  await r.loadIndex()
  return r
}

/**
 * One snapshot of /data with a 3-blob file whose middle blob sits alone in a pack, a small
 * file, and a sub-directory; then that pack (or the sub-directory's tree pack) is deleted and
 * the index rebuilt, as the troubleshooting steps do before `repair snapshots`.
 */
async function damaged(what: 'blob' | 'subtree'): Promise<{ repo: Repository; snap: TestSnapshot; big: Buffer }> {
  const repo = await createTestRepository()
  const big = seededBytes(20, 3000)
  // the sub-directory is saved in a snapshot of its own first, so its tree has a pack of its own
  const sub = await saveTestSnapshot(repo, { files: { '/data/sub/inner.txt': 'inner' } })
  const snap = await saveTestSnapshot(repo, { files: { '/data/big.bin': big, '/data/small.txt': 'small', '/data/sub/inner.txt': 'inner' }, packSize: 1000 })
  await repo.backend.remove({ type: 'snapshots', name: sub.id })
  const victim = what === 'blob' ? packOf(repo, 'data', snap.files.get('/data/big.bin')![1]) : packOf(repo, 'tree', sub.dirs.get('/data/sub')!)
  if (what === 'blob') assert.notEqual(packOf(repo, 'data', snap.files.get('/data/big.bin')![0]), victim, 'setup: blob 1 has a pack of its own')
  await repo.backend.remove({ type: 'data', name: victim })
  await repairIndex(await reopen(repo))
  return { repo, snap, big }
}

async function nodeAt(repo: Repository, tree: Id, path: string): Promise<Node> {
  let nodes = decodeTree(await repo.loadBlob('tree', tree))
  const parts = path.split('/').filter((p) => p !== '')
  for (const [i, part] of parts.entries()) {
    const node = nodes.find((n) => n.name.toString() === part)
    assert.ok(node, `no ${part} in ${path}`)
    if (i === parts.length - 1) return node
    nodes = decodeTree(await repo.loadBlob('tree', node.subtree!))
  }
  throw new Error('empty path')
}

describe('repairSnapshots()', () => {
  it('keeps the blobs of a file that still exist, fixes its size, and tags the new snapshot', async () => {
    const { repo, snap, big } = await damaged('blob')
    const result = await repairSnapshots(await reopen(repo))
    assert.equal(result.repaired.length, 1)
    const r = result.repaired[0]
    assert.equal(r.id, snap.id)
    assert.deepEqual(r.changes, [{ kind: 'content-removed', path: '/data/big.bin' }])
    assert.equal(r.removed, false)
    const fresh = await reopen(repo)
    const s = decodeSnapshot(await fresh.loadUnpacked('snapshots', r.newId!))
    assert.equal(s.original, snap.id)
    assert.deepEqual(s.tags, ['repaired'])
    assert.equal(s.hostname, 'test-host')
    const file = await nodeAt(fresh, s.tree, '/data/big.bin')
    const blobs = snap.files.get('/data/big.bin')!
    assert.deepEqual(file.content, [blobs[0], blobs[2]])
    assert.equal(file.size, 2000)
    const restored = Buffer.concat(await Promise.all(file.content!.map((id) => fresh.loadBlob('data', id))))
    assert.deepEqual(restored, Buffer.concat([big.subarray(0, 1000), big.subarray(2000)]))
    // unchanged parts keep their trees
    assert.equal((await nodeAt(fresh, s.tree, '/data/sub')).subtree, snap.dirs.get('/data/sub'))
    assert.deepEqual(await listIds(fresh), [snap.id, r.newId!].sort(), 'the original stays without --forget')
    await fresh.backend.remove({ type: 'snapshots', name: snap.id })
    const report = await checkRepository(await reopen(repo), { readData: true })
    assert.deepEqual(report.errors, [], 'the repaired snapshot checks clean')
  })

  it('replaces a directory whose tree is lost by an empty one', async () => {
    const { repo, snap } = await damaged('subtree')
    const before = await checkRepository(await reopen(repo))
    assert.ok(before.errors.some((e) => e.kind === 'tree-missing'))
    const result = await repairSnapshots(await reopen(repo), { forget: true })
    const r = result.repaired[0]
    assert.deepEqual(r.changes, [{ kind: 'dir-emptied', path: '/data/sub' }])
    assert.equal(r.removed, true)
    const fresh = await reopen(repo)
    assert.deepEqual(await listIds(fresh), [r.newId!])
    const s = decodeSnapshot(await fresh.loadUnpacked('snapshots', r.newId!))
    assert.equal(s.original, snap.id)
    assert.equal(s.tags, undefined, 'with forget the new snapshot is not tagged')
    const sub = await nodeAt(fresh, s.tree, '/data/sub')
    assert.deepEqual(decodeTree(await fresh.loadBlob('tree', sub.subtree!)), [])
    assert.deepEqual((await checkRepository(await reopen(repo), { readData: true })).errors, [])
  })

  it('changes nothing in a dry run, but reports what it would do', async () => {
    const { repo, snap } = await damaged('blob')
    const files = async () => [...(await listIds(repo)), ...(await repo.listIds('index')), ...(await repo.listIds('data'))].sort()
    const before = await files()
    const result = await repairSnapshots(await reopen(repo), { dryRun: true, forget: true })
    assert.equal(result.repaired[0].id, snap.id)
    assert.deepEqual(result.repaired[0].changes, [{ kind: 'content-removed', path: '/data/big.bin' }])
    assert.equal(result.repaired[0].newId, undefined)
    assert.equal(result.repaired[0].removed, false)
    assert.deepEqual(await files(), before)
  })

  it('leaves sound snapshots alone', async () => {
    const repo = await createTestRepository()
    await saveTestSnapshot(repo, { files: { '/a/b.txt': 'b' } })
    const ids = await listIds(repo)
    const result = await repairSnapshots(await reopen(repo), { forget: true })
    assert.deepEqual(result.repaired, [])
    assert.equal(result.unchanged, 1)
    assert.deepEqual(await listIds(repo), ids)
  })

  it('removes a snapshot whose root tree is lost, as restic does', async () => {
    const repo = await createTestRepository()
    const s = await saveTestSnapshot(repo, { files: { '/a/b.txt': 'b' } })
    await repo.backend.remove({ type: 'data', name: packOf(repo, 'tree', s.tree) })
    await repairIndex(await reopen(repo))
    const result = await repairSnapshots(await reopen(repo))
    assert.deepEqual(result.repaired[0].changes, [{ kind: 'root-unreadable', path: '/' }])
    assert.equal(result.repaired[0].removed, true)
    assert.deepEqual(await listIds(repo), [])
  })

  it('repairs only the snapshots asked for, and skips unreadable snapshot files', async () => {
    const { repo, snap } = await damaged('blob')
    const other = await saveTestSnapshot(repo, { files: { '/data/big.bin': Buffer.alloc(10) }, time: '2030-01-01T00:00:00Z' })
    await repo.backend.save({ type: 'snapshots', name: 'f'.repeat(64) }, Buffer.from('junk'))
    const none = await repairSnapshots(await reopen(repo), { snapshotIds: [other.id] })
    assert.deepEqual(none.repaired, [])
    assert.equal(none.unchanged, 1)
    assert.deepEqual(none.unreadable.map((u) => u.id), ['f'.repeat(64)])
    const one = await repairSnapshots(await reopen(repo), { snapshotIds: [snap.id] })
    assert.deepEqual(one.repaired.map((r) => r.id), [snap.id])
  })
})

async function listIds(repo: Repository): Promise<Id[]> {
  return (await repo.listIds('snapshots')).sort()
}
