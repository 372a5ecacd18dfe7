import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { cairn, initRepo, interopSkipReason, json, openRepo, restic, resticBackup, repoCopier, tempDir, withRepo, type TempDir } from './interop-testing.js'
import { runRewrite } from './rewrite.js'

interface ResticSnapshot {
  id: string
  tree: string
  tags?: string[]
  original?: string
  time: string
  hostname: string
}

describe('rewrite against restic', { skip: await interopSkipReason() }, () => {
  let tmp: TempDir
  let src: string
  let pristine: string

  before(async () => {
    tmp = await tempDir('rewrite')
    src = join(tmp.path, 'src')
    await fs.mkdir(join(src, '.ssh'), { recursive: true })
    await fs.mkdir(join(src, 'docs'), { recursive: true })
    await fs.writeFile(join(src, '.ssh', 'id_ed25519'), 'a secret key\n')
    await fs.writeFile(join(src, 'docs', 'notes.txt'), 'notes\n')
    await fs.writeFile(join(src, 'docs', 'DISK.ISO'), Buffer.alloc(100_000, 7))
    pristine = join(tmp.path, 'pristine')
    await initRepo(pristine)
    await resticBackup(pristine, src, ['--host', 'alpha', '--tag', 'daily'])
    await fs.writeFile(join(src, 'docs', 'notes.txt'), 'notes, edited\n')
    await resticBackup(pristine, src, ['--host', 'beta'])
  })
  after(() => tmp.remove())

  const copy = repoCopier(
    () => pristine,
    () => tmp.path,
  )
  const snapshots = async (repo: string) => json<ResticSnapshot[]>(await restic(repo, ['snapshots', '--json']))
  const paths = async (repo: string, id: string) =>
    (await restic(repo, ['ls', id])).stdout
      .split('\n')
      .filter((l) => l.startsWith('/'))
      .map((l) => l.slice(src.length))
      .filter((l) => l !== '')

  it('writes snapshots without the excluded paths that restic checks, lists and restores, tagged "rewrite" with the original recorded', async () => {
    const repo = await copy()
    const before = await snapshots(repo)
    const r = await cairn(repo, ['rewrite', '--exclude', '.ssh', '--iexclude', '*.iso'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /modified 2 snapshots/)
    const after = await snapshots(repo)
    assert.equal(after.length, 4)
    for (const old of before) {
      const made = after.find((s) => s.original === old.id)
      assert.ok(made, `a new snapshot of ${old.id.slice(0, 8)}`)
      assert.deepEqual(made.tags, [...(old.tags ?? []), 'rewrite'])
      assert.equal(made.time, old.time)
      assert.equal(made.hostname, old.hostname)
      assert.deepEqual(await paths(repo, made.id), ['/docs', '/docs/notes.txt'])
    }
    const check = await restic(repo, ['check', '--read-data'])
    assert.equal(check.code, 0, check.stderr)
    const newest = after.find((s) => s.original === before[1].id)!
    const dumped = await restic(repo, ['dump', newest.id, `${src}/docs/notes.txt`])
    assert.equal(dumped.stdout, 'notes, edited\n')
    // The same rewrite again finds its work done: it saves nothing, and says so.
    const again = await cairn(repo, ['rewrite', '--exclude', '.ssh', '--iexclude', '*.iso'])
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /already rewritten as snapshot [0-9a-f]{8} \(by an earlier run\)/)
    assert.doesNotMatch(again.stdout, /saved new snapshot/)
    assert.match(again.stdout, /no snapshots were modified/)
    assert.equal((await snapshots(repo)).length, 4)
  })

  it('--forget removes the originals (no tag then); a snapshot without an excluded path is left alone; prune then frees the data', async () => {
    const repo = await copy()
    const before = await snapshots(repo)
    const r = await cairn(repo, ['rewrite', '--exclude', '*.ISO', '--forget', '--host', 'alpha'])
    assert.equal(r.code, 0, r.stderr)
    const after = await snapshots(repo)
    assert.equal(after.length, 2)
    assert.ok(!after.some((s) => s.id === before[0].id), 'the original of alpha is gone')
    assert.ok(after.some((s) => s.id === before[1].id), 'beta was not selected')
    const made = after.find((s) => s.original === before[0].id)!
    assert.deepEqual(made.tags, ['daily'])
    const again = await cairn(repo, ['rewrite', '--exclude', '*.ISO', made.id])
    assert.match(again.stdout, /no snapshots were modified/)
    assert.equal((await snapshots(repo)).length, 2)
    const check = await restic(repo, ['check'])
    assert.equal(check.code, 0, check.stderr)
  })

  it('a dry run writes nothing, and without a pattern there is nothing to do', async () => {
    const repo = await copy()
    const files = async () => (await fs.readdir(join(repo, 'snapshots'))).sort()
    const before = await files()
    const result = await withRepo(repo, (r) => runRewrite(r, { exclude: ['.ssh'], dryRun: true }))
    assert.equal(result.rewritten.length, 2)
    assert.deepEqual(result.rewritten[0].removedPaths, [`${src}/.ssh`])
    assert.equal(result.rewritten[0].newId, undefined)
    assert.deepEqual(await files(), before)
    const opened = await openRepo(repo)
    try {
      await assert.rejects(runRewrite(opened, {}), (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message.startsWith('Nothing to do'))
      await assert.rejects(runRewrite(opened, { exclude: ['[x'] }), (err) => isAppError(err, 'INVALID_ARGUMENT'))
    } finally {
      await opened.close()
    }
  })
})
