import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { LocalBackend } from '../backends/index.js'
import { AppError, type Id, type WorkerPool } from '../base/index.js'
import type { Handle } from '../backends/index.js'
import { withMembers } from '../backends/testing/overrides.js'
import { Repository } from '../repository/index.js'
import { createTestRepository, seededBytes, TEST_PASSWORD } from '../repository/testing.js'
import { decodeSnapshot } from '../snapshots/index.js'
import { checkRepository } from './check.js'
import { packSlots, readPacks, type PackToRead } from './check-read-data.js'
import type { CheckProblem, CheckReport } from './check-report.js'
import { offsetOf, packOf, saveTestSnapshot, tamper, type TestSnapshot } from './testing.js'

/**
 * Two snapshots of a small home directory. The second changes b.bin, so its new blobs land in
 * a second set of packs and a second index file; a.txt, docs/ and c.bin are shared.
 */
async function twoSnapshots(): Promise<{ repo: Repository; first: TestSnapshot; second: TestSnapshot }> {
  const repo = await createTestRepository()
  const files = {
    '/home/me/a.txt': 'hello world',
    '/home/me/b.bin': seededBytes(1, 5000),
    '/home/me/docs/c.bin': seededBytes(2, 3000),
  }
  const first = await saveTestSnapshot(repo, { files, time: '2024-01-01T10:00:00Z', packSize: 2500 })
  const second = await saveTestSnapshot(repo, {
    files: { ...files, '/home/me/b.bin': seededBytes(3, 4000) },
    time: '2024-01-02T10:00:00Z',
    packSize: 2500,
  })
  return { repo, first, second }
}

/** A fresh handle on the same storage, as a new process would open it. */
async function reopen(repo: Repository): Promise<Repository> {
  return Repository.open(repo.backend, TEST_PASSWORD)
}

/** Runs `fn` on a new repository in a local directory (the backend with loadInto), then removes it. */
async function withLocalRepository(fn: (repo: Repository) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-check-local-'))
  try {
    await fn(await createTestRepository({ backend: new LocalBackend(dir) }))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function only(report: CheckReport, kind: CheckProblem['kind']): CheckProblem {
  const found = report.errors.filter((e) => e.kind === kind)
  assert.equal(found.length, 1, `expected one ${kind} error, got ${JSON.stringify(report.errors.map((e) => e.message))}`)
  return found[0]
}

/** snapshot ID → sorted paths, from a problem's affected list. */
function affected(p: CheckProblem): Record<Id, string[]> {
  return Object.fromEntries((p.affected ?? []).map((s) => [s.id, s.paths]))
}

describe('checkRepository()', () => {
  it('finds no errors in a sound repository, reading all data', async () => {
    const { repo } = await twoSnapshots()
    const report = await checkRepository(await reopen(repo), { readData: true })
    assert.deepEqual(report.errors, [])
    assert.deepEqual(report.hints, [])
    assert.equal(report.stats.snapshots, 2)
    assert.equal(report.stats.indexFiles, 2)
    assert.ok(report.stats.packs >= 4)
    assert.equal(report.stats.packsRead, report.stats.packs)
    // root, home, me, docs for each snapshot; docs is shared, the others differ in b.bin
    assert.equal(report.stats.trees, 7)
  })

  it('with readData finds one flipped byte in a data pack and names the snapshots and the file', async () => {
    const { repo, first, second } = await twoSnapshots()
    const blob = first.files.get('/home/me/docs/c.bin')![1]
    const pack = packOf(repo, 'data', blob)
    await tamper(repo.backend, { type: 'data', name: pack }, (b) => {
      b[offsetOf(repo, 'data', blob) + 40] ^= 0x01
    })
    const structural = await checkRepository(await reopen(repo))
    assert.deepEqual(structural.errors, [], 'a flipped byte inside a blob is invisible without reading the data')

    const report = await checkRepository(await reopen(repo), { readData: true })
    const damaged = only(report, 'blob-damaged')
    assert.equal(damaged.pack, pack)
    assert.deepEqual(damaged.blobs, [blob])
    assert.deepEqual(affected(damaged), { [first.id]: ['/home/me/docs/c.bin'], [second.id]: ['/home/me/docs/c.bin'] })
    assert.equal(only(report, 'pack-hash').pack, pack)
    assert.deepEqual(report.brokenPacks, [pack])
    assert.equal(report.errors.length, 2)
  })

  it('reports a deleted pack with the files whose data was in it', async () => {
    const { repo, first, second } = await twoSnapshots()
    const blob = second.files.get('/home/me/b.bin')![0]
    const pack = packOf(repo, 'data', blob)
    await repo.backend.remove({ type: 'data', name: pack })
    const report = await checkRepository(await reopen(repo))
    const missing = only(report, 'pack-missing')
    assert.equal(missing.pack, pack)
    assert.match(missing.message, /^pack [0-9a-f]{8}: missing/)
    // b.bin of the second snapshot lives only in packs of the second backup
    assert.deepEqual(affected(missing), { [second.id]: ['/home/me/b.bin'] })
    assert.ok(!(first.id in affected(missing)))
    assert.equal(report.suggestRepairIndex, true)
  })

  it('reports a deleted tree pack as missing trees at the paths of those directories', async () => {
    const { repo, first, second } = await twoSnapshots()
    const docs = first.dirs.get('/home/me/docs')!
    const pack = packOf(repo, 'tree', docs)
    await repo.backend.remove({ type: 'data', name: pack })
    const report = await checkRepository(await reopen(repo))
    const tree = report.errors.find((e) => e.kind === 'tree-missing' && e.tree === docs)
    assert.ok(tree, JSON.stringify(report.errors))
    assert.match(tree.message, /its pack [0-9a-f]{8} is missing/)
    // every tree of the first backup shared that pack, so the first snapshot lost its root and
    // docs/ is reachable only through the second one
    assert.deepEqual(affected(tree), { [second.id]: ['/home/me/docs'] })
    const root = report.errors.find((e) => e.kind === 'tree-missing' && e.tree === first.tree)
    assert.ok(root)
    assert.deepEqual(affected(root), { [first.id]: ['/'] })
  })

  it('reports the blobs of a deleted index file as missing, naming files, and suggests repair index', async () => {
    const { repo, first, second } = await twoSnapshots()
    const indexes = await repo.listIds('index')
    // the second backup's index lists the packs holding second.tree
    const reopened = await reopen(repo)
    await reopened.loadIndex()
    const packOfSecond = packOf(reopened, 'data', second.files.get('/home/me/b.bin')![0])
    let victim: Id | undefined
    for (const id of indexes) if ((await repo.loadUnpacked('index', id)).includes(packOfSecond)) victim = id
    await repo.backend.remove({ type: 'index', name: victim! })

    const report = await checkRepository(await reopen(repo))
    assert.equal(report.stats.indexFiles, 1)
    const root = report.errors.find((e) => e.kind === 'tree-missing' && e.tree === second.tree)
    assert.ok(root, 'the second root tree was indexed only by the deleted file')
    assert.deepEqual(affected(root), { [second.id]: ['/'] })
    assert.ok(report.hints.some((h) => h.kind === 'pack-unreferenced' && h.pack === packOfSecond))
    assert.equal(report.suggestRepairIndex, true)
    assert.ok(!report.errors.some((e) => (e.affected ?? []).some((s) => s.id === first.id)), 'the first snapshot is whole')
  })

  it('names the file whose blobs are not in the index', async () => {
    const repo = await createTestRepository()
    const a = await saveTestSnapshot(repo, { files: { '/x/keep.txt': 'keep', '/x/lost.bin': seededBytes(5, 2500) }, packSize: 1200 })
    await repo.loadIndex({ force: true })
    // drop the index entries of the pack holding lost.bin's second blob: rewrite the index without it
    const lostBlob = a.files.get('/x/lost.bin')!.at(-1)!
    const pack = packOf(repo, 'data', lostBlob)
    assert.notEqual(packOf(repo, 'data', a.files.get('/x/keep.txt')![0]), pack, 'setup: keep.txt is in another pack')
    const { decodeIndex, encodeIndex } = await import('../repository/index.js')
    for (const id of await repo.listIds('index')) {
      const file = decodeIndex(await repo.loadUnpacked('index', id))
      await repo.backend.remove({ type: 'index', name: id })
      await repo.saveUnpacked('index', encodeIndex({ supersedes: [], packs: file.packs.filter((p) => p.id !== pack) }))
    }
    const report = await checkRepository(await reopen(repo))
    const missing = only(report, 'blob-missing')
    assert.ok(missing.blobs!.includes(lostBlob))
    assert.match(missing.message, /^file "lost.bin" in tree [0-9a-f]{8}: \d data blobs? not in the index/)
    assert.deepEqual(affected(missing), { [a.id]: ['/x/lost.bin'] })
    assert.ok(report.hints.some((h) => h.kind === 'pack-unreferenced' && h.pack === pack))
  })

  it('reports a truncated snapshot file and goes on checking the others', async () => {
    const { repo, first, second } = await twoSnapshots()
    await tamper(repo.backend, { type: 'snapshots', name: first.id }, (b) => b.subarray(0, b.length - 10))
    const report = await checkRepository(await reopen(repo))
    const bad = only(report, 'snapshot-unreadable')
    assert.equal(bad.snapshot, first.id)
    assert.match(bad.message, /^snapshot [0-9a-f]{8}: cannot be read \(.*does not match its name/)
    assert.deepEqual(report.brokenSnapshots, [first.id])
    assert.equal(report.errors.length, 1)
    assert.equal(report.stats.snapshots, 2)
    assert.ok(decodeSnapshot(await repo.loadUnpacked('snapshots', second.id)))
  })

  it('tells a snapshot file it may not read (permissions) from a damaged one, and advises no forget for it', async () => {
    const { repo, first } = await twoSnapshots()
    const refused = new AppError('IO', `Cannot read "snapshots/${first.id}": permission denied (EACCES)`)
    const guarded = withMembers(repo.backend, {
      load: async (h: Handle, offset?: number, length?: number) => {
        if (h.type === 'snapshots' && h.name === first.id) throw refused
        return repo.backend.load(h, offset, length)
      },
    })
    const report = await checkRepository(await Repository.open(guarded, TEST_PASSWORD))
    assert.equal(only(report, 'snapshot-unreadable').snapshot, first.id)
    assert.deepEqual([report.unreadableSnapshots, report.brokenSnapshots], [[first.id], []])
  })

  it('finds a damaged tree blob while walking, without reading the data', async () => {
    const { repo, first, second } = await twoSnapshots()
    const docs = first.dirs.get('/home/me/docs')!
    await tamper(repo.backend, { type: 'data', name: packOf(repo, 'tree', docs) }, (b) => {
      b[offsetOf(repo, 'tree', docs) + 20] ^= 0xff
    })
    const report = await checkRepository(await reopen(repo))
    const tree = only(report, 'tree-damaged')
    assert.equal(tree.tree, docs)
    assert.deepEqual(affected(tree), { [first.id]: ['/home/me/docs'], [second.id]: ['/home/me/docs'] })
    // Its pack is named, so that check advises "repair packs" for it: it advised nothing.
    assert.equal(tree.pack, packOf(repo, 'tree', docs))
    assert.deepEqual(report.damagedPacks, [packOf(repo, 'tree', docs)])
  })

  it('tells a tree pack it may not read (permissions) from a damaged one', async () => {
    const { repo, first } = await twoSnapshots()
    const docs = first.dirs.get('/home/me/docs')!
    const pack = packOf(repo, 'tree', docs)
    const guarded = withMembers(repo.backend, {
      load: async (h: Handle, offset?: number, length?: number) => {
        if (h.type === 'data' && h.name === pack) throw new AppError('IO', `Cannot read "data/${pack}": permission denied (EACCES)`)
        return repo.backend.load(h, offset, length)
      },
    })
    const report = await checkRepository(await Repository.open(guarded, TEST_PASSWORD))
    const trees = report.errors.filter((e) => e.kind === 'tree-damaged')
    assert.ok(trees.length > 0 && trees.every((e) => e.pack === pack && /: cannot be read \(.*permission denied/.test(e.message)), JSON.stringify(trees))
    assert.deepEqual([report.unreadablePacks, report.damagedPacks], [[pack], []])
  })

  it('with readData on a local repository (packs read into reused shared buffers) finds a flipped byte in one pack of many', async () => {
    await withLocalRepository(async (repo) => {
      const files: Record<string, Buffer> = {}
      for (let i = 0; i < 12; i++) files[`/data/f${i}.bin`] = seededBytes(10 + i, 6000 + i * 700)
      const snap = await saveTestSnapshot(repo, { files, time: '2024-01-01T10:00:00Z', packSize: 4000 })
      const blob = snap.files.get('/data/f7.bin')![0]
      const pack = packOf(repo, 'data', blob)
      await tamper(repo.backend, { type: 'data', name: pack }, (b) => {
        b[offsetOf(repo, 'data', blob) + 40] ^= 0x01
      })
      const report = await checkRepository(await reopen(repo), { readData: true })
      assert.ok(report.stats.packsRead >= 12, `${report.stats.packsRead} packs read`)
      const damaged = only(report, 'blob-damaged')
      assert.equal(damaged.pack, pack)
      assert.deepEqual(damaged.blobs, [blob])
      assert.deepEqual(affected(damaged), { [snap.id]: ['/data/f7.bin'] })
      assert.deepEqual(report.brokenPacks, [pack])
      assert.equal(report.errors.length, 2, 'the blob, and the pack hash')
    })
  })

  it('with readData on a local repository verifies a large pack in parts and names damaged blobs of different parts in pack order', async () => {
    await withLocalRepository(async (repo) => {
      const files: Record<string, Buffer> = {}
      for (let i = 0; i < 10; i++) files[`/data/g${i}.bin`] = seededBytes(40 + i, 700_000)
      const snap = await saveTestSnapshot(repo, { files, time: '2024-01-01T10:00:00Z', packSize: 64 * 1024 * 1024 })
      const first = snap.files.get('/data/g0.bin')![0]
      const last = snap.files.get('/data/g9.bin')!.at(-1)!
      const pack = packOf(repo, 'data', first)
      assert.equal(packOf(repo, 'data', last), pack, 'one pack holds every file')
      assert.ok(offsetOf(repo, 'data', last) > 4 * 1024 * 1024, 'the pack is larger than one part')
      await tamper(repo.backend, { type: 'data', name: pack }, (b) => {
        b[offsetOf(repo, 'data', last) + 40] ^= 0x01
        b[offsetOf(repo, 'data', first) + 40] ^= 0x01
      })
      const report = await checkRepository(await reopen(repo), { readData: true })
      const damaged = only(report, 'blob-damaged')
      assert.deepEqual(damaged.blobs, [first, last])
      assert.deepEqual(affected(damaged), { [snap.id]: ['/data/g0.bin', '/data/g9.bin'] })
      assert.match(only(report, 'pack-hash').message, /2 of its blobs are damaged/)
    })
  })

  it('with readData on a local repository reads a large pack in parts, never whole, and hashes it in order', async () => {
    await withLocalRepository(async (repo) => {
      const files: Record<string, Buffer> = {}
      for (let i = 0; i < 12; i++) files[`/data/r${i}.bin`] = seededBytes(60 + i, 700_000)
      const snap = await saveTestSnapshot(repo, { files, time: '2024-01-01T10:00:00Z', packSize: 64 * 1024 * 1024 })
      const pack = packOf(repo, 'data', snap.files.get('/data/r0.bin')![0])
      const packSize = (await repo.backend.stat({ type: 'data', name: pack })).size
      assert.ok(packSize > 8 * 1024 * 1024, `the pack (${packSize} bytes) is larger than two parts`)
      const reopened = await reopen(repo)
      const reads: number[] = []
      const backend = reopened.backend as LocalBackend
      const loadInto = backend.loadInto.bind(backend)
      backend.loadInto = (h, into, offset, length) => {
        if (h.type === 'data' && h.name === pack) reads.push(length ?? packSize)
        return loadInto(h, into, offset, length)
      }
      const report = await checkRepository(reopened, { readData: true })
      assert.deepEqual(report.errors, [])
      assert.ok(reads.length >= 3, `${reads.length} reads`)
      assert.ok(Math.max(...reads) <= 4 * 1024 * 1024, `largest read ${Math.max(...reads)} bytes`)
    })
  })

  it('with readData on a local repository reports a damaged header of a pack read in parts, and no damaged blob', async () => {
    await withLocalRepository(async (repo) => {
      const snap = await saveTestSnapshot(repo, { files: { '/data/h.bin': seededBytes(77, 50_000) }, time: '2024-01-01T10:00:00Z' })
      const pack = packOf(repo, 'data', snap.files.get('/data/h.bin')![0])
      await tamper(repo.backend, { type: 'data', name: pack }, (b) => {
        b[b.length - 10] ^= 0x01 // inside the header's MAC
      })
      const report = await checkRepository(await reopen(repo), { readData: true })
      assert.equal(only(report, 'pack-header-damaged').pack, pack)
      assert.match(only(report, 'pack-hash').message, /every blob in it is intact, so the damage is in its header/)
      assert.equal(report.errors.filter((e) => e.kind === 'blob-damaged').length, 0)
    })
  })

  it('with readData on a local repository fails the check, and nothing else, when a worker fails while a pack is read in parts', async () => {
    await withLocalRepository(async (repo) => {
      const files: Record<string, Buffer> = {}
      for (let i = 0; i < 12; i++) files[`/data/w${i}.bin`] = seededBytes(80 + i, 700_000)
      await saveTestSnapshot(repo, { files, time: '2024-01-01T10:00:00Z', packSize: 64 * 1024 * 1024 })
      const reopened = await reopen(repo)
      await reopened.loadIndex()
      const packs = new Map<Id, PackToRead>()
      for (const b of reopened.index.blobs()) {
        if (!packs.has(b.packId)) packs.set(b.packId, { id: b.packId, blobs: [] })
        packs.get(b.packId)!.blobs.push(b)
      }
      let calls = 0
      const failing = {
        call: async () => {
          calls++
          throw new Error('worker failed')
        },
      } as unknown as WorkerPool
      const problems: unknown[] = []
      const ctx = { repo: reopened, index: reopened.index, badCopies: new Set<string>(), report: (p: unknown) => problems.push(p), concurrency: 3, verifier: failing, buffers: packSlots() }
      await assert.rejects(readPacks(ctx, [...packs.values()]), /worker failed/)
      assert.ok(calls >= 2, `${calls} calls: the pack was read on after the first failed`)
      assert.deepEqual(problems, [], 'a failing worker is not a damaged pack')
    })
  })

  it('reports a truncated pack and the blobs that lie past its end', async () => {
    const { repo, second } = await twoSnapshots()
    const blobs = second.files.get('/home/me/b.bin')!
    const pack = packOf(repo, 'data', blobs[0])
    await tamper(repo.backend, { type: 'data', name: pack }, (b) => b.subarray(0, offsetOf(repo, 'data', blobs[0]) + 10))
    const report = await checkRepository(await reopen(repo))
    const size = only(report, 'pack-size')
    assert.match(size.message, /unexpected size \d+ bytes, the index expects \d+, \d+ of its blobs lie past the end/)
    assert.deepEqual(affected(size), { [second.id]: ['/home/me/b.bin'] })
  })

  it('sends a truncated pack to repair packs, and a pack larger than its index to repair index', async () => {
    // A larger pack loses nothing; it was listed among the damaged packs all the same.
    const { repo, second } = await twoSnapshots()
    const blobs = second.files.get('/home/me/b.bin')!
    const pack = packOf(repo, 'data', blobs[0])
    await tamper(repo.backend, { type: 'data', name: pack }, (b) => b.subarray(0, offsetOf(repo, 'data', blobs[0]) + 10))
    const cut = await checkRepository(await reopen(repo))
    assert.deepEqual([cut.damagedPacks, cut.missingPacks], [[pack], []])
    // Larger because the index lacks the entry of its last blob: the header lists it.
    const { repo: other } = await twoSnapshots()
    const { decodeIndex, encodeIndex } = await import('../repository/index.js')
    const [indexId] = await other.listIds('index')
    const file = decodeIndex(await other.loadUnpacked('index', indexId))
    const some = file.packs.find((p) => p.blobs.length > 1)!
    await other.backend.remove({ type: 'index', name: indexId })
    await other.saveUnpacked('index', encodeIndex({ supersedes: [], packs: file.packs.map((p) => (p === some ? { ...p, blobs: p.blobs.slice(0, -1) } : p)) }))
    const longer = await checkRepository(await reopen(other))
    assert.deepEqual(longer.errors.map((e) => e.kind), ['pack-size', 'blob-missing'])
    assert.deepEqual([longer.brokenPacks, longer.damagedPacks], [[], []])
    assert.equal(longer.suggestRepairIndex, true)
    // Larger because bytes were appended: its header (read from the end) cannot be read, which
    // "repair index" cannot mend either. It sent the user there, and check said the same again.
    const { repo: fourth } = await twoSnapshots()
    const appended = [...fourth.index.packs()][0].id
    await tamper(fourth.backend, { type: 'data', name: appended }, (b) => Buffer.concat([b, Buffer.alloc(100, 7)]))
    const garbage = await checkRepository(await reopen(fourth))
    assert.match(only(garbage, 'pack-size').message, /the index expects \d+, and its header cannot be read \(.*invalid header length/)
    assert.deepEqual([garbage.brokenPacks, garbage.damagedPacks], [[appended], [appended]])
    assert.deepEqual(only(garbage, 'pack-size').affected, [], 'nothing is lost: the blobs are before the garbage')
    // Cut short in its header only (which comes after the blobs): damaged too. It went to repair
    // index, which cannot mend it, so check advised the same again and again.
    const { repo: third } = await twoSnapshots()
    const headerCut = [...third.index.packs()][0].id
    await tamper(third.backend, { type: 'data', name: headerCut }, (b) => b.subarray(0, b.length - 10))
    const shorter = await checkRepository(await reopen(third))
    assert.deepEqual([shorter.damagedPacks, shorter.missingPacks], [[headerCut], []])
  })

  it('treats a pack no index refers to as a hint, not an error', async () => {
    const { repo } = await twoSnapshots()
    const stray = await createTestRepository()
    await stray.withWriter((w) => w.saveBlob('data', Buffer.from('stray')))
    for await (const f of stray.backend.list('data')) await repo.backend.save({ type: 'data', name: f.name }, await stray.backend.load({ type: 'data', name: f.name }))
    const report = await checkRepository(await reopen(repo))
    assert.deepEqual(report.errors, [])
    assert.equal(report.hints.length, 1)
    assert.equal(report.hints[0].kind, 'pack-unreferenced')
    assert.equal(report.suggestPrune, true)
  })

  it('reports a pack listed in two index files as a hint', async () => {
    const { repo } = await twoSnapshots()
    const [one] = await repo.listIds('index')
    // the same JSON saved again: a new file (fresh IV, so a new name) listing the same packs
    await repo.saveUnpacked('index', await repo.loadUnpacked('index', one))
    const report = await checkRepository(await reopen(repo), { readData: true })
    assert.deepEqual(report.errors, [])
    assert.ok(report.hints.length > 0)
    assert.ok(report.hints.every((h) => h.kind === 'duplicate-pack'))
    assert.equal(report.suggestRepairIndex, true)
  })

  it('with readData reports a pack whose header and index disagree, and only that pack', async () => {
    const { repo } = await twoSnapshots()
    const [one] = await repo.listIds('index')
    const index = JSON.parse((await repo.loadUnpacked('index', one)).toString()) as { packs: Array<{ id: Id; blobs: Array<{ id: Id }> }> }
    const pack = index.packs[0]
    const blob = pack.blobs[0]
    const original = blob.id
    // The index now names another blob where the header names this one.
    blob.id = original.slice(0, -1) + (original.endsWith('0') ? '1' : '0')
    await repo.saveUnpacked('index', Buffer.from(JSON.stringify(index)))
    await repo.backend.remove({ type: 'index', name: one })
    const report = await checkRepository(await reopen(repo), { readData: true })
    const mismatch = only(report, 'pack-header-mismatch')
    assert.equal(mismatch.pack, pack.id)
    assert.ok(mismatch.message.includes(`blob ${original.slice(0, 8)} is not in the index`), mismatch.message)
    assert.ok(mismatch.message.includes(`blob ${blob.id.slice(0, 8)} that the header does not`), mismatch.message)
  })

  it('reports an unreadable index file and checks the rest', async () => {
    const { repo, first } = await twoSnapshots()
    const [one] = await repo.listIds('index')
    await tamper(repo.backend, { type: 'index', name: one }, (b) => {
      b[b.length - 1] ^= 1
    })
    const report = await checkRepository(await reopen(repo))
    const bad = report.errors.find((e) => e.kind === 'index-unreadable')
    assert.ok(bad)
    assert.equal(bad.index, one)
    assert.ok(report.errors.length > 1, 'what that index described is now missing')
    assert.equal(report.stats.snapshots, 2)
    assert.ok(first.id)
  })

  it('reports malformed nodes as restic does', async () => {
    const repo = await createTestRepository()
    const { encodeTree } = await import('../snapshots/index.js')
    const { testNode } = await import('../snapshots/testing.js')
    const { hashId } = await import('../base/index.js')
    const bytes = encodeTree([
      testNode({ name: Buffer.from('nil-content'), content: null }),
      testNode({ name: Buffer.from('no-subtree'), type: 'dir', content: null }),
      testNode({ name: Buffer.from('odd'), type: 'whiteout' as 'file', content: null }),
    ])
    await repo.withWriter((w) => w.saveBlob('tree', bytes))
    const { encodeSnapshot } = await import('../snapshots/index.js')
    const snap = await repo.saveUnpacked('snapshots', encodeSnapshot({ time: '2024-01-01T00:00:00Z', tree: hashId(bytes), paths: ['/'] }))
    const report = await checkRepository(await reopen(repo))
    const invalid = only(report, 'tree-invalid')
    assert.match(invalid.message, /file "nil-content" has no content list/)
    assert.match(invalid.message, /directory "no-subtree" has no subtree/)
    assert.match(invalid.message, /node "odd" has an invalid type "whiteout"/)
    assert.deepEqual(affected(invalid), { [snap]: ['/'] })
  })

  it('reads only the chosen group of packs with a subset, and all groups together cover every pack', async () => {
    const { repo } = await twoSnapshots()
    const all = (await checkRepository(await reopen(repo))).stats.packs
    let read = 0
    for (let n = 1; n <= 3; n++) read += (await checkRepository(await reopen(repo), { readDataSubset: `${n}/3` })).stats.packsRead
    assert.equal(read, all)
    const some = await checkRepository(await reopen(repo), { readDataSubset: '1%' })
    assert.equal(some.stats.packsRead, 1, 'a percentage reads at least one pack')
  })

  it('rejects --read-data together with --read-data-subset, and bad subsets', async () => {
    const repo = await createTestRepository()
    await assert.rejects(checkRepository(repo, { readData: true, readDataSubset: '1/2' }), /together/)
    await assert.rejects(checkRepository(repo, { readDataSubset: '3/2' }), /n <= t/)
  })

  it('stops when the signal is aborted', async () => {
    const { repo } = await twoSnapshots()
    const ac = new AbortController()
    ac.abort(new Error('stop here'))
    await assert.rejects(checkRepository(await reopen(repo), { readData: true, signal: ac.signal }), /stop here/)
  })

  it('lists the problems the walk finds before those reading data finds, though both run at once', async () => {
    const { repo, first } = await twoSnapshots()
    const docs = first.dirs.get('/home/me/docs')!
    await tamper(repo.backend, { type: 'data', name: packOf(repo, 'tree', docs) }, (b) => {
      b[offsetOf(repo, 'tree', docs) + 20] ^= 0xff
    })
    const [blob] = first.files.get('/home/me/a.txt')!
    await tamper(repo.backend, { type: 'data', name: packOf(repo, 'data', blob) }, (b) => {
      b[offsetOf(repo, 'data', blob) + 20] ^= 0xff
    })
    const report = await checkRepository(await reopen(repo), { readData: true })
    const kinds = report.errors.map((e) => e.kind)
    assert.ok(kinds.includes('tree-damaged') && kinds.includes('blob-damaged'), JSON.stringify(kinds))
    // Reading data reports the damaged tree pack too (its hash); every problem of the walk comes first.
    const lastOfWalk = kinds.lastIndexOf('tree-damaged')
    const firstOfData = kinds.findIndex((k) => k === 'blob-damaged' || k === 'pack-hash')
    assert.ok(lastOfWalk < firstOfData, JSON.stringify(kinds))
  })

  it('lets other work on its thread run during a long walk of trees', async () => {
    const repo = await createTestRepository()
    const files: Record<string, string> = {}
    for (let i = 0; i < 1500; i++) files[`/d${i}/f`] = `file ${i}`
    await saveTestSnapshot(repo, { files })
    let trees = 0
    let treesWhenTimerRan = -1
    const report = await checkRepository(await reopen(repo), {
      progress: {
        phase: (p) => {
          if (p === 'check-snapshots') setImmediate(() => (treesWhenTimerRan = trees))
        },
        advance: (p, n) => {
          if (p === 'check-snapshots') trees += n
        },
      },
    })
    assert.deepEqual(report.errors, [])
    assert.equal(trees, 1501)
    // A walk of trees whose pack is already loaded would otherwise hold the thread to its end.
    assert.ok(treesWhenTimerRan >= 0 && treesWhenTimerRan < trees, `the timer ran after ${treesWhenTimerRan} of ${trees} trees`)
  })

  it('reports progress for every phase', async () => {
    const { repo } = await twoSnapshots()
    const phases: string[] = []
    let trees = 0
    let bytes = 0
    await checkRepository(await reopen(repo), {
      readData: true,
      progress: {
        phase: (p) => phases.push(p),
        advance: (p, n, b) => {
          if (p === 'check-snapshots') trees += n
          bytes += b
        },
      },
    })
    // Reading data starts with the walk of the trees and runs beside it.
    assert.deepEqual(phases, ['load-index', 'check-packs', 'check-snapshots', 'read-data'])
    assert.equal(trees, 7)
    assert.ok(bytes > 12_000)
  })
})
