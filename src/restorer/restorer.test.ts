import assert from 'node:assert/strict'
import { appendFileSync, existsSync } from 'node:fs'
import { chmod, link, lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, rm, symlink, truncate, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { AppError, hashId, isAppError, type Id } from '../base/index.js'
import { LocalBackend, type Handle } from '../backends/index.js'
import { withMembers } from '../backends/testing/overrides.js'
// Tests only: a real backup is the simplest way to get a snapshot of a real tree.
import { backup, ExcludeMatcher } from '../archiver/index.js'
import { listTree, nodeAt, writeFiles } from '../archiver/testing.js'
import { plaintextLength, type PackedBlob, type Repository } from '../repository/index.js'
import { createTestRepository, seededBytes } from '../repository/testing.js'
import { decodeTree, encodeTreeJson, type Node } from '../snapshots/index.js'
import { restore, restoreInBatches, type RestoreOptions } from './restorer.js'
import { dumpArchive } from './archive-dump.js'
import { memorySink } from './byte-sink.js'

const MiB = 1024 * 1024

/** What restore reads of `repo`, with one byte of the blob at `loc` flipped on its way from storage. */
function withDamagedBlob(repo: Repository, loc: { packId: string; offset: number }): Pick<Repository, 'loadBlobWith' | 'index' | 'backend' | 'key'> {
  const be = repo.backend
  const load = async (h: Handle, offset = 0, length?: number) => {
    const bytes = await be.load(h, offset, length)
    const at = loc.offset + 20 - offset
    if (h.type === 'data' && h.name === loc.packId && at >= 0 && at < bytes.length) bytes[at] ^= 0x40
    return bytes
  }
  return { loadBlobWith: repo.loadBlobWith.bind(repo), index: repo.index, backend: withMembers(be, { load, loadInto: undefined }), key: repo.key }
}

/** Walks a directory and lists every entry as "relative/path" (dirs with a trailing slash). */
describe('restore()', () => {
  let dir: string
  let src: string
  let repo: Repository
  let tree: Id
  const big = seededBytes(20, 20 * MiB + 123)
  const zeros = Buffer.alloc(4 * MiB)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-restorer-'))
    src = join(dir, 'src')
    await writeFiles(src, {
      'a.txt': 'hello\n',
      'empty.txt': '',
      'script.sh': '#!/bin/sh\necho hi\n',
      'secret.txt': 'top secret\n',
      'big.bin': big,
      'zeros.img': zeros,
      'sub/b.txt': 'bee\n',
      'sub/deep/c.txt': 'sea\n',
      'sub/deep/d.log': 'log\n',
      'emptydir': { dir: true },
      'link-rel': { symlink: 'a.txt' },
      'link-abs': { symlink: '/nonexistent/target' },
    })
    await link(join(src, 'a.txt'), join(src, 'hard.txt'))
    await chmod(join(src, 'script.sh'), 0o755)
    await chmod(join(src, 'secret.txt'), 0o600)
    await chmod(join(src, 'sub'), 0o750)
    await utimes(join(src, 'sub/b.txt'), new Date('2020-02-03T04:05:06Z'), new Date('2020-02-03T04:05:06.789Z'))
    repo = await createTestRepository()
    const result = await backup(repo, { paths: [src], excludes: new ExcludeMatcher(), hostname: 'h' })
    tree = result.snapshot.tree
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  async function restoreInto(name: string, extra: Partial<RestoreOptions> = {}) {
    const target = join(dir, name)
    const errors: string[] = []
    const summary = await restore(repo, {
      tree,
      target,
      ...extra,
      progress: { onError: (p, e) => errors.push(`${p}: ${e.message}`), ...extra.progress },
    })
    return { target, root: join(target, src), summary, errors }
  }

  it('restores contents, modes, times, symlinks, hard links and empty directories', async () => {
    const { root, summary, errors } = await restoreInto('full')
    assert.deepEqual(errors, [])
    assert.deepEqual(await listTree(root), [
      'a.txt',
      'big.bin',
      'empty.txt',
      'emptydir/',
      'hard.txt',
      'link-abs',
      'link-rel',
      'script.sh',
      'secret.txt',
      'sub/',
      'sub/b.txt',
      'sub/deep/',
      'sub/deep/c.txt',
      'sub/deep/d.log',
      'zeros.img',
    ])
    for (const f of ['a.txt', 'empty.txt', 'script.sh', 'secret.txt', 'sub/b.txt', 'sub/deep/c.txt']) {
      assert.deepEqual(await readFile(join(root, f)), await readFile(join(src, f)), f)
    }
    assert.deepEqual(await readFile(join(root, 'big.bin')), big)
    assert.deepEqual(await readFile(join(root, 'zeros.img')), zeros)
    for (const [f, mode] of [['script.sh', 0o755], ['secret.txt', 0o600], ['sub', 0o750]] as const) {
      assert.equal((await lstat(join(root, f))).mode & 0o7777, mode, f)
    }
    const mtime = (await lstat(join(root, 'sub/b.txt'), { bigint: true })).mtimeNs
    assert.equal(mtime, 1580702706789000000n)
    // restored with microsecond precision
    const dirTimes = await Promise.all([lstat(join(src, 'sub/deep'), { bigint: true }), lstat(join(root, 'sub/deep'), { bigint: true })])
    assert.equal(dirTimes[1].mtimeNs / 1000n, dirTimes[0].mtimeNs / 1000n, 'directory times are set after their content')
    assert.equal(await readlink(join(root, 'link-rel')), 'a.txt')
    assert.equal(await readlink(join(root, 'link-abs')), '/nonexistent/target')
    const [a, hard] = await Promise.all([lstat(join(root, 'a.txt')), lstat(join(root, 'hard.txt'))])
    assert.equal(a.ino, hard.ino, 'hard links are restored as links')
    assert.equal(a.nlink, 2)
    assert.equal(summary.files, 10, 'nine files and one more name for a.txt')
    assert.equal(summary.errors, 0)
    assert.equal(summary.bytes, big.length + zeros.length + 6 + 18 + 11 + 4 + 4 + 4)
  })

  it('leaves runs of zeros as holes (sparse files)', async () => {
    const { root } = await restoreInto('sparse')
    const st = await lstat(join(root, 'zeros.img'))
    assert.equal(st.size, zeros.length)
    assert.ok(st.blocks * 512 < st.size / 2, `${st.blocks} blocks allocated for ${st.size} bytes`)
  })

  it('restores a 20 MiB file whose blobs span several packs', async () => {
    const packs = new Set<Id>()
    const { root, errors } = await restoreInto('big')
    assert.deepEqual(errors, [])
    const bigNodeContent = [...repo.index.blobs('data')]
    for (const b of bigNodeContent) packs.add(b.packId)
    assert.ok(packs.size >= 2, 'the data is in more than one pack')
    const restored = await readFile(join(root, 'big.bin'))
    assert.equal(restored.length, big.length)
    assert.ok(restored.equals(big))
  })

  it('reports each restored file through onFile and the plan through onPlan', async () => {
    const files: string[] = []
    let planned: [number, number] | undefined
    let bytes = 0
    const { root } = await restoreInto('progress', {
      progress: { onFile: (p) => files.push(p), onPlan: (n, b) => (planned = [n, b]), onBytes: (n) => (bytes += n) },
    })
    assert.equal(files.length, 9, 'each file once; a hard link is no new content')
    assert.ok(files.includes(join(root, 'sub/deep/c.txt')))
    assert.deepEqual(planned, [9, big.length + zeros.length + 6 + 18 + 11 + 4 + 4 + 4])
    assert.equal(bytes, planned![1])
  })

  it('writes while it still reads the tree: the plan goes to the writer in batches, and a blob of two batches is read for each', async () => {
    const plans: Array<[number, number, boolean]> = []
    const events: string[] = []
    const errors: string[] = []
    const target = join(dir, 'batched')
    const summary = await restoreInBatches(
      repo,
      {
        tree,
        target,
        progress: {
          onPlan: (n, b, complete) => {
            plans.push([n, b, complete])
            events.push(complete ? 'plan complete' : 'plan')
          },
          onFile: () => events.push('file'),
          onError: (p, e) => errors.push(`${p}: ${e.message}`),
        },
      },
      { files: 2, blobs: 3 },
    )
    assert.deepEqual(errors, [])
    assert.equal(summary.files, 10)
    for (const f of ['a.txt', 'big.bin', 'empty.txt', 'hard.txt', 'script.sh', 'secret.txt', 'zeros.img', 'sub/b.txt', 'sub/deep/c.txt', 'sub/deep/d.log']) {
      assert.deepEqual(await readFile(join(target, src, f)), await readFile(join(src, f)), f)
    }
    assert.ok(plans.length >= 4, `the plan was handed over ${plans.length} times`)
    assert.deepEqual(plans.at(-1), [9, big.length + zeros.length + 6 + 18 + 11 + 4 + 4 + 4, true])
    assert.ok(plans.slice(0, -1).every(([, , complete]) => !complete), 'only the last report is complete')
    for (let i = 1; i < plans.length; i++) assert.ok(plans[i][0] >= plans[i - 1][0] && plans[i][1] >= plans[i - 1][1], 'totals only grow')
    assert.ok(events.indexOf('file') < events.indexOf('plan complete'), 'files were finished before the whole tree was read')
  })

  it('stops with the writer\'s error when the writer fails while the tree is still being read', async () => {
    const first = (await nodeAt(repo, tree, `${src}/a.txt`)).content![0]
    const loc = repo.index.lookup('data', first)!
    const be = repo.backend
    const load = async (h: Handle, offset = 0, length?: number) => {
      if (h.type === 'data' && h.name === loc.packId) throw new AppError('INTERRUPTED', 'stopped on purpose')
      return be.load(h, offset, length)
    }
    const backend = withMembers(be, { load })
    const view = { loadBlobWith: repo.loadBlobWith.bind(repo), index: repo.index, backend, key: repo.key }
    await assert.rejects(
      restoreInBatches(view, { tree, target: join(dir, 'writer-fails') }, { files: 1, blobs: 1 }),
      (err: Error & { code?: string }) => err.code === 'INTERRUPTED' && /stopped on purpose/.test(err.message),
    )
  })

  it('restores a blob shared by files of different batches into each of them', async () => {
    const shared = seededBytes(7, 300_000)
    const from = join(dir, 'shared-src')
    await writeFiles(from, { 'a/one.bin': shared, 'b/filler1.txt': 'x\n', 'b/filler2.txt': 'y\n', 'b/filler3.txt': 'z\n', 'c/two.bin': shared })
    const r = await backup(repo, { paths: [from], excludes: new ExcludeMatcher(), hostname: 'h' })
    const target = join(dir, 'shared-restored')
    const summary = await restoreInBatches(repo, { tree: r.snapshot.tree, target }, { files: 1, blobs: 1 })
    assert.equal(summary.errors, 0)
    assert.deepEqual(await readFile(join(target, from, 'a/one.bin')), shared)
    assert.deepEqual(await readFile(join(target, from, 'c/two.bin')), shared)
    assert.equal(summary.files, 5)
  })

  it('follows the filter: excluded entries are skipped, descended directories only hold what is included', async () => {
    const seen: string[] = []
    const filter = (path: string, node: Node): 'include' | 'exclude' | 'descend' => {
      seen.push(path)
      if (path.endsWith('.log') || path.endsWith('/emptydir')) return 'exclude'
      if (path.startsWith(`${src}/sub/deep`)) return 'include'
      return node.type === 'dir' ? 'descend' : 'exclude'
    }
    const { target, summary, errors } = await restoreInto('filtered', { filter })
    assert.deepEqual(errors, [])
    assert.deepEqual(await listTree(join(target, src)), ['sub/', 'sub/deep/', 'sub/deep/c.txt'])
    assert.equal(summary.files, 1)
    // paths handed to the filter are snapshot paths
    assert.ok(seen.includes(`${src}/sub/b.txt`))
    assert.ok(seen.includes(`${src}/sub/deep/d.log`))
  })

  it('creates no directory that only leads to excluded entries', async () => {
    const filter = (path: string, node: Node) => (node.type === 'dir' ? ('descend' as const) : path.endsWith('/c.txt') ? ('include' as const) : ('exclude' as const))
    const { target } = await restoreInto('sparse-filter', { filter })
    assert.deepEqual(await listTree(join(target, src)), ['sub/', 'sub/deep/', 'sub/deep/c.txt'])
  })

  it('restores a sub-tree below basePath', async () => {
    const sub = (await import('../archiver/testing.js')).nodeAt
    const subNode = await sub(repo, tree, `${src}/sub`)
    const seen: string[] = []
    const target = join(dir, 'subtree')
    await restore(repo, { tree: subNode.subtree!, basePath: `${src}/sub`, target, filter: (p) => (seen.push(p), 'include') })
    assert.deepEqual(await listTree(target), ['b.txt', 'deep/', 'deep/c.txt', 'deep/d.log'])
    assert.ok(seen.includes(`${src}/sub/deep/c.txt`))
    // A target restore creates is its owner's alone, as restic makes it (the files may be private).
    assert.equal((await lstat(target)).mode & 0o777, 0o700)
  })

  it('verify reads every restored file back', async () => {
    const { summary, errors } = await restoreInto('verify', { verify: true })
    assert.deepEqual(errors, [])
    assert.equal(summary.verified, 9)
  })

  it('verify catches a file that differs from the snapshot', async () => {
    // Damage a file between its restore and the verification pass.
    const { summary, errors } = await restoreInto('verify-bad', {
      verify: true,
      progress: {
        onFile: (p) => {
          if (p.endsWith('/sub/b.txt')) appendFileSync(p, 'tampered')
        },
      },
    })
    assert.equal(summary.verified, 8)
    assert.equal(errors.length, 1)
    assert.match(errors[0], /sub\/b\.txt: verification failed/)
  })

  it('a target that is a file, or below one, fails with an IO error saying so, before anything is read', async () => {
    const file = join(dir, 'a-file')
    await writeFile(file, 'not a folder\n')
    for (const [target, why] of [
      [file, 'it exists and is not a folder'],
      [join(file, 'below'), 'a part of the path is not a folder'],
    ]) {
      await assert.rejects(restore(repo, { tree, target }), (err) => {
        assert.ok(isAppError(err, 'IO'), String(err))
        assert.equal(err.message, `Cannot restore into "${target}": ${why}`)
        assert.match(err.hint ?? '', /--target/)
        return true
      })
    }
  })

  it('replaces existing files in the target', async () => {
    const target = join(dir, 'existing')
    await writeFiles(join(target, src), { 'a.txt': 'old content that is longer than the new one', 'sub/b.txt': 'old' })
    const { summary, errors } = await restoreInto('existing')
    assert.deepEqual(errors, [])
    assert.equal(summary.errors, 0)
    assert.equal(await readFile(join(target, src, 'a.txt'), 'utf8'), 'hello\n')
    assert.equal(await readFile(join(target, src, 'sub/b.txt'), 'utf8'), 'bee\n')
  })

  it('reports a file whose blob is missing from the index and restores the rest', async () => {
    const other = await createTestRepository()
    const root = join(dir, 'missing-src')
    await writeFiles(root, { 'x.txt': 'x content', 'y.txt': 'y content' })
    const { snapshot } = await backup(other, { paths: [root], excludes: new ExcludeMatcher(), hostname: 'h' })
    // drop the index entry of x.txt's blob by rebuilding the index without it
    const xId = (await import('../base/index.js')).hashId(Buffer.from('x content'))
    const { MasterIndex } = await import('../repository/index.js')
    const index = new MasterIndex()
    for (const p of other.index.packs()) index.addPack(p.id, p.blobs.filter((b) => b.id !== xId))
    const view = { loadBlobWith: other.loadBlobWith.bind(other), backend: other.backend, key: other.key, index }
    const target = join(dir, 'missing')
    const errors: string[] = []
    // trees must still load: loadBlob goes through the full index
    const summary = await restore(view, { tree: snapshot.tree, target, progress: { onError: (p, e) => errors.push(`${p}: ${e.message}`) } })
    assert.equal(summary.files, 1)
    assert.equal(errors.length, 1)
    assert.match(errors[0], /x\.txt: data blob .* is missing/)
    assert.equal(await readFile(join(target, root, 'y.txt'), 'utf8'), 'y content')
  })

  it('writes nothing into a file when one of its blobs is missing, and leaves no file open', async () => {
    const other = await createTestRepository()
    const root = join(dir, 'missing-middle-src')
    await writeFiles(root, { 'multi.bin': seededBytes(77, 2 * MiB) })
    const { snapshot } = await backup(other, { paths: [root], excludes: new ExcludeMatcher(), hostname: 'h' })
    const content = (await nodeAt(other, snapshot.tree, `${root}/multi.bin`)).content!
    assert.ok(content.length >= 3)
    const { MasterIndex } = await import('../repository/index.js')
    const index = new MasterIndex()
    for (const p of other.index.packs()) index.addPack(p.id, p.blobs.filter((b) => b.id !== content[1]))
    const view = { loadBlobWith: other.loadBlobWith.bind(other), backend: other.backend, key: other.key, index }
    const target = join(dir, 'missing-middle')
    const errors: string[] = []
    const summary = await restore(view, { tree: snapshot.tree, target, progress: { onError: (p, e) => errors.push(`${p}: ${e.message}`) } })
    assert.equal(summary.files, 0)
    assert.equal(summary.bytes, 0)
    assert.equal(errors.length, 1)
    const fds = await readdir('/proc/self/fd')
    const open: string[] = []
    for (const fd of fds) open.push(await readlink(`/proc/self/fd/${fd}`).catch(() => ''))
    assert.ok(!open.some((p) => p.includes('missing-middle')), 'no descriptor left open on the restored file')
  })

  /** The repository, with reads of data packs recorded as the blobs they span (and failing for the ones `fail` picks). */
  function packReader(fail: (blobs: readonly PackedBlob[]) => boolean = () => false, remote = false) {
    const calls: PackedBlob[][] = []
    const be = repo.backend
    const load = async (h: Handle, offset = 0, length?: number) => {
        if (h.type === 'data') {
          const end = length === undefined ? Infinity : offset + length
          const blobs = [...repo.index.blobs()].filter((b) => b.packId === h.name && b.offset >= offset && b.offset + b.length <= end).sort((a, b) => a.offset - b.offset)
          calls.push(blobs)
          if (fail(blobs)) throw new Error('unreadable on purpose')
        }
        return be.load(h, offset, length)
      }
    const backend = withMembers(be, remote ? { load, loadInto: undefined, properties: { ...be.properties, local: false } } : { load })
    const view: Pick<Repository, 'loadBlobWith' | 'index' | 'backend' | 'key'> = { loadBlobWith: repo.loadBlobWith.bind(repo), index: repo.index, backend, key: repo.key }
    return { view, calls }
  }

  it('reads packs in pieces of at most 4 MiB (or one blob), each blob once', async () => {
    const { view, calls } = packReader()
    const target = join(dir, 'pieces')
    const summary = await restore(view, { tree, target })
    assert.equal(summary.errors, 0)
    assert.deepEqual(await readFile(join(target, src, 'big.bin')), big)
    for (const c of calls) {
      const span = c[c.length - 1].offset + c[c.length - 1].length - c[0].offset
      assert.ok(c.length === 1 || span <= 4 * MiB, `a read of ${c.length} blobs spans ${span} bytes`)
    }
    const ids = calls.flat().map((b) => b.id)
    assert.equal(new Set(ids).size, ids.length, 'no blob is read twice')
    assert.ok(calls.length > new Set(calls.flat().map((b) => repo.index.lookup('data', b.id)!.packId)).size, 'a pack was read in several pieces')
  })

  it('a piece of a remote pack that cannot be read fails only the files with blobs in it, and leaves no file open', async () => {
    const files = ['a.txt', 'big.bin', 'script.sh', 'secret.txt', 'zeros.img', 'sub/b.txt', 'sub/deep/c.txt', 'sub/deep/d.log']
    const content = new Map<string, Id[]>()
    for (const f of files) content.set(f, (await nodeAt(repo, tree, `${src}/${f}`)).content!)
    const first = content.get('big.bin')![0]
    const { view, calls } = packReader((blobs) => blobs.some((b) => b.id === first), true)
    const target = join(dir, 'unreadable-piece')
    const errors: string[] = []
    const summary = await restore(view, { tree, target, progress: { onError: (p, e) => errors.push(`${p}: ${e.message}`) } })
    const failed = new Set(calls.find((c) => c.some((b) => b.id === first))!.map((b) => b.id))
    assert.ok(failed.size < content.get('big.bin')!.length, 'the rest of big.bin was in other pieces')
    const hit = files.filter((f) => content.get(f)!.some((id) => failed.has(id)))
    const reported = new Set(errors.map((e) => /^(.*): cannot read pack .*unreadable on purpose$/.exec(e)?.[1] ?? e))
    // hard.txt is a hard link to a.txt, made after the contents: it fails with a.txt.
    const expected = hit.map((f) => join(target, src, f))
    for (const e of reported) if (e.startsWith(join(target, src, 'hard.txt'))) expected.push(e)
    assert.deepEqual([...reported].sort(), expected.sort())
    assert.equal(expected.length - hit.length, hit.includes('a.txt') ? 1 : 0)
    assert.equal(summary.errors, errors.length)
    for (const f of files.filter((f) => !hit.includes(f))) assert.deepEqual(await readFile(join(target, src, f)), await readFile(join(src, f)), f)
    const open: string[] = []
    for (const fd of await readdir('/proc/self/fd')) open.push(await readlink(`/proc/self/fd/${fd}`).catch(() => ''))
    assert.ok(!open.some((p) => p.includes('unreadable-piece')), 'no descriptor left open on an incomplete file')
  })

  it('a truncated pack fails only the files whose blobs are past its end', async () => {
    // The piece was read in one go and every file in it failed, where restic lost only the blobs that were gone.
    const { shortReadError } = await import('../backends/index.js')
    const files = ['a.txt', 'big.bin', 'script.sh', 'secret.txt', 'zeros.img', 'sub/b.txt', 'sub/deep/c.txt', 'sub/deep/d.log']
    const blobsOf = new Map<string, Array<NonNullable<ReturnType<typeof repo.index.lookup>>>>()
    for (const f of files) blobsOf.set(f, (await nodeAt(repo, tree, `${src}/${f}`)).content!.map((id) => repo.index.lookup('data', id)!))
    const pack = blobsOf.get('a.txt')![0].packId
    const small = files.filter((f) => f !== 'big.bin' && f !== 'zeros.img' && blobsOf.get(f)![0].packId === pack)
    assert.ok(small.length >= 3, 'the small files share a pack')
    small.sort((a, b) => blobsOf.get(a)![0].offset - blobsOf.get(b)![0].offset)
    const cut = blobsOf.get(small[small.length - 1])![0].offset + 1 // the last small file's blob is cut short
    const lost = files.filter((f) => blobsOf.get(f)!.some((b) => b.packId === pack && b.offset + b.length > cut))
    const be = repo.backend
    const load = async (h: Handle, offset = 0, length?: number) => {
      if (h.type === 'data' && h.name === pack && (length === undefined || offset + length > cut)) throw shortReadError(h, be.location, offset, length, cut)
      return be.load(h, offset, length)
    }
    const view = { loadBlobWith: repo.loadBlobWith.bind(repo), index: repo.index, backend: withMembers(be, { load, loadInto: undefined }), key: repo.key }
    const target = join(dir, 'truncated-pack')
    const errors: string[] = []
    await restore(view, { tree, target, progress: { onError: (p) => errors.push(p) } })
    assert.ok(lost.includes(small[small.length - 1]))
    assert.deepEqual(errors.filter((p) => !p.endsWith('hard.txt')).sort(), lost.map((f) => join(target, src, f)).sort(), 'each file past the cut, once')
    for (const f of files.filter((f) => !lost.includes(f))) assert.deepEqual(await readFile(join(target, src, f)), await readFile(join(src, f)), f)
  })

  it('leaves a file of several blobs empty when one of them is damaged, not at its full size with a hole', async () => {
    // It kept its full size, so it looked restored.
    const content = (await nodeAt(repo, tree, `${src}/big.bin`)).content!
    const loc = repo.index.lookup('data', content[1])!
    const target = join(dir, 'damaged-multi')
    const errors: string[] = []
    await restore(withDamagedBlob(repo, loc), { tree, target, progress: { onError: (p) => errors.push(p) } })
    assert.deepEqual(errors, [join(target, src, 'big.bin')])
    const st = await lstat(join(target, src, 'big.bin'))
    assert.equal(st.size, 0)
    assert.equal(st.mtimeMs, 0, 'dated 1970, so that --overwrite if-newer replaces it when the restore is run again')
  })

  it('reads a damaged blob from another pack that holds it too', async () => {
    // The file failed, though a good copy was there (dump used it).
    const repo = await createTestRepository() // its own: a second copy would change the tests after
    const { tree } = (await backup(repo, { paths: [src], excludes: new ExcludeMatcher(), hostname: 'h' })).snapshot
    const id = (await nodeAt(repo, tree, `${src}/sub/b.txt`)).content![0]
    const first = repo.index.lookup('data', id)!
    await repo.withWriter((w) => w.saveBlob('data', Buffer.from('bee\n'), id, { duplicate: true }), { threads: 0 })
    assert.equal(repo.index.lookupAll('data', id).length, 2)
    const target = join(dir, 'other-copy')
    const errors: string[] = []
    const summary = await restore(withDamagedBlob(repo, first), { tree, target, progress: { onError: (p, e) => errors.push(`${p}: ${e.message}`) } })
    assert.deepEqual(errors, [])
    assert.equal(summary.errors, 0)
    assert.equal(await readFile(join(target, src, 'sub/b.txt'), 'utf8'), 'bee\n')
    assert.equal((await lstat(join(target, src, 'sub/b.txt'))).mtime.toISOString(), '2020-02-03T04:05:06.789Z', 'and finished')
  })

  it('reads a blob from another pack that holds it too when its pack is cut short or gone', async () => {
    // Only a blob that failed to decrypt was looked for elsewhere.
    const { shortReadError, NotFoundError } = await import('../backends/index.js')
    for (const how of ['truncated', 'missing'] as const) {
      const repo = await createTestRepository()
      const { tree } = (await backup(repo, { paths: [src], excludes: new ExcludeMatcher(), hostname: 'h' })).snapshot
      const id = (await nodeAt(repo, tree, `${src}/sub/b.txt`)).content![0]
      const first = repo.index.lookup('data', id)!
      await repo.withWriter((w) => w.saveBlob('data', Buffer.from('bee\n'), id, { duplicate: true }), { threads: 0 })
      const be = repo.backend
      const load = async (h: Handle, offset = 0, length?: number) => {
        if (h.type === 'data' && h.name === first.packId) throw how === 'missing' ? new NotFoundError(h, be.location) : shortReadError(h, be.location, offset, length, 0)
        return be.load(h, offset, length)
      }
      const target = join(dir, `other-copy-${how}`)
      const errors: string[] = []
      await restore({ loadBlobWith: repo.loadBlobWith.bind(repo), index: repo.index, backend: withMembers(be, { load, loadInto: undefined }), key: repo.key }, { tree, target, progress: { onError: (p, e) => errors.push(`${p}: ${e.message}`) } })
      assert.equal(await readFile(join(target, src, 'sub/b.txt'), 'utf8'), 'bee\n', how)
      assert.ok(!errors.some((e) => e.includes('sub/b.txt')), errors.join('\n'))
    }
  })

  it('a damaged blob fails only the files that hold it; the rest of its piece is restored', async () => {
    const bad = (await nodeAt(repo, tree, `${src}/sub/b.txt`)).content![0]
    const loc = repo.index.lookup('data', bad)!
    const target = join(dir, 'damaged-blob')
    const errors: string[] = []
    const summary = await restore(withDamagedBlob(repo, loc), { tree, target, progress: { onError: (p, e) => errors.push(`${p}: ${e.message}`) } })
    assert.equal(errors.length, 1, errors.join('\n'))
    assert.match(errors[0], /sub\/b\.txt: The data blob [0-9a-f]{64} in pack [0-9a-f]{64} is damaged/)
    assert.equal(summary.errors, 1)
    for (const f of ['a.txt', 'big.bin', 'sub/deep/c.txt']) assert.deepEqual(await readFile(join(target, src, f)), await readFile(join(src, f)), f)
  })

  it('a folder whose tree cannot be read is reported and left empty; the rest is restored, as restic does', async () => {
    const deep = (await nodeAt(repo, tree, `${src}/sub/deep`)).subtree!
    const damaged = new AppError('INVALID_DATA', `The tree blob ${deep} is damaged: on purpose`)
    const loadBlobWith: Repository['loadBlobWith'] = (type, id, decode) => (type === 'tree' && id === deep ? Promise.reject(damaged) : repo.loadBlobWith(type, id, decode))
    const target = join(dir, 'damaged-tree')
    const errors: string[] = []
    const summary = await restore({ loadBlobWith, index: repo.index, backend: repo.backend, key: repo.key }, { tree, target, progress: { onError: (p, e) => errors.push(`${p}: ${e.message}`) } })
    assert.deepEqual(errors, [`${join(target, src, 'sub', 'deep')}: ${damaged.message}`])
    assert.equal(summary.errors, 1)
    for (const f of ['a.txt', 'big.bin', 'sub/b.txt']) assert.deepEqual(await readFile(join(target, src, f)), await readFile(join(src, f)), f)
    assert.deepEqual(await readdir(join(target, src, 'sub', 'deep')), [])
  })

  it('stops with INTERRUPTED when the signal is aborted', async () => {
    const ac = new AbortController()
    ac.abort()
    await assert.rejects(restoreInto('aborted', { signal: ac.signal }), (err: Error & { code?: string }) => err.code === 'INTERRUPTED')
  })

  it('writes into a new file when a stale file of another type is in the way', async () => {
    const target = join(dir, 'in-the-way')
    await writeFiles(join(target, src), { 'link-rel': 'a regular file where a symlink belongs' })
    await writeFile(join(target, src, 'empty.txt'), 'not empty')
    const { errors } = await restoreInto('in-the-way')
    assert.deepEqual(errors, [])
    assert.equal(await readlink(join(target, src, 'link-rel')), 'a.txt')
    assert.equal((await lstat(join(target, src, 'empty.txt'))).size, 0)
  })

  it('never writes outside the target through a hard link or a symlinked folder already in it', async () => {
    const target = join(dir, 'links-in-target')
    const outside = join(dir, 'outside')
    await writeFiles(outside, { 'precious.txt': 'outside the target', 'sub/c.txt': 'also outside' })
    await mkdir(join(target, src), { recursive: true })
    // a.txt (small) and big.bin (large) are hard links of files outside; sub is a symlink to a folder outside.
    await link(join(outside, 'precious.txt'), join(target, src, 'a.txt'))
    await link(join(outside, 'sub/c.txt'), join(target, src, 'big.bin'))
    await symlink(join(outside, 'sub'), join(target, src, 'sub'))
    const { errors } = await restoreInto('links-in-target')
    assert.deepEqual(errors, [])
    assert.equal(await readFile(join(outside, 'precious.txt'), 'utf8'), 'outside the target')
    assert.equal(await readFile(join(outside, 'sub/c.txt'), 'utf8'), 'also outside')
    assert.deepEqual(await readdir(join(outside, 'sub')), ['c.txt'])
    assert.equal(await readFile(join(target, src, 'a.txt'), 'utf8'), 'hello\n')
    assert.deepEqual(await readFile(join(target, src, 'big.bin')), big)
    assert.ok((await lstat(join(target, src, 'sub'))).isDirectory())
    assert.equal(await readFile(join(target, src, 'sub/b.txt'), 'utf8'), 'bee\n')
  })

  it("never deletes a folder with content that is in a file's way: that file fails, the folder is kept", async () => {
    const target = join(dir, 'folder-in-the-way')
    await writeFiles(join(target, src), {
      'a.txt/keep/precious.txt': 'the user\'s own file', // a folder with content where a small file goes
      'big.bin/precious.txt': 'another', // and where a large file goes
      'script.sh': { dir: true }, // an empty folder goes
      'sub': 'a file where a folder goes', // replaced by the folder, as restic does
      'link-rel/x': 'a folder where a symlink goes',
    })
    const { errors, summary } = await restoreInto('folder-in-the-way')
    // hard.txt is a hard link of a.txt, so it cannot be made either.
    assert.deepEqual(errors.map((e) => e.replace(/:.*/, '')).sort(), ['a.txt', 'big.bin', 'hard.txt', 'link-rel'].map((n) => join(target, src, n)).sort())
    assert.match(errors.find((e) => e.includes('big.bin'))!, /a folder with content is in the way, and restore never deletes a folder's content/)
    assert.equal(summary.errors, 4)
    assert.equal(await readFile(join(target, src, 'a.txt/keep/precious.txt'), 'utf8'), "the user's own file")
    assert.equal(await readFile(join(target, src, 'big.bin/precious.txt'), 'utf8'), 'another')
    assert.equal(await readFile(join(target, src, 'link-rel/x'), 'utf8'), 'a folder where a symlink goes')
    assert.equal(await readFile(join(target, src, 'script.sh'), 'utf8'), '#!/bin/sh\necho hi\n')
    assert.equal(await readFile(join(target, src, 'sub/deep/c.txt'), 'utf8'), 'sea\n')
    assert.equal((await lstat(join(target, src, 'sub'))).mode & 0o7777, 0o750)
  })
})


describe('restore() of blobs whose plaintext is larger than a worker writes at once (1 MiB)', () => {
  let dir: string
  let src: string
  let repo: Repository
  let tree: Id
  // Text compresses well: its chunks are compressed blobs of several MiB of plaintext each.
  const text = Buffer.from(Array.from({ length: 200_000 }, (_, i) => `line ${i} of a log that compresses well\n`).join(''))
  // Random, then 3 MiB of zeros, then random: the zeros are one or two compressed blobs.
  const holey = Buffer.concat([seededBytes(7, MiB), Buffer.alloc(3 * MiB), seededBytes(8, MiB)])

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-restorer-large-'))
    src = join(dir, 'src')
    await writeFiles(src, { 'log.txt': text, 'copy.txt': text, 'holey.img': holey, 'small.txt': 'small\n' })
    repo = await createTestRepository()
    tree = (await backup(repo, { paths: [src], excludes: new ExcludeMatcher(), hostname: 'h' })).snapshot.tree
    const large = [...repo.index.blobs('data')].filter((b) => b.uncompressedLength > MiB)
    assert.ok(large.length >= 2, `large compressed blobs: ${large.length}`)
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('writes them part by part into every file that holds them, with holes for zeros', async () => {
    const target = join(dir, 'ok')
    const errors: string[] = []
    await restore(repo, { tree, target, progress: { onError: (p, e) => errors.push(`${p}: ${e.message}`) } })
    assert.deepEqual(errors, [])
    for (const f of ['log.txt', 'copy.txt', 'holey.img', 'small.txt']) assert.ok((await readFile(join(target, src, f))).equals(await readFile(join(src, f))), f)
    const st = await lstat(join(target, src, 'holey.img'))
    assert.ok(st.blocks * 512 <= st.size - 2 * MiB, `${st.blocks} blocks allocated for ${st.size} bytes: the zeros are holes`)
    // Node sets times as seconds in a double (a quarter of a microsecond apart at today's dates),
    // and stat gives milliseconds in another double: within two microseconds of the original.
    const mtimes = await Promise.all([lstat(join(target, src, 'log.txt')), lstat(join(src, 'log.txt'))])
    assert.ok(Math.abs(mtimes[0].mtimeMs - mtimes[1].mtimeMs) < 0.002, `mtime ${mtimes[0].mtimeMs}, expected ${mtimes[1].mtimeMs}`)
  })

  it('reports the files of a damaged large blob, and restores the others', async () => {
    const logBlobs = (await nodeAt(repo, tree, `${src}/log.txt`)).content!
    const bad = logBlobs.map((id) => repo.index.lookup('data', id)!).find((l) => l.uncompressedLength > MiB)!
    const be = repo.backend
    const load = async (h: Handle, offset = 0, length?: number) => {
      const bytes = await be.load(h, offset, length)
      const at = bad.offset + bad.length - 20 - offset // in the ciphertext, near its end
      if (h.type === 'data' && h.name === bad.packId && at >= 0 && at < bytes.length) bytes[at] ^= 0x01
      return bytes
    }
    const target = join(dir, 'damaged')
    const errors: string[] = []
    const summary = await restore(
      { loadBlobWith: repo.loadBlobWith.bind(repo), index: repo.index, backend: withMembers(be, { load }), key: repo.key },
      { tree, target, progress: { onError: (p, e) => errors.push(`${p}: ${e.message}`) } },
    )
    assert.equal(errors.length, 2, errors.join('\n'))
    for (const [i, f] of ['copy.txt', 'log.txt'].entries()) assert.match(errors.sort()[i], new RegExp(`${f}: The data blob ${bad.id} in pack [0-9a-f]{64} is damaged`))
    assert.equal(summary.errors, 2)
    for (const f of ['holey.img', 'small.txt']) assert.ok((await readFile(join(target, src, f))).equals(await readFile(join(src, f))), f)
  })
})

describe('restore() from a local repository: pieces are read into reused shared memory', () => {
  let dir: string
  let src: string
  let repo: Repository
  let tree: Id
  const files: Record<string, Buffer> = { 'large.bin': seededBytes(30, 6 * MiB) }
  for (let i = 0; i < 60; i++) files[`small/f${i}.txt`] = Buffer.from(`file ${i}\n`.repeat(50 + 37 * i))

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-restorer-local-'))
    src = join(dir, 'src')
    await writeFiles(src, files)
    repo = await createTestRepository({ backend: new LocalBackend(join(dir, 'repo')) })
    tree = (await backup(repo, { paths: [src], excludes: new ExcludeMatcher(), hostname: 'h' })).snapshot.tree
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  /** The repository with its backend's data reads recorded, and one byte of `flip` (pack, offset) damaged on the way. */
  function recorded(flip?: { packId: Id; at: number }) {
    const be = repo.backend
    const reads: Array<{ how: 'load' | 'loadInto'; length: number; memory: ArrayBufferLike }> = []
    const damage = (h: Handle, offset: number, bytes: Buffer) => {
      if (flip && h.name === flip.packId && flip.at >= offset && flip.at < offset + bytes.length) bytes[flip.at - offset] ^= 0x10
      return bytes
    }
    const load = async (h: Handle, offset = 0, length?: number) => {
      const bytes = await be.load(h, offset, length)
      if (h.type === 'data') reads.push({ how: 'load', length: bytes.length, memory: bytes.buffer })
      return damage(h, offset, bytes)
    }
    const loadInto = async (h: Handle, into: (size: number) => Uint8Array, offset = 0, length?: number) => {
      const bytes = await be.loadInto!(h, into, offset, length)
      if (h.type === 'data') reads.push({ how: 'loadInto', length: bytes.length, memory: bytes.buffer })
      return damage(h, offset, bytes)
    }
    const view = { loadBlobWith: repo.loadBlobWith.bind(repo), index: repo.index, backend: withMembers(be, { load, loadInto }), key: repo.key }
    return { view, reads }
  }

  it('restores every file, reading pieces of up to 1 MiB into a few shared buffers and larger blobs into their own', async () => {
    const { view, reads } = recorded()
    const target = join(dir, 'ok')
    const summary = await restore(view, { tree, target })
    assert.equal(summary.errors, 0)
    for (const [f, data] of Object.entries(files)) assert.ok((await readFile(join(target, src, f))).equals(data), f)
    const shared = reads.filter((r) => r.how === 'loadInto')
    assert.ok(shared.length >= 2, `${shared.length} pieces read into shared memory`)
    assert.ok(shared.every((r) => r.memory instanceof SharedArrayBuffer && r.length <= MiB))
    assert.ok(new Set(shared.map((r) => r.memory)).size <= 8, 'slots are reused, one per piece in flight')
    const own = reads.filter((r) => r.how === 'load')
    assert.ok(own.length >= 1 && own.every((r) => r.length > MiB && !(r.memory instanceof SharedArrayBuffer)), 'a blob over 1 MiB is read by itself')
  })

  it('a damaged blob in shared memory fails only its file; the rest of its piece is restored', async () => {
    const bad = repo.index.lookup('data', (await nodeAt(repo, tree, `${src}/small/f7.txt`)).content![0])!
    const { view, reads } = recorded({ packId: bad.packId, at: bad.offset + 20 })
    const target = join(dir, 'damaged')
    const errors: string[] = []
    const summary = await restore(view, { tree, target, progress: { onError: (p, e) => errors.push(`${p}: ${e.message}`) } })
    assert.ok(reads.some((r) => r.how === 'loadInto'))
    assert.equal(summary.errors, 1)
    assert.match(errors.join('\n'), /small\/f7\.txt: The data blob [0-9a-f]{64} in pack [0-9a-f]{64} is damaged/)
    for (const [f, data] of Object.entries(files)) if (f !== 'small/f7.txt') assert.ok((await readFile(join(target, src, f))).equals(data), f)
  })
})

describe('restore() into a target that holds files already (--overwrite, --delete, --dry-run)', () => {
  let dir: string
  let src: string
  let repo: Repository
  let tree: Id
  // Four blobs or more: a change in the middle leaves the others as they are.
  const big = seededBytes(31, 6 * MiB + 77)
  const zeros = Buffer.alloc(3 * MiB)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-restore-existing-'))
    src = join(dir, 'src')
    await writeFiles(src, {
      'a.txt': 'hello\n',
      'big.bin': big,
      'zeros.img': zeros,
      'script.sh': '#!/bin/sh\necho hi\n',
      'sub/b.txt': 'bee\n',
      'sub/c.txt': 'sea\n',
      'link': { symlink: 'a.txt' },
    })
    await chmod(join(src, 'script.sh'), 0o755)
    await utimes(join(src, 'sub/b.txt'), new Date('2020-02-03T04:05:06Z'), new Date('2020-02-03T04:05:06.789Z'))
    repo = await createTestRepository()
    tree = (await backup(repo, { paths: [src], excludes: new ExcludeMatcher(), hostname: 'h' })).snapshot.tree
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  /** Restores into `name` (a fresh copy first when `fresh`), recording each action by path below the copy's root. */
  async function restoreInto(name: string, extra: Partial<RestoreOptions> = {}) {
    const target = join(dir, name)
    const root = join(target, src)
    const errors: string[] = []
    const actions = new Map<string, string>()
    const summary = await restore(repo, {
      tree,
      target,
      ...extra,
      progress: {
        onError: (p, e) => errors.push(`${p}: ${e.message}`),
        onAction: (p, a) => actions.set(p.slice(root.length + 1), a),
      },
    })
    return { target, root, summary, errors, actions }
  }

  async function sameAsSource(root: string): Promise<void> {
    assert.deepEqual(await listTree(root), await listTree(src))
    for (const f of ['a.txt', 'big.bin', 'zeros.img', 'script.sh', 'sub/b.txt', 'sub/c.txt']) assert.deepEqual(await readFile(join(root, f)), await readFile(join(src, f)), f)
  }

  it('writes only the blobs an existing file lacks, cuts or extends it to size, and sets the metadata of unchanged ones', async () => {
    const { root } = await restoreInto('update')
    const ino = (await lstat(join(root, 'big.bin'))).ino
    // A few bytes changed in the middle of big.bin; a restore cut short left sub/c.txt empty;
    // sub/b.txt has more than it should; script.sh lost its mode.
    const h = await open(join(root, 'big.bin'), 'r+')
    await h.write(Buffer.from('changed'), 0, 7, 3 * MiB)
    await h.close()
    await writeFile(join(root, 'sub/c.txt'), '')
    appendFileSync(join(root, 'sub/b.txt'), 'and more')
    await chmod(join(root, 'script.sh'), 0o644)
    const { summary, errors, actions } = await restoreInto('update')
    assert.deepEqual(errors, [])
    await sameAsSource(root)
    assert.equal((await lstat(join(root, 'big.bin'))).ino, ino, 'written in place, not replaced')
    assert.deepEqual(Object.fromEntries(actions), {
      'a.txt': 'unchanged',
      'big.bin': 'updated',
      'zeros.img': 'unchanged',
      'script.sh': 'unchanged',
      'link': 'restored',
      'sub/b.txt': 'updated',
      'sub/c.txt': 'updated',
    })
    assert.equal(summary.files, 3)
    assert.equal(summary.skipped, 3)
    // Of big.bin only the blobs holding the changed bytes; sub/c.txt whole; sub/b.txt holds its
    // blob already and is only cut short.
    let offset = 0
    let changed = 0
    for (const id of (await nodeAt(repo, tree, join(src, 'big.bin'))).content ?? []) {
      const len = plaintextLength(repo.index.lookup('data', id)!)
      if (offset < 3 * MiB + 7 && offset + len > 3 * MiB) changed += len
      offset += len
    }
    assert.ok(changed < big.length, "not the whole file")
    assert.equal(summary.bytes, changed + 4)
    assert.equal((await lstat(join(root, 'script.sh'))).mode & 0o7777, 0o755, 'metadata set on an unchanged file')
    assert.equal((await lstat(join(root, 'sub/b.txt'), { bigint: true })).mtimeNs, 1580702706789000000n)
  })

  it('hands the plan over one batch at a time while existing files are compared beside the walk', async () => {
    // Comparisons that finished while a full batch waited for the writer planned into the next
    // batch and handed it over too: "put() while an item is still on offer", and that batch's
    // files were never written.
    const many = join(dir, 'many')
    const files: Record<string, Buffer> = {}
    for (let i = 0; i < 300; i++) files[`f${i}`] = seededBytes(1000 + i, 2000 + i)
    await writeFiles(many, files)
    const manyTree = (await backup(repo, { paths: [many], excludes: new ExcludeMatcher(), hostname: 'h' })).snapshot.tree
    const target = join(dir, 'batches')
    await restore(repo, { tree: manyTree, target })
    for (const f of Object.keys(files)) await writeFile(join(target, many, f), 'changed')
    const errors: string[] = []
    const summary = await restoreInBatches(repo, { tree: manyTree, target, progress: { onError: (p, e) => errors.push(`${p}: ${e.message}`) } }, { files: 1, blobs: 1 })
    assert.deepEqual(errors, [])
    assert.equal(summary.files, 300)
    for (const [f, data] of Object.entries(files)) assert.deepEqual(await readFile(join(target, many, f)), data, f)
  })

  it('stops at once when interrupted while existing files are compared, and deletes nothing then', async () => {
    // The stop was noticed only when entering a folder or writing: a restore over an unchanged
    // copy went on to the end, and --delete deleted.
    const { root } = await restoreInto('interrupted')
    await writeFile(join(root, 'sub/extra.txt'), 'not in the snapshot')
    const stop = new AbortController()
    const target = join(dir, 'interrupted')
    const actions: string[] = []
    await assert.rejects(
      restore(repo, { tree, target, delete: true, signal: stop.signal, progress: { onAction: (p, a) => {
        actions.push(a)
        stop.abort()
      } } }),
      (err) => isAppError(err, 'INTERRUPTED'),
    )
    // What was under way when the stop came may still finish and tell (a symlink being made, as
    // timing has it); nothing after it starts. The tree has seven entries.
    assert.ok(actions.length <= 2, actions.join(' '))
    assert.ok(!actions.includes('deleted'), actions.join(' '))
    assert.ok(existsSync(join(root, 'sub/extra.txt')))
  })

  it('writes blobs of zeros into an existing file (it may hold other bytes there) and verifies what it wrote', async () => {
    const { root } = await restoreInto('zeros')
    await writeFile(join(root, 'zeros.img'), Buffer.alloc(zeros.length, 0xff))
    await truncate(join(root, 'zeros.img'), MiB)
    const { summary, errors } = await restoreInto('zeros', { verify: true })
    assert.deepEqual(errors, [])
    assert.deepEqual(await readFile(join(root, 'zeros.img')), zeros)
    assert.equal(summary.verified, 1)
  })

  it('if-changed takes a file of the same size and mtime as unchanged; always reads it', async () => {
    const { root } = await restoreInto('if-changed')
    const st = await lstat(join(root, 'sub/c.txt'), { bigint: true })
    await writeFile(join(root, 'sub/c.txt'), 'SEA\n')
    // The same microsecond again (a Date holds milliseconds only).
    const seconds = (ns: bigint) => Number(ns / 1000n) / 1e6 + 0.5e-6
    await utimes(join(root, 'sub/c.txt'), seconds(st.atimeNs), seconds(st.mtimeNs))
    const trusted = await restoreInto('if-changed', { overwrite: 'if-changed' })
    assert.equal(trusted.actions.get('sub/c.txt'), 'unchanged')
    assert.equal(await readFile(join(root, 'sub/c.txt'), 'utf8'), 'SEA\n')
    const read = await restoreInto('if-changed', { overwrite: 'always' })
    assert.equal(read.actions.get('sub/c.txt'), 'updated')
    assert.equal(await readFile(join(root, 'sub/c.txt'), 'utf8'), 'sea\n')
  })

  it('never leaves existing files (of any type) alone; if-newer replaces only those older than the snapshot', async () => {
    const target = join(dir, 'never')
    const root = join(target, src)
    await writeFiles(root, { 'a.txt': 'mine', 'sub/b.txt': 'older', 'sub/c.txt': 'newer', 'link': 'a file where the symlink was' })
    await utimes(join(root, 'sub/b.txt'), new Date('2001-01-01'), new Date('2001-01-01'))
    const never = await restoreInto('never', { overwrite: 'never' })
    assert.deepEqual(never.errors, [])
    assert.equal(await readFile(join(root, 'a.txt'), 'utf8'), 'mine')
    assert.equal(await readFile(join(root, 'sub/b.txt'), 'utf8'), 'older')
    assert.equal(await readFile(join(root, 'link'), 'utf8'), 'a file where the symlink was')
    assert.deepEqual(await readFile(join(root, 'big.bin')), big, 'what is missing is restored')
    assert.equal(never.summary.skipped, 4)
    await rm(join(root, 'big.bin'))
    const newer = await restoreInto('never', { overwrite: 'if-newer' })
    assert.deepEqual(newer.errors, [])
    assert.equal(await readFile(join(root, 'sub/b.txt'), 'utf8'), 'bee\n', 'older than the snapshot: replaced')
    assert.equal(await readFile(join(root, 'sub/c.txt'), 'utf8'), 'newer', 'newer than the snapshot: kept')
    assert.deepEqual(await readFile(join(root, 'big.bin')), big)
  })

  it('delete removes what the snapshot does not have, where the filter would restore it, and never follows a symlink', async () => {
    const outside = join(dir, 'outside-delete')
    await writeFiles(outside, { 'precious.txt': 'outside the target' })
    const target = join(dir, 'delete')
    const root = join(target, src)
    await writeFiles(root, {
      'extra.txt': 'not in the snapshot',
      'extra-dir/deep/x.txt': 'x',
      'sub/extra.log': 'log',
      'sub/keep.tmp': 'excluded from the restore: kept',
      'a.txt/inside': 'a folder with content where a file goes',
    })
    await symlink(outside, join(root, 'extra-link'))
    const filter: RestoreOptions['filter'] = (p) => (p.endsWith('.tmp') ? 'exclude' : 'include')
    const dry = await restoreInto('delete', { delete: true, dryRun: true, filter })
    assert.equal(dry.summary.deleted, 6)
    assert.ok(existsSync(join(root, 'extra.txt')), 'a dry run deletes nothing')
    const { summary, errors, actions } = await restoreInto('delete', { delete: true, filter })
    assert.deepEqual(errors, [])
    assert.equal(summary.deleted, 6, 'extra.txt, extra-dir (three entries), sub/extra.log, extra-link')
    assert.equal(actions.get('extra-link'), 'deleted')
    assert.deepEqual(await listTree(root), [...(await listTree(src)), 'sub/keep.tmp'].sort())
    assert.equal(await readFile(join(root, 'a.txt'), 'utf8'), 'hello\n', 'with delete a file replaces a folder with content')
    assert.equal(await readFile(join(outside, 'precious.txt'), 'utf8'), 'outside the target')
  })

  it('delete leaves what is beside the backed-up folders alone: a snapshot of /home/me restored into / keeps /etc', async () => {
    const target = join(dir, 'delete-within')
    const root = join(target, src)
    await writeFiles(target, { 'etc/passwd': 'root', [`${src}/extra.txt`]: 'not in the snapshot' })
    await writeFile(join(dir, 'delete-within', dir.slice(1).split('/')[0] + '-sibling'), 'beside a folder that only leads there')
    const { summary, errors } = await restoreInto('delete-within', { delete: true, deleteWithin: [src] })
    assert.deepEqual(errors, [])
    assert.equal(summary.deleted, 1)
    assert.equal(existsSync(join(root, 'extra.txt')), false)
    assert.equal(await readFile(join(target, 'etc/passwd'), 'utf8'), 'root')
    assert.ok(existsSync(join(dir, 'delete-within', dir.slice(1).split('/')[0] + '-sibling')))
  })

  it('a dry run changes nothing (not even a missing target) and counts what would be done', async () => {
    const missing = join(dir, 'dry-missing')
    const fresh = await restoreInto('dry-missing', { dryRun: true })
    assert.equal(existsSync(missing), false)
    assert.equal(fresh.summary.files, 6)
    assert.equal(fresh.summary.bytes, big.length + zeros.length + 6 + 18 + 4 + 4)
    const { root } = await restoreInto('dry')
    await writeFile(join(root, 'sub/c.txt'), 'changed')
    await rm(join(root, 'a.txt'))
    await chmod(join(root, 'script.sh'), 0o600)
    const before = await readFile(join(root, 'sub/c.txt'))
    const { summary, actions } = await restoreInto('dry', { dryRun: true })
    assert.deepEqual(Object.fromEntries(actions), {
      'a.txt': 'restored',
      'big.bin': 'unchanged',
      'link': 'restored',
      'zeros.img': 'unchanged',
      'script.sh': 'unchanged',
      'sub/b.txt': 'unchanged',
      'sub/c.txt': 'updated',
    })
    assert.equal(summary.files, 2, 'a.txt and sub/c.txt (symlinks are not counted)')
    assert.deepEqual(await readFile(join(root, 'sub/c.txt')), before)
    assert.equal(existsSync(join(root, 'a.txt')), false)
    assert.equal((await lstat(join(root, 'script.sh'))).mode & 0o7777, 0o600)
  })
})

describe('restore() of crafted trees', () => {
  let dir: string
  let repo: Repository

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-restore-crafted-'))
    repo = await createTestRepository()
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const T = '2001-01-01T00:00:00Z'
  async function saveTree(nodes: object[]): Promise<Id> {
    const tree = encodeTreeJson(nodes.map((n) => JSON.stringify({ mtime: T, atime: T, ctime: T, uid: 0, gid: 0, ...n })))
    const id = hashId(tree)
    await repo.withWriter((w) => w.saveBlob('tree', tree, id), { threads: 0 })
    return id
  }

  it('restores only the first of two entries of one name: a folder, then a symlink of its name, never changes what the link leads to', async () => {
    // The folder was made, replaced by the symlink, and its mode then set through the symlink:
    // as root, a file outside the target became setuid and world-writable.
    const outside = join(dir, 'outside.sh')
    await writeFile(outside, '#!/bin/sh\n')
    await chmod(outside, 0o755)
    const empty = await saveTree([])
    const tree = await saveTree([
      { name: 'x', type: 'dir', mode: 0x80000000 + 0o4777, subtree: empty },
      { name: 'x', type: 'symlink', mode: 0x8000000 + 0o777, linktarget: outside },
    ])
    const errors: string[] = []
    await restore(repo, { tree, target: join(dir, 'dup'), progress: { onError: (p, e) => errors.push(`${p}: ${e.message}`) } })
    assert.equal((await lstat(outside)).mode & 0o7777, 0o755, 'the file the symlink leads to is untouched')
    assert.ok((await lstat(join(dir, 'dup', 'x'))).isDirectory())
    assert.equal(errors.length, 1)
    assert.match(errors[0], /x: the name appears twice in its folder/)
  })

  it('dump leaves out names that would lead out of the folder an archive is extracted into', async () => {
    // "..", "../../x" went into tar and zip as they were; Python's tarfile wrote outside.
    const data = Buffer.from('evil\n')
    const dataId = hashId(data)
    await repo.withWriter((w) => w.saveBlob('data', data, dataId), { threads: 0 })
    const file = (name: string) => ({ name, type: 'file', mode: 0o644, size: data.length, content: [dataId] })
    const tree = await saveTree([file('../../x'), file('..'), file('.'), file('ok')])
    const nodes = await repo.loadBlobWith('tree', tree, decodeTree)
    for (const format of ['tar', 'zip'] as const) {
      const sink = memorySink()
      const summary = await dumpArchive(repo, nodes, '/', sink, { format })
      assert.equal(summary.files, 1, format)
      assert.equal(summary.skipped, 3, format)
      const bytes = sink.bytes()
      assert.ok(bytes.includes('ok') && !bytes.includes('../'), format)
    }
  })

  it('dumps a tree 5,000 folders deep (restic backs such trees up)', async () => {
    // Each level was a generator of its own (yield*): about 2,030 levels deep, dump failed with
    // "Maximum call stack size exceeded" and left a cut-off archive.
    const data = Buffer.from('deep\n')
    const dataId = hashId(data)
    await repo.withWriter((w) => w.saveBlob('data', data, dataId), { threads: 0 })
    let tree = await saveTree([{ name: 'f', type: 'file', mode: 0o644, size: data.length, content: [dataId] }])
    for (let i = 0; i < 5000; i++) tree = await saveTree([{ name: 'a', type: 'dir', mode: 0x80000000 + 0o755, subtree: tree }])
    const nodes = await repo.loadBlobWith('tree', tree, decodeTree)
    const sink = memorySink()
    const summary = await dumpArchive(repo, nodes, '/', sink, { format: 'tar' })
    assert.equal(summary.files, 1)
    assert.ok(sink.bytes().includes('deep\n'))
  })

  it('restores a device node that has no device number as 0, 0 (restic leaves a 0 out), and replaces special files in the way', { skip: process.getuid?.() !== 0 ? 'needs root (mknod)' : false }, async () => {
    // overlayfs's whiteouts (0, 0) failed with "the node has no device number"; a second restore
    // failed on every fifo and device already there.
    const tree = await saveTree([
      { name: 'whiteout', type: 'chardev', mode: 0x4000000 + 0x200000 + 0o600 },
      { name: 'pipe', type: 'fifo', mode: 0x2000000 + 0o644 },
    ])
    const target = join(dir, 'special')
    for (const round of [1, 2]) {
      const errors: string[] = []
      await restore(repo, { tree, target, progress: { onError: (p, e) => errors.push(`${p}: ${e.message}`) } })
      assert.deepEqual(errors, [], `round ${round}`)
    }
    const st = await lstat(join(target, 'whiteout'), { bigint: true })
    assert.ok(st.isCharacterDevice())
    assert.equal(st.rdev, 0n)
    assert.ok((await lstat(join(target, 'pipe'))).isFIFO())
  })
})

describe('a symlink whose target is not UTF-8', () => {
  it('comes back with the target\'s very bytes from a restore and a tar dump', async () => {
    // The bad byte was stored only as \ufffd: the link came back pointing at "b\xef\xbf\xbd/x".
    const dir = await mkdtemp(join(tmpdir(), 'cairn-raw-link-'))
    try {
      const target = Buffer.from([0x62, 0xff, 0x2f, 0x78])
      await mkdir(join(dir, 'src'))
      await symlink(target, join(dir, 'src', 'l'))
      const repo = await createTestRepository()
      const { snapshot } = await backup(repo, { paths: [join(dir, 'src')], excludes: new ExcludeMatcher(), hostname: 'h' })
      await restore(repo, { tree: snapshot.tree, target: join(dir, 'out') })
      assert.deepEqual(await readlink(join(dir, 'out', dir, 'src', 'l'), { encoding: 'buffer' }), target)
      const sink = memorySink()
      await dumpArchive(repo, await repo.loadBlobWith('tree', snapshot.tree, decodeTree), '/', sink, { format: 'tar' })
      assert.ok(sink.bytes().includes(Buffer.concat([target, Buffer.alloc(1)])), 'the tar header holds the bytes')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
