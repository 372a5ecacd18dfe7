import { readdirSync } from 'node:fs'
import assert from 'node:assert/strict'
import { appendFile, link, mkdtemp, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { AppError, type Id } from '../base/index.js'
import { MemoryBackend, type Backend, type FileType } from '../backends/index.js'
import { tamper, withMembers } from '../backends/testing/overrides.js'
import { Repository } from '../repository/index.js'
import { createTestRepository, seededBytes, TEST_PASSWORD } from '../repository/testing.js'
import { decodeSnapshot } from '../snapshots/index.js'
import { backup, type BackupOptions, type BackupProgress } from './archiver.js'
import { ExcludeMatcher } from './exclude.js'
import { fileContent, names, nodeAt, nodesAt, writeFiles } from './testing.js'

const SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55'

/** Progress callbacks that record everything. */
function recorder() {
  const items: Array<{ path: string; kind: string; status: string; bytes: number }> = []
  const errors: Array<{ path: string; message: string }> = []
  let bytes = 0
  const progress: BackupProgress = {
    onItem: (path, kind, status, n) => items.push({ path, kind, status, bytes: n }),
    onBytes: (n) => {
      bytes += n
    },
    onError: (path, err) => errors.push({ path, message: err.message }),
  }
  return { progress, items, errors, bytes: () => bytes }
}

async function countFiles(be: Backend): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const t of ['data', 'index', 'snapshots', 'locks'] as FileType[]) {
    out[t] = 0
    for await (const _ of be.list(t)) out[t]++
  }
  return out
}

/** The tree ID of the directory at `path`: compared instead of root trees, which hold /tmp's times. */
async function subtreeOf(repo: Repository, root: Id, path: string): Promise<Id | undefined> {
  return (await nodeAt(repo, root, path)).subtree
}

function run(repo: Repository, paths: string[], extra: Partial<BackupOptions> = {}) {
  return backup(repo, { paths, excludes: new ExcludeMatcher(), hostname: 'test-host', ...extra })
}

describe('backup()', () => {
  let dir: string
  let src: string
  const big = seededBytes(42, 3 * 1024 * 1024 + 12345)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-archiver-'))
    src = join(dir, 'src')
    await writeFiles(src, {
      'a.txt': 'hello world\n',
      'empty.txt': '',
      'big.bin': big,
      'sub/b.txt': 'in a sub-directory\n',
      'sub/deeper/c.txt': 'deeper still\n',
      'emptydir': { dir: true },
      'link': { symlink: 'a.txt' },
    })
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('writes a snapshot whose root tree mirrors the absolute path', async () => {
    const repo = await createTestRepository({ workers: true })
    const { snapshotId, snapshot, summary } = await run(repo, [src], { tags: ['t1'] })
    assert.ok(snapshotId)
    const stored = decodeSnapshot(await repo.loadUnpacked('snapshots', snapshotId))
    assert.equal(stored.tree, snapshot.tree)
    assert.deepEqual(stored.paths, [src])
    assert.equal(stored.hostname, 'test-host')
    assert.deepEqual(stored.tags, ['t1'])
    // "/" holds the first component of the temp dir, and so on down to the source
    const parts = src.split('/').filter((p) => p !== '')
    let path = ''
    for (const part of parts) {
      assert.deepEqual(names(await nodesAt(repo, snapshot.tree, path || '/')), [part], `only "${part}" below "${path || '/'}"`)
      path += '/' + part
    }
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, src)), ['a.txt', 'big.bin', 'empty.txt', 'emptydir', 'link', 'sub'])
    assert.equal(summary.filesNew, 6 - 1 /* link */ - 1 /* emptydir */ - 1 /* sub */ + 2 /* sub files */)
    assert.equal(summary.errors, 0)
  })

  it('stores file content that reads back blob by blob, and node metadata', async () => {
    const repo = await createTestRepository()
    const { snapshot } = await run(repo, [src])
    const bigNode = await nodeAt(repo, snapshot.tree, `${src}/big.bin`)
    assert.ok(bigNode.content!.length > 1, 'a 3 MiB file is cut into several chunks')
    assert.deepEqual(await fileContent(repo, bigNode), big)
    assert.equal(bigNode.size, big.length)
    const a = await nodeAt(repo, snapshot.tree, `${src}/a.txt`)
    assert.equal((await fileContent(repo, a)).toString(), 'hello world\n')
    assert.equal(a.inode, (await stat(join(src, 'a.txt'), { bigint: true })).ino)
    assert.deepEqual((await nodeAt(repo, snapshot.tree, `${src}/empty.txt`)).content, [])
    const c = await nodeAt(repo, snapshot.tree, `${src}/sub/deeper/c.txt`)
    assert.equal((await fileContent(repo, c)).toString(), 'deeper still\n')
    const l = await nodeAt(repo, snapshot.tree, `${src}/link`)
    assert.equal(l.type, 'symlink')
    assert.equal(l.linktarget, 'a.txt')
    assert.deepEqual(await nodesAt(repo, snapshot.tree, `${src}/emptydir`), [])
  })

  it('backs up several paths and a single file, each under its absolute path', async () => {
    const repo = await createTestRepository()
    const { snapshot } = await run(repo, [join(src, 'sub/deeper'), join(src, 'a.txt')])
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, src)), ['a.txt', 'sub'])
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, `${src}/sub`)), ['deeper'])
    // restic sorts the snapshot's paths
    assert.deepEqual(snapshot.paths, [join(src, 'a.txt'), join(src, 'sub/deeper')])
  })

  it('mirrors relative targets as restic does: "." stands for its entries, "sub/deeper" stays relative', async () => {
    const repo = await createTestRepository()
    const cwd = process.cwd()
    process.chdir(src)
    try {
      const dot = await run(repo, ['.'])
      // the root tree holds the entries of "." itself, not /path/to/src
      const expected = readdirSync(src).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      assert.deepEqual(names(await nodesAt(repo, dot.snapshot.tree, '/')), expected)
      assert.deepEqual(dot.snapshot.paths, [src])
      const rel = await run(repo, ['sub/deeper'])
      assert.deepEqual(names(await nodesAt(repo, rel.snapshot.tree, '/')), ['sub'])
      assert.deepEqual(names(await nodesAt(repo, rel.snapshot.tree, '/sub')), ['deeper'])
      assert.deepEqual(rel.snapshot.paths, [join(src, 'sub/deeper')])
    } finally {
      process.chdir(cwd)
    }
  })

  it('honours exclude patterns, exclude-caches and exclude-larger-than', async () => {
    const root = join(dir, 'excl')
    await writeFiles(root, {
      'keep.txt': 'k',
      'drop.tmp': 'd',
      'sub/also.tmp': 'd',
      'sub/keep2.txt': 'k',
      'cache/CACHEDIR.TAG': `${SIGNATURE}\n`,
      'cache/blob.bin': 'cached',
      'notcache/CACHEDIR.TAG': 'not a signature',
      'notcache/x': 'x',
      'large.bin': seededBytes(1, 5000),
    })
    const repo = await createTestRepository()
    const excludes = new ExcludeMatcher({ exclude: ['*.tmp'], excludeCaches: true, excludeLargerThan: 4096 })
    const { snapshot } = await run(repo, [root], { excludes, excludePatterns: ['*.tmp'] })
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, root)), ['cache', 'keep.txt', 'notcache', 'sub'])
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, `${root}/sub`)), ['keep2.txt'])
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, `${root}/cache`)), ['CACHEDIR.TAG'])
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, `${root}/notcache`)), ['CACHEDIR.TAG', 'x'])
    assert.deepEqual(snapshot.excludes, ['*.tmp'])
  })

  it('never stores an excluded path given in excludePaths (the repository folder)', async () => {
    const root = join(dir, 'with-repo')
    await writeFiles(root, { 'doc.txt': 'd', 'repo/config': 'x', 'repo/data/00/pack': 'p', 'repository/other': 'o' })
    const repo = await createTestRepository()
    const excludes = new ExcludeMatcher({ excludePaths: [join(root, 'repo')] })
    const { snapshot } = await run(repo, [root], { excludes })
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, root)), ['doc.txt', 'repository'])
  })

  it('a second backup with the parent reads no unchanged file', async () => {
    const repo = await createTestRepository()
    const first = await run(repo, [src])
    const r = recorder()
    const before = await countFiles(repo.backend)
    const dataBefore = [...repo.index.blobs('data')].length
    const second = await run(repo, [src], { parent: { id: first.snapshotId!, snapshot: first.snapshot }, progress: r.progress })
    const s = second.summary
    assert.equal(s.filesUnmodified, 5)
    assert.equal(s.filesNew + s.filesChanged, 0)
    assert.equal(s.dataBlobs, 0, 'no data blob was added')
    // Only the trees above the source may be new: /tmp changes whenever anyone makes a file there.
    assert.ok(s.treeBlobs <= src.split('/').length - 1, `${s.treeBlobs} new trees`)
    assert.equal(await subtreeOf(repo, second.snapshot.tree, src), await subtreeOf(repo, first.snapshot.tree, src))
    assert.equal(second.snapshot.parent, first.snapshotId)
    assert.deepEqual(
      r.items.filter((i) => i.kind === 'file').map((i) => i.status),
      Array(5).fill('unmodified'),
    )
    // unmodified files still count their size, so progress reaches 100%
    assert.equal(r.bytes(), s.totalBytesProcessed)
    assert.equal([...repo.index.blobs('data')].length, dataBefore, 'no data pack written')
    assert.equal((await countFiles(repo.backend)).snapshots, before.snapshots + 1)
  })

  it('a second backup re-reads a file that changed and keeps the others', async () => {
    const root = join(dir, 'changing')
    await writeFiles(root, { 'same.txt': 'same', 'grows.txt': 'v1' })
    const repo = await createTestRepository()
    const first = await run(repo, [root])
    await appendFile(join(root, 'grows.txt'), ' and v2')
    const r = recorder()
    const second = await run(repo, [root], { parent: { id: first.snapshotId!, snapshot: first.snapshot }, progress: r.progress })
    assert.equal(second.summary.filesUnmodified, 1)
    assert.equal(second.summary.filesChanged, 1)
    assert.equal(second.summary.dataBlobs, 1)
    const node = await nodeAt(repo, second.snapshot.tree, `${root}/grows.txt`)
    assert.equal((await fileContent(repo, node)).toString(), 'v1 and v2')
    assert.deepEqual(
      r.items.filter((i) => i.kind === 'dir' && i.path === root).map((i) => i.status),
      ['changed'],
    )
  })


  it('with ignoreInode and ignoreCtime, a file given a new inode and ctime (copied over itself) is not read again', async () => {
    const root = join(dir, 'renumbered')
    await writeFiles(root, { 'a.txt': 'alpha', 'b.txt': 'beta' })
    // Whole seconds, so that a copy can be given the very same mtime.
    const mtime = 1_700_000_000
    for (const f of ['a.txt', 'b.txt']) await utimes(join(root, f), mtime, mtime)
    const repo = await createTestRepository()
    const first = await run(repo, [root])
    // A new inode and ctime with the same size and mtime, as a copy with -p gives.
    for (const f of ['a.txt', 'b.txt']) {
      const path = join(root, f)
      await writeFile(`${path}.tmp`, await readFile(path))
      await utimes(`${path}.tmp`, mtime, mtime)
      await rename(`${path}.tmp`, path)
    }
    const parent = { id: first.snapshotId!, snapshot: first.snapshot }
    const strict = await run(repo, [root], { parent, dryRun: true })
    assert.equal(strict.summary.filesChanged, 2, 'by default a new inode is a change')
    const lenient = await run(repo, [root], { parent, ignoreInode: true, ignoreCtime: true })
    assert.deepEqual([lenient.summary.filesUnmodified, lenient.summary.filesChanged], [2, 0])
    const node = await nodeAt(repo, lenient.snapshot.tree, `${root}/a.txt`)
    assert.equal(node.inode, (await stat(join(root, 'a.txt'), { bigint: true })).ino, 'the node records the new inode')
    assert.equal((await fileContent(repo, node)).toString(), 'alpha')
    const inodeOnly = await run(repo, [root], { parent, ignoreInode: true, dryRun: true })
    assert.equal(inodeOnly.summary.filesChanged, 2, 'a changed ctime still counts without ignoreCtime')
  })

  it('records the access time as the mtime, as restic does, and as it is with withAtime', async () => {
    const root = join(dir, 'atimes')
    await writeFiles(root, { 'f.txt': 'x', 'sub/g.txt': 'y' })
    const setTimes = async () => {
      for (const p of ['f.txt', 'sub']) await utimes(join(root, p), 1_500_000_000, 1_600_000_000)
    }
    const repo = await createTestRepository()
    await setTimes()
    const plain = await run(repo, [root])
    // Set again: reading a file or listing a folder may move its atime (relatime). Each entry is
    // stat'ed before it is read, so the backup sees these.
    await setTimes()
    const withAtime = await run(repo, [root], { withAtime: true, force: true })
    for (const p of ['f.txt', 'sub']) {
      const a = await nodeAt(repo, plain.snapshot.tree, `${root}/${p}`)
      assert.equal(a.atime, a.mtime, p)
      const b = await nodeAt(repo, withAtime.snapshot.tree, `${root}/${p}`)
      assert.equal(new Date(b.atime).getTime(), 1_500_000_000_000, p)
      assert.equal(new Date(b.mtime).getTime(), 1_600_000_000_000, p)
    }
  })

  it('a large file changed in place gets the chunks a full read gives, and only the changed chunks are new', async () => {
    const root = join(dir, 'image')
    const image = seededBytes(77, 14 * 1024 * 1024 + 3)
    await writeFiles(root, { 'disk.img': image })
    const repo = await createTestRepository()
    const first = await run(repo, [root])
    const changed = Buffer.from(image)
    seededBytes(78, 4096).copy(changed, 7 * 1024 * 1024)
    await writeFile(join(root, 'disk.img'), Buffer.concat([changed, Buffer.from('appended')]))
    const parent = { id: first.snapshotId!, snapshot: first.snapshot }
    const second = await run(repo, [root], { parent })
    // Without a parent, the file is chunked from end to end.
    const whole = await run(repo, [root])
    assert.equal(second.summary.filesChanged, 1)
    const node = await nodeAt(repo, second.snapshot.tree, `${root}/disk.img`)
    assert.deepEqual(node.content, (await nodeAt(repo, whole.snapshot.tree, `${root}/disk.img`)).content)
    assert.ok(second.summary.dataBlobs >= 1 && second.summary.dataBlobs <= 4, `${second.summary.dataBlobs} new chunks`)
    assert.deepEqual(await fileContent(repo, node), Buffer.concat([changed, Buffer.from('appended')]))
  })

  it('keeps names that are not UTF-8 as their bytes, and matches every name with its parent node', async () => {
    // Directories whose names are all UTF-8 are listed as strings; one bad name switches a
    // directory to bytes. A real U+FFFD must not be confused with a bad byte.
    const root = join(dir, 'names')
    await writeFiles(root, { 'plain/a.txt': 'a', 'plain/b.txt': 'b', 'mixed/ok.txt': 'ok', 'mixed/\ufffd-real.txt': 'real' })
    const bytesDir = Buffer.from(join(root, 'mixed'))
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]) // "café" in Latin-1
    const lone = Buffer.from([0x78, 0xff])
    await writeFile(Buffer.concat([bytesDir, Buffer.from('/'), latin1]), 'latin1')
    await writeFile(Buffer.concat([bytesDir, Buffer.from('/'), lone]), 'lone byte')
    const repo = await createTestRepository()
    const first = await run(repo, [root])
    assert.equal(first.summary.errors, 0)
    const mixed = await nodesAt(repo, first.snapshot.tree, `${root}/mixed`)
    const stored = mixed.map((n) => n.name.toString('hex')).sort()
    const want = [latin1, lone, Buffer.from('ok.txt'), Buffer.from('\ufffd-real.txt')].map((b) => b.toString('hex')).sort()
    assert.deepEqual(stored, want)
    const node = mixed.find((n) => n.name.equals(latin1))!
    assert.equal((await fileContent(repo, node)).toString(), 'latin1')

    const r = recorder()
    const second = await run(repo, [root], { parent: { id: first.snapshotId!, snapshot: first.snapshot }, progress: r.progress })
    assert.equal(second.summary.filesUnmodified, 6, 'every file, whatever its name, found its parent node')
    assert.equal(second.summary.filesNew + second.summary.filesChanged, 0)
    assert.equal(await subtreeOf(repo, second.snapshot.tree, `${root}/mixed`), await subtreeOf(repo, first.snapshot.tree, `${root}/mixed`))
  })
  it('force reads every file even with a parent', async () => {
    const repo = await createTestRepository()
    const first = await run(repo, [src])
    const second = await run(repo, [src], { parent: { id: first.snapshotId!, snapshot: first.snapshot }, force: true })
    assert.equal(second.summary.filesUnmodified, 0)
    assert.equal(second.summary.dataBlobs, 0, 'everything deduplicates')
  })

  it('reports a missing source path through onError and still writes a snapshot', async () => {
    const repo = await createTestRepository()
    const r = recorder()
    const missing = join(dir, 'does-not-exist')
    const result = await run(repo, [join(src, 'a.txt'), missing], { progress: r.progress })
    assert.ok(result.snapshotId)
    assert.deepEqual(result.snapshot.paths, [join(src, 'a.txt')])
    assert.equal(result.summary.errors, 1)
    assert.deepEqual(r.errors.map((e) => e.path), [missing])
    assert.match(r.errors[0].message, /ENOENT/)
  })

  it('counts a file that could not be read neither as processed nor its bytes, as restic counts', async () => {
    const root = join(dir, 'unreadable')
    await writeFiles(root, { 'kept.txt': 'kept!', 'gone.txt': 'vanishes' })
    const repo = await createTestRepository()
    const r = recorder()
    const gone = join(root, 'gone.txt')
    // listed, then removed just before its content is read
    const result = await backup(repo, { paths: [root], excludes: new ExcludeMatcher(), hostname: 'test-host', progress: r.progress }, {
      beforeRead: async (path) => {
        if (path === gone) await rm(gone)
      },
    })
    assert.deepEqual(r.errors.map((e) => e.path), [gone])
    assert.equal(result.summary.errors, 1)
    assert.equal(result.summary.totalFilesProcessed, 1)
    assert.equal(result.summary.totalBytesProcessed, 'kept!'.length)
  })

  it('stops at the first pack the repository cannot take, with its error, not one per file after it', async () => {
    const root = join(dir, 'full-disk')
    const files: Record<string, Buffer> = {}
    for (let i = 0; i < 800; i++) files[`f${String(i).padStart(3, '0')}.bin`] = seededBytes(100 + i, 4_000)
    await writeFiles(root, files)
    const memory = new MemoryBackend()
    let dataSaves = 0
    const full = new AppError('IO', 'Cannot write "data": no space left on device (ENOSPC)')
    const backend = withMembers<Backend>(memory, {
      save: (h, data) => (h.type === 'data' && ++dataSaves > 1 ? Promise.reject(full) : memory.save(h, data)),
    })
    const repo = await createTestRepository({ backend })
    // Small packs, so that the second is stored while the walk has files left to read.
    // Files offered to the repository after it failed: read for nothing.
    let offeredAfter = 0
    const withWriter = repo.withWriter.bind(repo)
    repo.withWriter = (fn, o = {}) =>
      withWriter(
        (w) =>
          fn(
            withMembers(w, {
              saveEncodedBlob: (...args: Parameters<typeof w.saveEncodedBlob>) => {
                if (w.failure !== undefined) offeredAfter++
                return w.saveEncodedBlob(...args)
              },
            }),
          ),
        { ...o, packSize: 64 * 1024 },
      )
    const r = recorder()
    await assert.rejects(run(repo, [root], { progress: r.progress }), (err) => err === full)
    assert.deepEqual(r.errors, [])
    assert.equal((await countFiles(memory)).snapshots, 0)
    // The walk stops at the failure; only files already on their way (up to 256) still arrive.
    assert.ok(offeredAfter < 400, `${offeredAfter} of 800 files were read after the repository failed`)
  })

  it('fails with INVALID_ARGUMENT when no source path exists', async () => {
    const repo = await createTestRepository()
    await assert.rejects(run(repo, [join(dir, 'nope')]), (err: Error & { code?: string }) => err.code === 'INVALID_ARGUMENT')
    assert.equal((await countFiles(repo.backend)).snapshots, 0)
  })

  it('counts the folders that lead to a target as new, unmodified or changed, as restic does', async () => {
    // They were not counted at all.
    const root = join(dir, 'counted', 'a', 'b')
    await writeFiles(root, { 'sub/f.txt': 'f\n' })
    const depth = root.split('/').filter((p) => p !== '').length // every folder from the root's child down to b
    const repo = await createTestRepository()
    const first = await run(repo, [root])
    assert.equal(first.summary.dirsNew, depth + 1) // ... and sub
    const same = await run(repo, [root], { parent: { id: first.snapshotId!, snapshot: first.snapshot } })
    assert.deepEqual([same.summary.dirsNew, same.summary.dirsChanged, same.summary.dirsUnmodified], [0, 0, depth + 1])
    await writeFiles(root, { 'sub/g.txt': 'g\n' })
    const changed = await run(repo, [root], { parent: { id: same.snapshotId!, snapshot: same.snapshot } })
    assert.deepEqual([changed.summary.dirsNew, changed.summary.dirsChanged, changed.summary.dirsUnmodified], [0, depth + 1, 0])
  })

  it('stores a fresh copy of a tree of the parent snapshot that is damaged, with a warning, when the folder still hashes to it', async () => {
    // The new snapshot deduplicated against the damaged copy and was as damaged as the old one.
    const root = join(dir, 'healing')
    await writeFiles(root, { 'sub/f.txt': 'f\n', 'g.txt': 'g\n' })
    const backend = new MemoryBackend()
    const repo = await createTestRepository({ backend })
    const first = await run(repo, [root])
    const sub = (await nodeAt(repo, first.snapshot.tree, `${root}/sub`)).subtree!
    const at = repo.index.lookup('tree', sub)!
    await tamper(backend, { type: 'data', name: at.packId }, (b) => {
      b[at.offset + 20] ^= 1
    })
    const reopened = await Repository.open(backend, TEST_PASSWORD) // nothing cached
    await reopened.loadIndex()
    const warnings: string[] = []
    const second = await run(reopened, [root], { parent: { id: first.snapshotId!, snapshot: first.snapshot }, progress: { onWarning: (p, m) => warnings.push(`${p}: ${m}`) } })
    assert.equal(warnings.length, 1)
    // Stored bytes are counted once the writer is done: the last trees were left out before.
    assert.ok(second.summary.dataAddedPacked > 0, 'the new copy counts as stored')
    assert.match(warnings[0], /^tree [0-9a-f]{8}: a folder of the parent snapshot cannot be read .*stored anew if unchanged/)
    const after = await Repository.open(backend, TEST_PASSWORD)
    await after.loadIndex()
    assert.equal((await nodeAt(after, second.snapshot.tree, `${root}/sub`)).subtree, sub, 'the same folder, the same tree')
    assert.equal(after.index.lookupAll('tree', sub).length, 2, 'a second copy of it')
    assert.deepEqual(names(await nodesAt(after, second.snapshot.tree, `${root}/sub`)), ['f.txt'], 'and it can be read')
  })

  it('with oneFileSystem keeps a mount point as an empty folder, and backs up a target on another file system whole', { skip: process.getuid?.() !== 0 ? 'needs root to mount' : false }, async () => {
    // A mount point named as a target was left out entirely (data lost), and one met on the way was dropped.
    const { execFileSync } = await import('node:child_process')
    const root = join(dir, 'onefs')
    await writeFiles(root, { 'a.txt': 'a\n', 'mnt/.keep': '' })
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', join(root, 'mnt')])
    try {
      await writeFile(join(root, 'mnt', 'inside.txt'), 'inside\n')
      const repo = await createTestRepository()
      const alone = await run(repo, [root], { oneFileSystem: true })
      assert.deepEqual(names(await nodesAt(repo, alone.snapshot.tree, root)), ['a.txt', 'mnt'])
      assert.deepEqual(names(await nodesAt(repo, alone.snapshot.tree, `${root}/mnt`)), [], 'the mount point, empty')
      const both = await run(repo, [root, join(root, 'mnt')], { oneFileSystem: true })
      assert.deepEqual(names(await nodesAt(repo, both.snapshot.tree, `${root}/mnt`)), ['inside.txt'], 'named, so backed up')
    } finally {
      execFileSync('umount', [join(root, 'mnt')])
    }
  })

  it('applies exclude patterns to the paths given too, and refuses when they leave out every one', async () => {
    // A target matching --exclude was backed up all the same.
    const root = join(dir, 'excluded-targets')
    await writeFiles(root, { 'etc/passwd': 'p\n', 'etc/shadow': 'SECRET\n' })
    const repo = await createTestRepository()
    const excludes = new ExcludeMatcher({ exclude: ['etc/shadow'] })
    const r = await run(repo, [join(root, 'etc/passwd'), join(root, 'etc/shadow')], { excludes })
    assert.deepEqual(names(await nodesAt(repo, r.snapshot.tree, join(root, 'etc'))), ['passwd'])
    await assert.rejects(run(repo, [join(root, 'etc/shadow')], { excludes }), (err: Error) => /the exclude patterns leave out every path given/.test(err.message))
    // The folders leading to an excluded target are stored all the same (empty), as restic stores
    // them: the two tools then make the same tree. They were left out.
    await writeFiles(root, { 'var/keep': 'k\n' })
    const other = await run(repo, [join(root, 'etc/passwd'), join(root, 'var/keep')], { excludes: new ExcludeMatcher({ exclude: ['keep'] }) })
    assert.deepEqual(names(await nodesAt(repo, other.snapshot.tree, root)), ['etc', 'var'])
    assert.deepEqual(names(await nodesAt(repo, other.snapshot.tree, join(root, 'var'))), [])
  })

  it('backs up "." as its entries, names that are not UTF-8 too, with the same tree as before', async () => {
    // Such names were lost: "." was expanded into a list of names as strings.
    const root = join(dir, 'dot-target')
    await writeFiles(root, { 'a.txt': 'a\n', 'sub/b.txt': 'b\n' })
    const odd = Buffer.concat([Buffer.from(root + '/odd-'), Buffer.from([0xff])])
    await writeFile(odd, 'odd\n')
    const repo = await createTestRepository()
    const cwd = process.cwd()
    process.chdir(root)
    let r
    try {
      r = await run(repo, ['.'])
    } finally {
      process.chdir(cwd)
    }
    assert.deepEqual(r.snapshot.paths, [root])
    const { decodeTree } = await import('../snapshots/index.js')
    const top = decodeTree(await repo.loadBlob('tree', r.snapshot.tree)).map((n) => n.name)
    assert.deepEqual(top.map((n) => n.toString('hex')), [Buffer.from('a.txt'), Buffer.from('odd-\xff', 'latin1'), Buffer.from('sub')].map((n) => n.toString('hex')))
    assert.equal(r.summary.errors, 0)
  })

  it('stores hard links as file nodes that share inode and content', async () => {
    const root = join(dir, 'hardlinks')
    await writeFiles(root, { 'one.bin': seededBytes(7, 700_000) })
    await link(join(root, 'one.bin'), join(root, 'two.bin'))
    const repo = await createTestRepository()
    const { snapshot, summary } = await run(repo, [root])
    const one = await nodeAt(repo, snapshot.tree, `${root}/one.bin`)
    const two = await nodeAt(repo, snapshot.tree, `${root}/two.bin`)
    assert.equal(one.links, 2)
    assert.equal(two.links, 2)
    assert.equal(one.inode, two.inode)
    assert.deepEqual(one.content, two.content)
    assert.deepEqual(await fileContent(repo, two), seededBytes(7, 700_000))
    // Added bytes count the trees too, as restic's do.
    let trees = 0
    for (const b of repo.index.blobs()) if (b.type === 'tree') trees += b.uncompressedLength
    assert.ok(trees > 0)
    assert.equal(summary.dataAdded, 700_000 + trees, 'the content is stored once')
  })

  it('a dry run writes nothing but reports what it would add', async () => {
    const repo = await createTestRepository()
    const before = await countFiles(repo.backend)
    const result = await run(repo, [src], { dryRun: true })
    assert.equal(result.snapshotId, undefined)
    assert.deepEqual(await countFiles(repo.backend), before)
    assert.equal(result.summary.filesNew, 5)
    assert.ok(result.summary.dataBlobs > 3)
    const content = big.length + 'hello world\n'.length + 'in a sub-directory\n'.length + 'deeper still\n'.length
    // and the trees it would add (a few hundred bytes each)
    assert.ok(result.summary.dataAdded > content + 500 && result.summary.dataAdded < content + 20_000, String(result.summary.dataAdded - content))
    assert.equal(repo.index.size, 0)
    // What it would store, compressed and sealed, as the run for real stores it (it said 0 B).
    const real = await run(repo, [src])
    assert.equal(result.summary.dataAddedPacked, real.summary.dataAddedPacked)
    assert.ok(real.summary.dataAddedPacked > 0)
  })

  it('stops with INTERRUPTED when the signal is aborted', async () => {
    const repo = await createTestRepository()
    const ac = new AbortController()
    ac.abort()
    await assert.rejects(run(repo, [src], { signal: ac.signal }), (err: Error & { code?: string }) => err.code === 'INTERRUPTED')
    assert.equal((await countFiles(repo.backend)).snapshots, 0)
  })

  it('an interruption while files are stored stops with INTERRUPTED, leaving no rejection unhandled', async () => {
    // Nested directories of small files, as a home folder has: when the walk stops, directories
    // it handed on still have files waiting for the repository.
    const root = join(dir, 'interrupted')
    const files: Record<string, Buffer> = {}
    for (let d = 0; d < 6; d++) {
      for (let s = 0; s < 4; s++) for (let i = 0; i < 50; i++) files[`d${d}/s${s}/f${i}.bin`] = seededBytes(1000 * d + 100 * s + i, 4096)
    }
    files['d0/large.bin'] = seededBytes(7, 3 * 1024 * 1024)
    await writeFiles(root, files)
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      // A slow repository with small packs, so that saves wait for room when the walk stops.
      const memory = new MemoryBackend()
      const slow = withMembers<Backend>(memory, {
        save: async (h, data) => {
          if (h.type === 'data') await new Promise((resolve) => setTimeout(resolve, 20))
          return memory.save(h, data)
        },
      })
      const repo = await createTestRepository({ backend: slow })
      const withWriter = repo.withWriter.bind(repo)
      repo.withWriter = (fn, o = {}) => withWriter(fn, { ...o, packSize: 64 * 1024, maxQueuedBytes: 256 * 1024 })
      const ac = new AbortController()
      let bytes = 0
      const progress: BackupProgress = {
        onBytes: (n) => {
          bytes += n
          if (bytes > 256 * 1024) ac.abort() // as Ctrl-C does
        },
      }
      await assert.rejects(run(repo, [root], { signal: ac.signal, progress }), (err: Error & { code?: string }) => err.code === 'INTERRUPTED')
      // Saves that were waiting fail once the writer is aborted, within a few turns.
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.deepEqual(unhandled, [])
      assert.equal((await countFiles(memory)).snapshots, 0)
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('an interruption in the middle of a single large file stops its read, and no snapshot is written', async () => {
    // One large file and nothing else: the walk never reaches another file to notice the signal.
    const root = join(dir, 'one-large')
    await writeFiles(root, { 'disk.img': seededBytes(11, 48 * 1024 * 1024) })
    const repo = await createTestRepository()
    const ac = new AbortController()
    let bytes = 0
    const progress: BackupProgress = {
      onBytes: (n) => {
        bytes += n
        if (bytes > 2 * 1024 * 1024) ac.abort()
      },
    }
    await assert.rejects(run(repo, [root], { signal: ac.signal, progress }), (err: Error & { code?: string }) => err.code === 'INTERRUPTED')
    assert.ok(bytes < 40 * 1024 * 1024, `the read stopped soon after the signal (${bytes} bytes read)`)
    assert.equal((await countFiles(repo.backend)).snapshots, 0)
  })

  it('the same content in two backups deduplicates across snapshots', async () => {
    const repo = await createTestRepository()
    const first = await run(repo, [src])
    const ids = new Set<Id>()
    for (const b of repo.index.blobs('data')) ids.add(b.id)
    const second = await run(repo, [src]) // no parent: every file is read again
    assert.equal(second.summary.filesNew, 5)
    assert.equal(second.summary.dataBlobs, 0)
    assert.equal(await subtreeOf(repo, second.snapshot.tree, src), await subtreeOf(repo, first.snapshot.tree, src))
    assert.equal([...repo.index.blobs('data')].length, ids.size)
  })

  it('reads the files given as separate targets together, not one after another', async () => {
    const repo = await createTestRepository()
    const dir = await mkdtemp(join(tmpdir(), 'cairn-targets-'))
    try {
      const a = join(dir, 'a.bin')
      const b = join(dir, 'b.bin')
      await writeFiles(dir, { 'a.bin': seededBytes(41, 3 * 1024 * 1024), 'b.bin': seededBytes(42, 3 * 1024 * 1024) })
      // a's read finishes only once b's has: with targets saved one at a time, b would never start.
      let bRead!: () => void
      const bDone = new Promise<void>((resolve) => (bRead = resolve))
      const hooks = {
        afterRead: async (path: string) => {
          if (path === b) bRead()
          if (path === a) await Promise.race([bDone, new Promise((_, reject) => setTimeout(() => reject(new Error('b was not read while a was')), 10_000))])
        },
      }
      const result = await backup(repo, { paths: [a, b], excludes: new ExcludeMatcher(), hostname: 'h' }, hooks)
      assert.equal(result.summary.filesNew, 2)
      assert.equal(result.summary.errors, 0)
      assert.deepEqual(names(await nodesAt(repo, result.snapshot.tree, dir)), ['a.bin', 'b.bin'])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
