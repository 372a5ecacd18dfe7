import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { LocalBackend, MemoryBackend } from '../backends/index.js'
import { names, nodeAt, nodesAt, writeFiles } from '../archiver/testing.js'
import { Repository } from '../repository/index.js'
import { createTestRepository, seededBytes, TEST_PASSWORD } from '../repository/testing.js'
import { patternProblem } from '../archiver/index.js'
import { runBackup } from './backup.js'
import { cairnMain, initRepo, interopSkipReason, json, restic, run, tempDir } from './interop-testing.js'

describe('runBackup()', () => {
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-app-backup-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('refuses a malformed exclude pattern before it reads anything, as restic does', async () => {
    const repo = await createTestRepository()
    await assert.rejects(runBackup(repo, { paths: [dir], exclude: ['*.tmp', 'cache/[abc'] }), (err) => {
      assert.ok(isAppError(err, 'INVALID_ARGUMENT'))
      assert.match(err.message, /^Invalid pattern "cache\/\[abc" for --exclude: /)
      return true
    })
    await assert.rejects(runBackup(repo, { paths: [dir], iexclude: ['a\\'] }), (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message.includes('for --iexclude'))
    assert.equal(repo.index.size, 0)
  })

  it('never backs up the cache of the repository it writes to', async () => {
    const root = join(dir, 'home-with-cache')
    await writeFiles(root, { 'notes.txt': 'n', '.cache/other-app/data': 'kept' })
    const backend = new MemoryBackend()
    await createTestRepository({ backend })
    const repo = await Repository.open(backend, TEST_PASSWORD, { cache: { dir: join(root, '.cache', 'cairn') } })
    assert.ok(repo.backend.cacheDir?.startsWith(join(root, '.cache', 'cairn')))
    await runBackup(repo, { paths: [root] })
    // The second run finds the first run's files in the cache: they are left out all the same.
    const { snapshot } = await runBackup(repo, { paths: [root] })
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, join(root, '.cache'))), ['cairn', 'other-app'])
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, join(root, '.cache', 'cairn'))), ['CACHEDIR.TAG'])
  })

  it('never backs up the local repository it writes to', async () => {
    const root = join(dir, 'home')
    await writeFiles(root, { 'notes.txt': 'n', 'repo2/file': 'kept', 'repository-old/file': 'kept' })
    const repo = await createTestRepository({ backend: new LocalBackend(join(root, 'repo')) })
    const { snapshot } = await runBackup(repo, { paths: [root] })
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, root)), ['notes.txt', 'repo2', 'repository-old'])
    // a second run sees the packs the first one wrote, and still leaves them out
    const second = await runBackup(repo, { paths: [root] })
    const subtree = async (tree: string) => (await nodeAt(repo, tree, root)).subtree
    assert.equal(await subtree(second.snapshot.tree), await subtree(snapshot.tree))
  })

  it('leaves out the default repository and its password file when backing up the home folder', async () => {
    const home = join(dir, 'default-home')
    await writeFiles(home, { 'notes.txt': 'n', '.config/cairn/repository.password': 'secret', '.config/app.conf': 'c' })
    const saved = { HOME: process.env.HOME, XDG_DATA_HOME: process.env.XDG_DATA_HOME, XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME }
    process.env.HOME = home
    delete process.env.XDG_DATA_HOME
    delete process.env.XDG_CONFIG_HOME
    try {
      const repo = await createTestRepository({ backend: new LocalBackend(join(home, '.local/share/cairn/repository')) })
      const { snapshot } = await runBackup(repo, { paths: [home] })
      assert.deepEqual(names(await nodesAt(repo, snapshot.tree, `${home}/.config`)), ['app.conf', 'cairn'])
      assert.deepEqual(names(await nodesAt(repo, snapshot.tree, `${home}/.config/cairn`)), [])
      assert.deepEqual(names(await nodesAt(repo, snapshot.tree, `${home}/.local/share/cairn`)), [])
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    }
  })

  it('takes the newest snapshot of the same host and paths as parent', async () => {
    const root = join(dir, 'parent')
    await writeFiles(root, { 'a.txt': 'a', 'b.txt': 'b' })
    const repo = await createTestRepository()
    const first = await runBackup(repo, { paths: [root] })
    assert.equal(first.snapshot.parent, undefined)
    assert.equal(first.snapshot.hostname, hostname())
    const otherHost = await runBackup(repo, { paths: [root], host: 'elsewhere' })
    assert.equal(otherHost.snapshot.parent, undefined, 'another host is not a parent')
    const second = await runBackup(repo, { paths: [root] })
    assert.equal(second.snapshot.parent, first.snapshotId)
    assert.equal(second.summary.filesUnmodified, 2)
    const forced = await runBackup(repo, { paths: [root], force: true })
    assert.equal(forced.snapshot.parent, undefined)
    assert.equal(forced.summary.filesUnmodified, 0)
    const explicit = await runBackup(repo, { paths: [root], parent: otherHost.snapshotId!.slice(0, 8) })
    assert.equal(explicit.snapshot.parent, otherHost.snapshotId)
    // An empty --host is this machine's name, as restic takes it (it was stored empty).
    const emptyHost = await runBackup(repo, { paths: [root], host: '' })
    assert.equal(emptyHost.snapshot.hostname, hostname())
  })

  it('--ignore-inode implies --ignore-ctime, as in restic', async () => {
    // A file whose ctime changed (chmod back and forth, as a remount of a FUSE file system does) was read again.
    const { chmod } = await import('node:fs/promises')
    const root = join(dir, 'ignore-inode')
    await writeFiles(root, { 'a.txt': 'a' })
    const repo = await createTestRepository()
    await runBackup(repo, { paths: [root] })
    await new Promise((r) => setTimeout(r, 20))
    await chmod(join(root, 'a.txt'), 0o600)
    await chmod(join(root, 'a.txt'), 0o644)
    const again = await runBackup(repo, { paths: [root], ignoreInode: true })
    assert.equal(again.summary.filesUnmodified, 1)
  })

  it('reads exclude files and files-from lists, skipping comments and blank lines', async () => {
    const root = join(dir, 'lists')
    await writeFiles(root, { 'data/keep.txt': 'k', 'data/skip.tmp': 's', 'data/skip.bak': 's', 'other/x': 'x', 'unlisted/y': 'y' })
    const excludeFile = join(dir, 'excludes.txt')
    await writeFile(excludeFile, '# temp files\n*.tmp\n\n  *.bak  \n')
    const filesFrom = join(dir, 'files.txt')
    await writeFile(filesFrom, `# what to save\n${join(root, 'data')}\n\n${join(root, 'other')}\n`)
    const repo = await createTestRepository()
    const { snapshot } = await runBackup(repo, { paths: [], filesFrom: [filesFrom], excludeFile: [excludeFile], exclude: ['nothing-matches'] })
    assert.deepEqual(snapshot.paths, [join(root, 'data'), join(root, 'other')])
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, root)), ['data', 'other'])
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, join(root, 'data'))), ['keep.txt'])
    // The snapshot records the --exclude patterns alone, as restic's does (an exclude file's were added).
    assert.deepEqual(snapshot.excludes, ['nothing-matches'])
  })

  it('reads --files-from-verbatim lines as they are, --files-from-raw by NUL bytes, and --iexclude-file ignoring case', async () => {
    const root = join(dir, 'verbatim')
    await writeFiles(root, { ' spaced ': 's', '#hash': 'h', 'new\nline': 'n', 'keep/A.TMP': 'a', 'keep/b.txt': 'b' })
    const verbatim = join(dir, 'verbatim.txt')
    await writeFile(verbatim, `${join(root, ' spaced ')}\n\n${join(root, '#hash')}\r\n`)
    const raw = join(dir, 'raw.txt')
    await writeFile(raw, `${join(root, 'new\nline')}\0${join(root, 'keep')}\0`)
    const iexcludeFile = join(dir, 'iexcludes.txt')
    await writeFile(iexcludeFile, '# case does not matter\n*.tmp\n')
    const repo = await createTestRepository()
    const { snapshot } = await runBackup(repo, { paths: [], filesFromVerbatim: [verbatim], filesFromRaw: [raw], iexcludeFile: [iexcludeFile] })
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, root)), [' spaced ', '#hash', 'keep', 'new\nline'])
    assert.deepEqual(names(await nodesAt(repo, snapshot.tree, join(root, 'keep'))), ['b.txt'])
    assert.equal(snapshot.excludes, undefined, 'an --iexclude-file is not recorded, as restic records none')
  })

  it('fails with INVALID_ARGUMENT without paths or with an unreadable list file', async () => {
    const repo = await createTestRepository()
    await assert.rejects(runBackup(repo, { paths: [] }), (err) => isAppError(err, 'INVALID_ARGUMENT'))
    await assert.rejects(
      runBackup(repo, { paths: [dir], excludeFile: [join(dir, 'no-such-file')] }),
      (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message.includes('no-such-file'),
    )
  })
})

describe('exclude patterns against restic', { skip: await interopSkipReason() }, () => {
  it('cairn refuses exactly the patterns restic refuses', async () => {
    const tmp = await tempDir('patterns')
    try {
      const repo = join(tmp.path, 'repo')
      await initRepo(repo)
      await writeFile(join(tmp.path, 'file.txt'), 'x')
      const patterns = ['[[]', '[a-b-c]', '[\\-]', 'a/**/[b', '*[', '\\\\', '[^\\]]', '[]]', '[a-b]]', '**/[x-', '[é-ü]']
      const theirs = await Promise.all(patterns.map(async (p) => (await restic(repo, ['backup', '--dry-run', '-q', '--exclude', p, join(tmp.path, 'file.txt')])).code === 0))
      assert.deepEqual(
        patterns.map((p) => patternProblem(p) === undefined),
        theirs,
        `restic's verdicts (true: taken): ${JSON.stringify(Object.fromEntries(patterns.map((p, i) => [p, theirs[i]])))}`,
      )
      assert.ok(theirs.includes(true) && theirs.includes(false))
    } finally {
      await tmp.remove()
    }
  })
})

describe('backup --stdin against restic', { skip: await interopSkipReason() }, () => {
  it('stores a stream as restic does: the same chunks, a tree restic restores, the earlier one as parent', async () => {
    const tmp = await tempDir('stdin')
    try {
      const repo = join(tmp.path, 'repo')
      await initRepo(repo)
      const data = Buffer.concat([Buffer.from('-- a database dump\n'), seededBytes(9, 6 * 1024 * 1024)])
      const args = ['backup', '--stdin', '--stdin-filename', 'dumps/db.sql']
      const rawData = async () => json<{ total_size: number }>(await restic(repo, ['stats', '--json', '--mode', 'raw-data'])).total_size
      const ours = await run(process.execPath, [cairnMain, '-r', repo, ...args], {}, data)
      assert.equal(ours.code, 0, ours.stderr)
      const afterOurs = await rawData()
      const theirs = await run('restic', ['--no-cache', '-r', repo, ...args], {}, data)
      assert.equal(theirs.code, 0, theirs.stderr)
      // restic cut the same chunks, so it found every one stored: it added only its trees.
      assert.ok((await rawData()) - afterOurs < 4096, 'restic added no data blobs')
      const again = await run(process.execPath, [cairnMain, '-r', repo, ...args], {}, data)
      assert.equal(again.code, 0, again.stderr)
      const snaps = json<Array<{ id: string; paths: string[]; parent?: string }>>(await restic(repo, ['snapshots', '--json']))
      assert.equal(snaps.length, 3)
      for (const s of snaps) assert.deepEqual(s.paths, ['/dumps/db.sql'])
      assert.equal(snaps[2].parent, snaps[1].id, 'the earlier snapshot of the same path is the parent')
      const dumped = await restic(repo, ['dump', snaps[0].id, '/dumps/db.sql'])
      assert.equal(dumped.code, 0, dumped.stderr)
      assert.ok(dumped.bytes.equals(data), 'restic dumps what cairn stored')
      const check = await restic(repo, ['check', '--read-data'])
      assert.equal(check.code, 0, check.stderr)
    } finally {
      await tmp.remove()
    }
  })

  it('refuses --stdin with paths', async () => {
    const tmp = await tempDir('stdin-paths')
    try {
      const repo = join(tmp.path, 'repo')
      await initRepo(repo)
      const r = await run(process.execPath, [cairnMain, '-r', repo, 'backup', '--stdin', tmp.path], {}, Buffer.from('x'))
      assert.equal(r.code, 1)
      assert.match(r.stderr, /^Fatal: --stdin was given together with paths to back up/)
    } finally {
      await tmp.remove()
    }
  })
})
