import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { goStringFromBytes } from '../snapshots/index.js'
import { listTree, writeFiles } from '../archiver/testing.js'
import type { Repository } from '../repository/index.js'
import { createTestRepository } from '../repository/testing.js'
import { runBackup } from './backup.js'
import { runRestore, type RestoreRequest } from './restore.js'

describe('runRestore()', () => {
  let dir: string
  let src: string
  let repo: Repository
  let n = 0

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-app-restore-'))
    src = join(dir, 'src')
    await writeFiles(src, {
      'docs/a.txt': 'a',
      'docs/b.md': 'b',
      'docs/old/c.txt': 'c',
      'music/song.MP3': 'm',
      'music/list.txt': 'l',
      'top.txt': 't',
    })
    repo = await createTestRepository()
    await runBackup(repo, { paths: [src] })
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  async function restoreWith(req: Partial<RestoreRequest>): Promise<string[]> {
    const target = join(dir, `t${n++}`)
    const result = await runRestore(repo, { snapshot: 'latest', target, ...req })
    assert.equal(result.summary.errors, 0)
    return listTree(join(target, src)).catch(() => [])
  }

  it('restores everything by default', async () => {
    assert.deepEqual(await restoreWith({}), [
      'docs/',
      'docs/a.txt',
      'docs/b.md',
      'docs/old/',
      'docs/old/c.txt',
      'music/',
      'music/list.txt',
      'music/song.MP3',
      'top.txt',
    ])
  })

  it('--exclude leaves out matching paths and everything below them', async () => {
    assert.deepEqual(await restoreWith({ exclude: ['*.txt', 'music'] }), ['docs/', 'docs/b.md', 'docs/old/'])
  })

  it('--include restores matching paths, everything below them, and only the directories leading there', async () => {
    assert.deepEqual(await restoreWith({ include: [`${src}/docs/old`] }), ['docs/', 'docs/old/', 'docs/old/c.txt'])
    assert.deepEqual(await restoreWith({ include: ['*.md'] }), ['docs/', 'docs/b.md'])
  })

  it('--include reads only the folders an include pattern can reach into, as restic does', async () => {
    // Every folder of the snapshot was read: a single file's restore out of a large snapshot took
    // three times restic's time.
    const original = repo.loadBlobWith
    let trees = 0
    repo.loadBlobWith = function (this: Repository, ...args: Parameters<Repository['loadBlobWith']>) {
      if (args[0] === 'tree') trees++
      return original.apply(this, args)
    } as Repository['loadBlobWith']
    try {
      const count = async (req: Partial<RestoreRequest>) => {
        trees = 0
        await restoreWith(req)
        return trees
      }
      const all = await count({})
      assert.equal(await count({ include: [`${src}/docs/old`] }), all - 1, 'music/ is not read')
      assert.equal(await count({ include: [`${src}/music/*.txt`] }), all - 2, 'docs/ and docs/old/ are not read')
      assert.equal(await count({ include: ['*.md'] }), all, 'a pattern not anchored at the root can match anywhere')
    } finally {
      repo.loadBlobWith = original
    }
  })

  it('--include and --exclude together: excludes win', async () => {
    assert.deepEqual(await restoreWith({ include: [`${src}/docs`], exclude: ['old'] }), ['docs/', 'docs/a.txt', 'docs/b.md'])
  })

  it('--iinclude and --iexclude ignore case', async () => {
    assert.deepEqual(await restoreWith({ iinclude: ['*.mp3'] }), ['music/', 'music/song.MP3'])
    assert.deepEqual(await restoreWith({ iexclude: ['*.MP3', 'DOCS', 'TOP.TXT'] }), ['music/', 'music/list.txt'])
  })

  it('SNAPSHOT:PATH restores a sub-folder directly into the target', async () => {
    const target = join(dir, 'sub')
    const result = await runRestore(repo, { snapshot: `latest:${src}/docs`, target, include: ['*.txt'] })
    assert.equal(result.summary.files, 2)
    assert.deepEqual(await listTree(target), ['a.txt', 'old/', 'old/c.txt'])
  })

  it('SNAPSHOT:PATH matches --include and --exclude against paths inside the sub-folder, as restic does', async () => {
    // They were matched against the whole snapshot's paths: "--exclude /old" restored old/ anyway.
    const excluded = join(dir, `sub-${n++}`)
    await runRestore(repo, { snapshot: `latest:${src}/docs`, target: excluded, exclude: ['/old'] })
    assert.deepEqual(await listTree(excluded), ['a.txt', 'b.md'])
    const included = join(dir, `sub-${n++}`)
    await runRestore(repo, { snapshot: `latest:${src}/docs`, target: included, include: ['/old'] })
    assert.deepEqual(await listTree(included), ['old/', 'old/c.txt'])
  })

  it('refuses --delete into / without a filter, and --dry-run with --verify, before restoring anything', async () => {
    await assert.rejects(
      runRestore(repo, { snapshot: `latest:${src}/docs`, target: '/', delete: true, dryRun: true }),
      (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message.includes('--target /') && (err.hint ?? '').includes('--include'),
    )
    await assert.rejects(runRestore(repo, { snapshot: 'latest', target: '/.', delete: true }), (err) => isAppError(err, 'INVALID_ARGUMENT'))
    const target = join(dir, `t${n++}`)
    await assert.rejects(runRestore(repo, { snapshot: 'latest', target, dryRun: true, verify: true }), (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message.includes('--verify'))
    assert.deepEqual(await listTree(target).catch(() => 'no target'), 'no target')
  })

  it('fails with INVALID_ARGUMENT for a missing target or a path that is not a directory', async () => {
    await assert.rejects(runRestore(repo, { snapshot: 'latest', target: '' }), (err) => isAppError(err, 'INVALID_ARGUMENT'))
    await assert.rejects(
      runRestore(repo, { snapshot: `latest:${src}/top.txt`, target: join(dir, 'x') }),
      (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message.includes('top.txt'),
    )
    await assert.rejects(runRestore(repo, { snapshot: `latest:${src}/nope`, target: join(dir, 'x') }), (err) => isAppError(err, 'NOT_FOUND'))
  })

  it('refuses a malformed include or exclude pattern, as restic does, instead of restoring nothing', async () => {
    const cases: Array<[string, Partial<RestoreRequest>]> = [
      ['--include', { include: ['['] }],
      ['--iinclude', { iinclude: ['docs/[^]'] }],
      ['--exclude', { exclude: ['a\\'] }],
      ['--iexclude', { iexclude: ['[z-'] }],
    ]
    for (const [flag, req] of cases) {
      const target = join(dir, `bad-pattern-${n++}`)
      await assert.rejects(runRestore(repo, { snapshot: 'latest', target, ...req }), (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message.includes(`for ${flag}:`))
      assert.deepEqual(await listTree(target).catch(() => 'no target'), 'no target', 'nothing was restored')
    }
  })
})

describe('patterns naming a file whose name is not UTF-8', () => {
  it('match it in backup --exclude, restore --exclude and restore --include, as the command line gives them', async () => {
    // Such a pattern (each bad byte a lone surrogate, see raw-argv) never matched: the file was
    // backed up and restored despite --exclude, and --include restored nothing.
    const dir = await mkdtemp(join(tmpdir(), 'cairn-app-restore-raw-'))
    try {
      const src = join(dir, 'src')
      await mkdir(src)
      const bad = Buffer.concat([Buffer.from(src + '/f'), Buffer.from([0xff])])
      await writeFile(bad, 'x')
      await writeFile(join(src, 'keep'), 'k')
      const pattern = goStringFromBytes(bad) // "/.../src/f\udcff", as raw-argv turns the argument
      const repo = await createTestRepository()
      await runBackup(repo, { paths: [src], exclude: ['f' + String.fromCharCode(0xdcff)], tags: ['without'] })
      await runBackup(repo, { paths: [src], tags: ['with'] })
      const names = async (target: string) => (await readdir(join(target, src), { encoding: 'buffer' })).map((n) => n.toString('latin1')).sort()
      const t1 = join(dir, 't1')
      await runRestore(repo, { snapshot: 'latest', target: t1, filter: { tags: ['without'] } })
      assert.deepEqual(await names(t1), ['keep'], 'left out of the backup')
      const t2 = join(dir, 't2')
      await runRestore(repo, { snapshot: 'latest', target: t2, filter: { tags: ['with'] }, exclude: [pattern] })
      assert.deepEqual(await names(t2), ['keep'], 'left out of the restore')
      const t3 = join(dir, 't3')
      await runRestore(repo, { snapshot: 'latest', target: t3, filter: { tags: ['with'] }, include: [pattern] })
      assert.deepEqual(await names(t3), ['f\xff'], 'the only one restored')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('runRestore() --delete of snapshots of relative paths', () => {
  it('removes what the backed-up folder lacks whether it was given as ".", "fr/home/me" or an absolute path, and nothing above it', async () => {
    // With a relative path nothing was ever deleted: the folder was looked for by its absolute path.
    const dir = await mkdtemp(join(tmpdir(), 'cairn-app-restore-rel-'))
    const cwd = process.cwd()
    try {
      await writeFiles(join(dir, 'fr/home/me'), { 'keep.txt': 'k' })
      const repo = await createTestRepository()
      process.chdir(dir)
      await runBackup(repo, { paths: ['fr/home/me'], tags: ['rel'] })
      process.chdir(join(dir, 'fr/home/me'))
      await runBackup(repo, { paths: ['.'], tags: ['dot'] })
      process.chdir(cwd)
      await runBackup(repo, { paths: [join(dir, 'fr/home/me')], tags: ['abs'] })
      for (const [tag, inside] of [['rel', 'fr/home/me'], ['dot', ''], ['abs', join(dir, 'fr/home/me').slice(1)]]) {
        const target = join(dir, `target-${tag}`)
        await writeFiles(target, { [join(inside, 'extra.txt')]: 'x', 'elsewhere/beside.txt': 'y' })
        const r = await runRestore(repo, { snapshot: 'latest', target, delete: true, filter: { tags: [tag] } })
        assert.equal(r.summary.errors, 0, tag)
        const tree = await listTree(target)
        assert.ok(tree.includes(join(inside, 'keep.txt')), `${tag}: ${tree.join(' ')}`)
        assert.ok(!tree.includes(join(inside, 'extra.txt')), `${tag}: extra.txt is deleted`)
        // Beside the backed-up folder: kept, except for "." whose folder is the target itself.
        assert.equal(tree.includes('elsewhere/beside.txt'), tag !== 'dot', tag)
      }
    } finally {
      process.chdir(cwd)
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('restore into a folder it may not change', { skip: process.getuid?.() !== 0 ? 'needs root, to restore as another user' : false }, () => {
  it('never writes into, nor empties, a file that was in the way and could not be replaced', async () => {
    // A file of several blobs that could not replace the file in its way still had its blobs
    // written into that file by path, and was emptied at the end: the user's file was lost.
    const { chmod, mkdir, readFile, writeFile } = await import('node:fs/promises')
    const { cairn, initRepo } = await import('./interop-testing.js')
    const { seededBytes } = await import('../repository/testing.js')
    const dir = await mkdtemp(join(tmpdir(), 'cairn-restore-nobody-'))
    try {
      await chmod(dir, 0o755)
      const src = join(dir, 'src')
      await mkdir(join(src, 'sub'), { recursive: true })
      await writeFile(join(src, 'sub', 'big.bin'), seededBytes(5, 4 * 1024 * 1024))
      const repo = join(dir, 'repo')
      await initRepo(repo)
      assert.equal((await cairn(repo, ['backup', src])).code, 0)
      await run('chmod', ['-R', 'a+rX', repo])
      // The target's sub folder belongs to root, and so does the file in it, which only root
      // may write. (One that anyone may write is written in place, as restic 0.17 does.)
      const target = join(dir, 'target')
      await mkdir(join(target, src, 'sub'), { recursive: true, mode: 0o755 })
      await chmod(target, 0o777)
      const precious = join(target, src, 'sub', 'big.bin')
      await writeFile(precious, 'PRECIOUS USER DATA')
      await chmod(precious, 0o644)
      await chmod(join(target, src), 0o777)
      const asNobody = await runAs(65534, 65534, process.execPath, [(await import('./interop-testing.js')).cairnMain, '-r', repo, '--no-cache', '--no-lock', 'restore', 'latest', '--target', target])
      assert.notEqual(asNobody.code, 0, 'the file in the way could not be replaced')
      assert.match(asNobody.stderr, /big\.bin/, asNobody.stderr)
      assert.equal(await readFile(precious, 'utf8'), 'PRECIOUS USER DATA')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

async function run(cmd: string, args: string[]): Promise<void> {
  const { execFileSync } = await import('node:child_process')
  execFileSync(cmd, args)
}

async function runAs(uid: number, gid: number, cmd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const { spawn } = await import('node:child_process')
  const { PASSWORD } = await import('./interop-testing.js')
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { uid, gid, env: { ...process.env, HOME: '/tmp', CAIRN_PASSWORD: PASSWORD }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    p.on('close', (code) => resolve({ code: code ?? -1, stderr }))
  })
}
