import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { seededBytes } from '../repository/testing.js'
import { diffSnapshots, type DiffChange } from './diff.js'
import { cairn, initRepo, interopSkipReason, restic, resticBackup, tempDir, withRepo, type TempDir } from './interop-testing.js'

const skip = await interopSkipReason()

describe('diffSnapshots()', { skip }, () => {
  let tmp: TempDir
  let repo: string
  let src: string
  let first: string
  let second: string

  before(async () => {
    tmp = await tempDir('diff')
    src = join(tmp.path, 'src')
    await fs.mkdir(join(src, 'sub', 'deep'), { recursive: true })
    await fs.writeFile(join(src, 'modified.txt'), 'before\n')
    await fs.writeFile(join(src, 'removed.bin'), seededBytes(1, 200_000))
    await fs.writeFile(join(src, 'chmodded.txt'), 'same content\n')
    await fs.writeFile(join(src, 'sub', 'deep', 'same.txt'), 'unchanged\n')
    await fs.symlink('modified.txt', join(src, 'becomes-file'))
    await fs.mkdir(join(src, 'gone-dir'))
    await fs.writeFile(join(src, 'gone-dir', 'x'), 'x\n')
    repo = join(tmp.path, 'repo')
    await initRepo(repo)
    first = await resticBackup(repo, src)

    await fs.writeFile(join(src, 'modified.txt'), 'after, longer\n')
    await fs.rm(join(src, 'removed.bin'))
    await fs.chmod(join(src, 'chmodded.txt'), 0o600)
    await fs.rm(join(src, 'becomes-file'))
    await fs.writeFile(join(src, 'becomes-file'), 'now a file\n')
    await fs.rm(join(src, 'gone-dir'), { recursive: true })
    await fs.mkdir(join(src, 'new-dir'))
    await fs.writeFile(join(src, 'new-dir', 'added.txt'), 'new\n')
    second = await resticBackup(repo, src)
  })
  after(() => tmp.remove())

  it('compares the same sub-folder of both with SNAPSHOT:/sub, paths inside it, as restic (0.16 and later) does', async () => {
    // The syntax was refused: "Invalid snapshot ID".
    const changes: DiffChange[] = []
    const result = await withRepo(repo, (r) => diffSnapshots(r, { first: `${first}:${src}`, second: `${second}:${src}/` }, { onChange: (c) => changes.push(c) }))
    assert.deepEqual(changes.map((c) => `${c.modifier} ${c.path}`), ['T /becomes-file', '- /gone-dir/', '- /gone-dir/x', 'M /modified.txt', '+ /new-dir/', '+ /new-dir/added.txt', '- /removed.bin'])
    assert.equal(result.changedFiles, 1)
    const none: DiffChange[] = []
    await withRepo(repo, (r) => diffSnapshots(r, { first: `${first}:${src}/sub`, second: `${second}:${src}/sub` }, { onChange: (c) => none.push(c) }))
    assert.deepEqual(none, [])
  })

  it('reports each kind of change: added, removed, modified, type changed, and metadata with --metadata', async () => {
    const plain: DiffChange[] = []
    const result = await withRepo(repo, (r) => diffSnapshots(r, { first, second }, { onChange: (c) => plain.push(c) }))
    const p = (rel: string) => `${src}/${rel}`
    assert.deepEqual(plain, [
      { path: p('becomes-file'), modifier: 'T' },
      { path: p('gone-dir/'), modifier: '-' },
      { path: p('gone-dir/x'), modifier: '-' },
      { path: p('modified.txt'), modifier: 'M' },
      { path: p('new-dir/'), modifier: '+' },
      { path: p('new-dir/added.txt'), modifier: '+' },
      { path: p('removed.bin'), modifier: '-' },
    ])
    assert.equal(result.changedFiles, 1)
    assert.deepEqual([result.added.files, result.added.dirs, result.removed.files, result.removed.dirs, result.removed.others], [1, 1, 2, 1, 0])
    assert.ok(result.removed.bytes >= 200_000, 'the removed file\'s blobs are counted')

    const withMeta: DiffChange[] = []
    await withRepo(repo, (r) => diffSnapshots(r, { first, second, metadata: true }, { onChange: (c) => withMeta.push(c) }))
    const chmodded = withMeta.find((c) => c.path === p('chmodded.txt'))
    assert.equal(chmodded?.modifier, 'U')
    assert.equal(withMeta.find((c) => c.path === p('becomes-file'))?.modifier, 'TU')
    assert.equal(withMeta.find((c) => c.path.endsWith('/same.txt')), undefined, 'an identical subtree is not reported')
  })

  for (const flags of [[], ['--metadata']]) {
    it(`cairn --json diff ${flags.join(' ')} prints what restic prints, statistics included`.replace('  ', ' '), async () => {
      const args = ['--json', 'diff', ...flags, first, second.slice(0, 10)]
      const [ours, theirs] = await Promise.all([cairn(repo, args), restic(repo, args)])
      assert.equal(ours.code, 0, ours.stderr)
      assert.equal(theirs.code, 0, theirs.stderr)
      assert.equal(ours.stdout, theirs.stdout)
      assert.match(ours.stdout, /"message_type":"statistics"/)
    })
  }

  it('cairn diff prints restic\'s text', async () => {
    const args = ['diff', '--metadata', first, second]
    const [ours, theirs] = await Promise.all([cairn(repo, args), restic(repo, args)])
    assert.equal(ours.stdout, theirs.stdout)
  })
})
