import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isAppError, type Id } from '../base/index.js'
import { LocalBackend, type Backend, type FileType, type Handle } from '../backends/index.js'
import { plaintextLength, Repository } from '../repository/index.js'
import { seededBytes, TEST_POLYNOMIAL, WEAK_SCRYPT } from '../repository/testing.js'
import { decodeSnapshot, decodeTree, type Snapshot } from '../snapshots/index.js'
import { runBackup } from './backup.js'
import { runCheck } from './check.js'
import { copySnapshots, similarSnapshots } from './copy.js'
import { fromRepositoryOptions, openFromRepository, sourceHint } from './from-repository.js'

const SRC_PASSWORD = 'source password'
const DST_PASSWORD = 'destination password'
const OTHER_POLYNOMIAL = 0x3de0c67e10fb91n

describe('similarSnapshots()', () => {
  const base: Snapshot = {
    time: '2026-01-02T03:04:05.123456789+01:00',
    tree: 'a'.repeat(64),
    paths: ['/srv', '/home'],
    hostname: 'nas',
    username: 'root',
    tags: ['x', 'y'],
    excludes: ['*.tmp', '*.bak'],
  }

  it('ignores parent and original, and compares times as instants, paths and tags as sets', () => {
    const other: Snapshot = {
      ...base,
      time: '2026-01-02T02:04:05.123456789Z',
      paths: ['/home', '/srv'],
      tags: ['y', 'x'],
      parent: 'b'.repeat(64),
      original: 'c'.repeat(64),
    }
    assert.equal(similarSnapshots(base, other), true)
    assert.equal(similarSnapshots(other, base), true)
  })

  it('tells apart every other field, and excludes in another order', () => {
    const changes: Partial<Snapshot>[] = [
      { time: '2026-01-02T03:04:05.123456788+01:00' },
      { tree: 'd'.repeat(64) },
      { paths: ['/srv'] },
      { paths: ['/srv', '/var'] },
      { hostname: 'other' },
      { hostname: undefined },
      { username: 'alice' },
      { uid: 1000 },
      { gid: 1000 },
      { tags: ['x'] },
      { tags: ['x', 'z'] },
      { excludes: ['*.bak', '*.tmp'] },
    ]
    for (const change of changes) assert.equal(similarSnapshots(base, { ...base, ...change }), false, JSON.stringify(change))
  })
})

/** A backend wrapper that records every load, so tests can see which source packs were read. */
function recordLoads(inner: Backend): { backend: Backend; loads: Array<{ type: FileType; name: string; offset: number; length: number }> } {
  const loads: Array<{ type: FileType; name: string; offset: number; length: number }> = []
  const backend: Backend = {
    get location() {
      return inner.location
    },
    get properties() {
      return inner.properties
    },
    create: () => inner.create(),
    save: (h, data) => inner.save(h, data),
    load: async (h: Handle, offset?: number, length?: number) => {
      const bytes = await inner.load(h, offset, length)
      loads.push({ type: h.type, name: h.name, offset: offset ?? 0, length: bytes.length })
      return bytes
    },
    stat: (h) => inner.stat(h),
    list: (type) => inner.list(type),
    remove: (h) => inner.remove(h),
    close: () => inner.close(),
  }
  return { backend, loads }
}

describe('copySnapshots() between local repositories', () => {
  let tmp: string
  let data: string
  let srcDir: string
  let first: Id
  let second: Id
  let dirs = 0

  const newRepo = async (password = DST_PASSWORD, polynomial = OTHER_POLYNOMIAL, version: 1 | 2 = 2) => {
    const dir = join(tmp, `repo-${++dirs}`)
    await (await Repository.init(new LocalBackend(dir), password, { scrypt: WEAK_SCRYPT, polynomial, version })).close()
    return dir
  }
  const open = (dir: string, password = DST_PASSWORD) => Repository.open(new LocalBackend(dir), password)
  /** Runs a copy from the source directory into `dst`, recording the source's loads. */
  const copy = async (dst: string, req: Parameters<typeof copySnapshots>[2] = {}) => {
    const rec = recordLoads(new LocalBackend(srcDir))
    const src = await Repository.open(rec.backend, SRC_PASSWORD)
    const d = await open(dst)
    try {
      const result = await copySnapshots(src, d, { threads: 0, ...req })
      return { result, loads: rec.loads }
    } finally {
      await src.close()
      await d.close()
    }
  }
  const snapshots = async (dir: string, password = DST_PASSWORD) => {
    const r = await open(dir, password)
    try {
      const out = new Map<Id, Snapshot>()
      for (const id of await r.listIds('snapshots')) out.set(id, decodeSnapshot(await r.loadUnpacked('snapshots', id)))
      return out
    } finally {
      await r.close()
    }
  }
  /** Every blob reachable from a tree, by type, with its plaintext hash checked by loading it. */
  const reachable = async (r: Repository, root: Id) => {
    const trees = new Set<Id>()
    const blobs = new Set<Id>()
    const walk = async (id: Id) => {
      trees.add(id)
      for (const n of decodeTree(await r.loadBlob('tree', id))) {
        for (const b of n.content ?? []) blobs.add(b)
        if (n.subtree && !trees.has(n.subtree)) await walk(n.subtree)
      }
    }
    await walk(root)
    for (const b of blobs) await r.loadBlob('data', b)
    return { trees, blobs }
  }
  const blobsOf = async (dir: string, password: string, root: Id) => {
    const r = await open(dir, password)
    try {
      await r.loadIndex()
      return await reachable(r, root)
    } finally {
      await r.close()
    }
  }
  const files = async (dir: string) => {
    const out: string[] = []
    for (const sub of ['data', 'index', 'snapshots', 'keys']) {
      const names = await fs.readdir(join(dir, sub), { recursive: true }).catch(() => [])
      out.push(...names.map((n) => `${sub}/${n}`))
    }
    return out.sort()
  }

  before(async () => {
    tmp = await fs.mkdtemp(join(tmpdir(), 'cairn-copy-'))
    data = join(tmp, 'data')
    await fs.mkdir(join(data, 'sub'), { recursive: true })
    await fs.writeFile(join(data, 'random.bin'), seededBytes(1, 3_000_000))
    await fs.writeFile(join(data, 'text.txt'), 'a line of text that compresses well\n'.repeat(30_000))
    await fs.writeFile(join(data, 'sub', 'small.txt'), 'small\n')
    srcDir = await newRepo(SRC_PASSWORD, TEST_POLYNOMIAL)
    const src = await open(srcDir, SRC_PASSWORD)
    try {
      first = (await runBackup(src, { paths: [data], host: 'alpha', tags: ['base'] })).snapshotId!
      await fs.writeFile(join(data, 'sub', 'new.bin'), seededBytes(2, 1_500_000))
      await fs.appendFile(join(data, 'sub', 'small.txt'), 'more\n')
      second = (await runBackup(src, { paths: [data], host: 'beta', parent: first })).snapshotId!
    } finally {
      await src.close()
    }
  })
  after(() => fs.rm(tmp, { recursive: true, force: true }))

  it('copies every snapshot with every blob it needs, re-encrypted; parent dropped, original set', async () => {
    const dst = await newRepo()
    const { result } = await copy(dst)
    assert.deepEqual(result.copied.map((c) => c.sourceId), [first, second])
    assert.equal(result.skipped.length, 0)
    const source = await snapshots(srcDir, SRC_PASSWORD)
    assert.ok(source.get(second)?.parent, 'the second source snapshot has a parent')
    const copied = await snapshots(dst)
    assert.equal(copied.size, 2)
    for (const c of result.copied) {
      const s = copied.get(c.id)
      assert.ok(s)
      const { parent: _parent, ...rest } = source.get(c.sourceId)!
      assert.deepEqual(s, { ...rest, original: c.sourceId })
    }
    let dataBlobs = 0
    for (const id of [first, second]) {
      const want = await blobsOf(srcDir, SRC_PASSWORD, source.get(id)!.tree)
      const got = await blobsOf(dst, DST_PASSWORD, source.get(id)!.tree)
      assert.deepEqual(got, want, 'the same trees and data blobs, each loadable (so hash-checked) in the destination')
      dataBlobs = Math.max(dataBlobs, want.blobs.size)
    }
    const all = new Set([...(await blobsOf(srcDir, SRC_PASSWORD, source.get(first)!.tree)).blobs, ...(await blobsOf(srcDir, SRC_PASSWORD, source.get(second)!.tree)).blobs])
    assert.equal(result.dataBlobs, all.size, 'each data blob stored once')
    const report = await runCheck({ repo: dst, env: { CAIRN_PASSWORD: DST_PASSWORD }, noLock: true }, { readData: true })
    assert.deepEqual(report.errors, [])
    assert.equal(report.stats.snapshots, 2)
  })

  it('reads each needed source data pack once at most, never a byte twice', async () => {
    const dst = await newRepo()
    const { result, loads } = await copy(dst)
    const byPack = new Map<string, Array<[number, number]>>()
    for (const l of loads.filter((l) => l.type === 'data')) {
      const list = byPack.get(l.name) ?? []
      list.push([l.offset, l.offset + l.length])
      byPack.set(l.name, list)
    }
    for (const [pack, ranges] of byPack) {
      ranges.sort((a, b) => a[0] - b[0])
      for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i][0] >= ranges[i - 1][1], `pack ${pack} was read twice in part`)
    }
    assert.ok(result.packsRead > 0)
    const src = await open(srcDir, SRC_PASSWORD)
    assert.ok(byPack.size <= (await src.listIds('data')).length)
    await src.close()
  })

  it('a second copy copies nothing and reads no source pack', async () => {
    const dst = await newRepo()
    await copy(dst)
    const before = await files(dst)
    const { result, loads } = await copy(dst)
    assert.equal(result.copied.length, 0)
    assert.deepEqual(
      result.skipped.map((s) => s.sourceId),
      [first, second],
    )
    assert.deepEqual([result.dataBlobs, result.treeBlobs, result.bytes, result.packsRead], [0, 0, 0, 0])
    assert.deepEqual(
      loads.filter((l) => l.type === 'data'),
      [],
    )
    assert.deepEqual(await files(dst), before, 'no file added to the destination')
  })

  it('copies the selected snapshots only, by ID and by host, and then skips them', async () => {
    const dst = await newRepo()
    const byId = await copy(dst, { snapshots: [first.slice(0, 8)] })
    assert.deepEqual(byId.result.copied.map((c) => c.sourceId), [first])
    const byHost = await copy(dst, { filter: { hosts: ['beta'] } })
    assert.deepEqual(byHost.result.copied.map((c) => c.sourceId), [second])
    const warnings: string[] = []
    const rest = await copySnapshots(await Repository.open(new LocalBackend(srcDir), SRC_PASSWORD), await open(dst), { snapshots: ['latest', 'ffffffff'], threads: 0 }, (m) => warnings.push(m))
    assert.deepEqual(rest.copied, [])
    assert.deepEqual(rest.skipped.map((s) => s.sourceId), [second])
    assert.match(warnings.join('\n'), /ffffffff/)
    assert.equal((await snapshots(dst)).size, 2)
  })

  it('stores only the blobs the destination lacks', async () => {
    const dst = await newRepo()
    await copy(dst, { snapshots: [first] })
    const source = await snapshots(srcDir, SRC_PASSWORD)
    const had = await blobsOf(srcDir, SRC_PASSWORD, source.get(first)!.tree)
    const needs = await blobsOf(srcDir, SRC_PASSWORD, source.get(second)!.tree)
    const missing = [...needs.blobs].filter((b) => !had.blobs.has(b))
    const missingTrees = [...needs.trees].filter((t) => !had.trees.has(t))
    assert.ok(missing.length > 0 && missing.length < needs.blobs.size, 'the second snapshot shares some data with the first')

    const { result, loads } = await copy(dst, { snapshots: [second] })
    assert.equal(result.dataBlobs, missing.length)
    assert.equal(result.treeBlobs, missingTrees.length)
    const src = await open(srcDir, SRC_PASSWORD)
    await src.loadIndex()
    const bytes =
      missing.reduce((n, id) => n + plaintextLength(src.index.lookup('data', id)!), 0) +
      missingTrees.reduce((n, id) => n + plaintextLength(src.index.lookup('tree', id)!), 0)
    const missingPacks = new Set(missing.map((id) => src.index.lookup('data', id)!.packId))
    const treePacks = new Set([...needs.trees].map((id) => src.index.lookup('tree', id)!.packId))
    await src.close()
    assert.equal(result.bytes, bytes)
    const readPacks = new Set(loads.filter((l) => l.type === 'data').map((l) => l.name))
    assert.deepEqual([...readPacks].filter((p) => !missingPacks.has(p) && !treePacks.has(p)), [], 'no pack without a needed blob is read')
  })

  it('blobs stored in the destination beforehand are not stored again', async () => {
    const dst = await newRepo()
    const d = await open(dst)
    const pre = seededBytes(1, 3_000_000)
    // The destination already holds random.bin's chunks, stored on its own (same polynomial).
    const source = await snapshots(srcDir, SRC_PASSWORD)
    const src = await open(srcDir, SRC_PASSWORD)
    await src.loadIndex()
    const root = decodeTree(await src.loadBlob('tree', source.get(first)!.tree))
    let node = root
    for (const part of data.split('/').filter((p) => p !== '')) {
      node = decodeTree(await src.loadBlob('tree', node.find((n) => n.name.toString() === part)!.subtree!))
    }
    const chunks = node.find((n) => n.name.toString() === 'random.bin')!.content!
    const parts = await Promise.all(chunks.map((id) => src.loadBlob('data', id)))
    assert.deepEqual(Buffer.concat(parts), pre)
    await d.withWriter(async (w) => {
      for (const p of parts) await w.saveBlob('data', p)
    }, { threads: 0 })
    await d.close()
    await src.close()

    const all = await blobsOf(srcDir, SRC_PASSWORD, source.get(first)!.tree)
    const { result } = await copy(dst, { snapshots: [first] })
    assert.equal(result.dataBlobs, all.blobs.size - chunks.length)
  })

  it('writes uncompressed blobs into a version 1 destination', async () => {
    const dst = await newRepo(DST_PASSWORD, OTHER_POLYNOMIAL, 1)
    const { result } = await copy(dst)
    assert.equal(result.copied.length, 2)
    const d = await open(dst)
    await d.loadIndex()
    const blobs = [...d.index.blobs()]
    await d.close()
    assert.ok(blobs.length > 0)
    assert.deepEqual(blobs.filter((b) => b.uncompressedLength !== 0), [])
    const report = await runCheck({ repo: dst, env: { CAIRN_PASSWORD: DST_PASSWORD }, noLock: true }, { readData: true })
    assert.deepEqual(report.errors, [])
  })

  it('with the chunker polynomial copied, the same data backed up into both repositories dedups across the copy', async () => {
    for (const [polynomial, dedups] of [
      [TEST_POLYNOMIAL, true],
      [OTHER_POLYNOMIAL, false],
    ] as const) {
      const dst = await newRepo(DST_PASSWORD, polynomial)
      const d = await open(dst)
      const own = await runBackup(d, { paths: [join(data, 'random.bin')], host: 'gamma' })
      await d.close()
      const src = await open(srcDir, SRC_PASSWORD)
      await src.loadIndex()
      const fromSource = await reachable(src, (await snapshots(srcDir, SRC_PASSWORD)).get(first)!.tree).finally(() => src.close())
      const fromOwn = await blobsOf(dst, DST_PASSWORD, own.snapshot.tree)
      const shared = [...fromOwn.blobs].filter((b) => fromSource.blobs.has(b))
      const { result } = await copy(dst, { snapshots: [first] })
      if (dedups) {
        assert.equal(shared.length, fromOwn.blobs.size, 'identical blob IDs for random.bin')
        assert.equal(result.dataBlobs, fromSource.blobs.size - fromOwn.blobs.size, 'random.bin is not stored twice')
      } else {
        assert.equal(shared.length, 0, 'another polynomial cuts other chunks')
        assert.equal(result.dataBlobs, fromSource.blobs.size)
      }
    }
  })

  it('a copy that fails on a lost source pack writes no snapshot for the data it could not copy', async () => {
    const broken = join(tmp, 'broken-source')
    await fs.cp(srcDir, broken, { recursive: true })
    const source = await snapshots(srcDir, SRC_PASSWORD)
    const a = await blobsOf(srcDir, SRC_PASSWORD, source.get(first)!.tree)
    const b = await blobsOf(srcDir, SRC_PASSWORD, source.get(second)!.tree)
    const src = await open(srcDir, SRC_PASSWORD)
    await src.loadIndex()
    const lost = src.index.lookup('data', [...b.blobs].find((id) => !a.blobs.has(id))!)!.packId
    const inLost = [...a.blobs].filter((id) => src.index.lookup('data', id)!.packId === lost)
    await src.close()
    assert.deepEqual(inLost, [], 'the first snapshot needs nothing from the lost pack')
    await fs.rm(join(broken, 'data', lost.slice(0, 2), lost))

    const dst = await newRepo()
    const s = await Repository.open(new LocalBackend(broken), SRC_PASSWORD)
    const d = await open(dst)
    await assert.rejects(
      copySnapshots(s, d, { threads: 0 }).finally(async () => {
        await s.close()
        await d.close()
      }),
      (err) => isAppError(err, 'NOT_FOUND') && err.message.includes(lost),
    )
    const left = [...(await snapshots(dst)).values()]
    assert.deepEqual(left.map((x) => x.original), [first], 'only the complete snapshot was saved')
    const report = await runCheck({ repo: dst, env: { CAIRN_PASSWORD: DST_PASSWORD }, noLock: true }, { readData: true })
    assert.deepEqual(report.errors, [])
  })

  it('refuses a wrong source password with WRONG_PASSWORD naming the source repository', async () => {
    await assert.rejects(
      openFromRepository({ env: { RESTIC_FROM_PASSWORD: 'wrong', CAIRN_PASSWORD: SRC_PASSWORD } }, { fromRepo: srcDir }),
      (err) => isAppError(err, 'WRONG_PASSWORD') && err.message.includes(`source repository "${srcDir}"`),
    )
    const ok = await openFromRepository({ env: { RESTIC_FROM_PASSWORD: SRC_PASSWORD, CAIRN_PASSWORD: 'wrong' } }, { fromRepo: srcDir })
    assert.equal(ok.location, srcDir)
    await ok.close()
  })

  it('says why a source password file or command failed, not that no password was given', async () => {
    // Both said "No password given for the source repository … use --from-password-file".
    const missing = join(srcDir, 'no-such-password-file')
    await assert.rejects(
      openFromRepository({ env: {} }, { fromRepo: srcDir, fromPasswordFile: missing }),
      (err) => isAppError(err, 'NO_PASSWORD') && err.message.includes(`Cannot read password file "${missing}": ENOENT`) && err.message.includes(srcDir) && /--from-password-file/.test(err.hint ?? ''),
    )
    await assert.rejects(
      openFromRepository({ env: {} }, { fromRepo: srcDir, fromPasswordCommand: 'exit 3' }),
      (err) => isAppError(err, 'NO_PASSWORD') && err.message.startsWith('Password command "exit 3" failed'),
    )
    await assert.rejects(openFromRepository({ env: {} }, { fromRepo: srcDir }), (err) => isAppError(err, 'NO_PASSWORD') && err.message.startsWith('No password given for the source repository'))
  })
})

describe('sourceHint()', () => {
  it('names the --from variables and flags', () => {
    // The hint for a source password not piped in named CAIRN_PASSWORD and --password-command, the destination's.
    assert.equal(
      sourceHint('Pipe the password into the command, or give it with CAIRN_PASSWORD, --password-file or --password-command'),
      'Pipe the password into the command, or give it with CAIRN_FROM_PASSWORD, --from-password-file or --from-password-command',
    )
    assert.equal(sourceHint('Set RESTIC_PASSWORD_FILE; --from-password-file stays'), 'Set RESTIC_FROM_PASSWORD_FILE; --from-password-file stays')
  })
})

describe('fromRepositoryOptions()', () => {
  it('takes the source from the flags first, then CAIRN_FROM_*, then RESTIC_FROM_*, never the main variables', async () => {
    const env = {
      CAIRN_REPOSITORY: '/main',
      CAIRN_PASSWORD: 'main',
      RESTIC_PASSWORD_FILE: '/main-pass',
      RESTIC_FROM_REPOSITORY: '/restic-from',
      CAIRN_FROM_REPOSITORY: '/cairn-from',
      RESTIC_FROM_PASSWORD: 'from',
      RESTIC_FROM_KEY_HINT: 'abc',
    }
    const o = await fromRepositoryOptions({ env }, {})
    assert.equal(o.repo, '/cairn-from')
    assert.equal(o.keyHint, 'abc')
    assert.equal(o.passwordFile, undefined)
    assert.equal(o.env?.CAIRN_PASSWORD, 'from')
    assert.equal(o.env?.RESTIC_PASSWORD_FILE, undefined)
    assert.equal((await fromRepositoryOptions({ env }, { fromRepo: '/flag' })).repo, '/flag')
    const withFile = await fromRepositoryOptions({ env: { ...env, RESTIC_FROM_PASSWORD_FILE: '/from-pass' } }, { fromKeyHint: 'def' })
    assert.equal(withFile.passwordFile, '/from-pass')
    assert.equal(withFile.keyHint, 'def')
  })

  it('reads --from-repository-file, and rejects two locations or none', async () => {
    const dir = await fs.mkdtemp(join(tmpdir(), 'cairn-from-'))
    try {
      const file = join(dir, 'repo.txt')
      await fs.writeFile(file, '  /srv/backup\n')
      assert.equal((await fromRepositoryOptions({ env: {} }, { fromRepositoryFile: file })).repo, '/srv/backup')
      assert.equal((await fromRepositoryOptions({ env: { RESTIC_FROM_REPOSITORY_FILE: file } }, {})).repo, '/srv/backup')
      await assert.rejects(fromRepositoryOptions({ env: {} }, { fromRepo: '/a', fromRepositoryFile: file }), /mutually exclusive/)
      await assert.rejects(fromRepositoryOptions({ env: {} }, {}), (err) => isAppError(err, 'INVALID_ARGUMENT') && /--from-repo/.test(err.message))
      await assert.rejects(fromRepositoryOptions({ env: {} }, { fromRepositoryFile: join(dir, 'missing') }), /ENOENT/)
    } finally {
      await fs.rm(dir, { recursive: true, force: true })
    }
  })
})
