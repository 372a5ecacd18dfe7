import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { seededBytes } from '../repository/testing.js'
import { findInSnapshots, type FindMatch, type FindRequest, type FoundObject } from './find.js'
import { cairn, initRepo, interopSkipReason, json, restic, resticBackup, tempDir, withRepo, type TempDir } from './interop-testing.js'
import { resolveTreePath } from './tree-path.js'
import { findSnapshot } from '../snapshots/index.js'

const skip = await interopSkipReason()

interface SnapshotMatches {
  snapshot: string
  hits: number
  matches: Array<{ path: string }>
}

describe('findInSnapshots()', { skip }, () => {
  let tmp: TempDir
  let repo: string
  let src: string
  let first: string
  let second: string

  before(async () => {
    tmp = await tempDir('find')
    src = join(tmp.path, 'src')
    for (const d of ['docs', 'photos', 'deep/x/y']) await fs.mkdir(join(src, d), { recursive: true })
    await fs.writeFile(join(src, 'docs', 'readme.md'), 'read me\n')
    await fs.writeFile(join(src, 'docs', 'Notes.TXT'), 'notes\n')
    await fs.writeFile(join(src, 'photos', 'a.jpg'), seededBytes(1, 50_000))
    await fs.writeFile(join(src, 'photos', 'b.JPG'), seededBytes(2, 50_000))
    await fs.writeFile(join(src, 'deep', 'x', 'y', 'config.json'), '{}\n')
    await fs.writeFile(join(src, 'copy-of-a.jpg'), seededBytes(1, 50_000))
    repo = join(tmp.path, 'repo')
    await initRepo(repo)
    first = await resticBackup(repo, src)
    await fs.rm(join(src, 'docs', 'readme.md'))
    await fs.writeFile(join(src, 'photos', 'c.jpg'), 'c\n')
    second = await resticBackup(repo, src)
  })
  after(() => tmp.remove())

  const find = (req: FindRequest) =>
    withRepo(repo, async (r) => {
      const matches: FindMatch[] = []
      const objects: FoundObject[] = []
      const result = await findInSnapshots(r, req, { onMatch: (m) => matches.push(m), onObject: (o) => objects.push(o) })
      return { matches, objects, result }
    })
  const rel = (path: string) => path.slice(src.length + 1)
  const bySnapshot = (list: SnapshotMatches[]) => [...list].sort((a, b) => (a.snapshot < b.snapshot ? -1 : 1))

  it('finds names by glob in every snapshot, oldest first, in tree order', async () => {
    const { matches } = await find({ patterns: ['*.jpg'] })
    assert.deepEqual(
      matches.map((m) => [m.snapshot.id, rel(m.path)]),
      [
        [first, 'copy-of-a.jpg'],
        [first, 'photos/a.jpg'],
        [second, 'copy-of-a.jpg'],
        [second, 'photos/a.jpg'],
        [second, 'photos/c.jpg'],
      ],
    )
    const folded = await find({ patterns: ['*.JPG'], ignoreCase: true, snapshots: [first] })
    assert.deepEqual(folded.matches.map((m) => rel(m.path)), ['copy-of-a.jpg', 'photos/a.jpg', 'photos/b.JPG'])
  })

  it('an absolute pattern matches the directory and what is below it; a relative one anywhere', async () => {
    const abs = await find({ patterns: [`${src}/docs`], snapshots: [first] })
    assert.deepEqual(abs.matches.map((m) => rel(m.path)), ['docs', 'docs/Notes.TXT', 'docs/readme.md'])
    const deep = await find({ patterns: ['x/*/config.json'], snapshots: ['latest'] })
    assert.deepEqual(deep.matches.map((m) => rel(m.path)), ['deep/x/y/config.json'])
    const none = await find({ patterns: ['*.jpg'], oldest: '2999-01-01' })
    assert.equal(none.matches.length, 0, 'nothing was modified after --oldest')
  })

  it('cairn find --json finds what restic finds', async () => {
    const args = ['--json', 'find', '*.jpg', 'docs', '*.md']
    const [ours, theirs] = await Promise.all([cairn(repo, args), restic(repo, args)])
    assert.equal(json<SnapshotMatches[]>(ours).length, 2)
    // restic lists snapshots in file-name order, cairn oldest first: compare per snapshot
    assert.deepEqual(bySnapshot(json(ours)), bySnapshot(json(theirs)))
  })

  it('finds the files using a blob (full or short ID), the directories of a tree, and the files of a pack', async () => {
    const { blob, tree, pack } = await withRepo(repo, async (r) => {
      await r.loadIndex()
      const entry = await findSnapshot(r, first)
      const file = await resolveTreePath(r, entry.snapshot.tree, `${src}/photos/a.jpg`)
      const dir = await resolveTreePath(r, entry.snapshot.tree, `${src}/deep/x`)
      const id = file.node?.content?.[0] ?? ''
      return { blob: id, tree: dir.tree ?? '', pack: r.index.lookup('data', id)?.packId ?? '' }
    })
    const byBlob = await find({ patterns: [blob.slice(0, 8)], kind: 'blob', showPackId: true })
    assert.deepEqual(
      byBlob.objects.map((o) => [o.snapshot.id, o.kind, o.id, rel(o.path)]),
      [
        [first, 'blob', blob, 'copy-of-a.jpg'],
        [first, 'blob', blob, 'photos/a.jpg'],
        [second, 'blob', blob, 'copy-of-a.jpg'],
        [second, 'blob', blob, 'photos/a.jpg'],
      ],
    )
    assert.equal(byBlob.result.packs?.[0].id, blob, 'the short ID was resolved')
    assert.equal(byBlob.result.packs?.[0].locations[0].packId, pack)

    const byTree = await find({ patterns: [tree], kind: 'tree', snapshots: [second] })
    assert.deepEqual(byTree.objects.map((o) => [o.kind, rel(o.path)]), [['tree', 'deep/x']])

    const byPack = await find({ patterns: [pack.slice(0, 12)], kind: 'pack', snapshots: [first] })
    const files = new Set(byPack.objects.map((o) => rel(o.path)))
    assert.ok(files.has('photos/a.jpg') && files.has('photos/b.JPG') && files.has('docs/readme.md'), [...files].join(', '))

    const runs = await Promise.all([cairn(repo, ['--json', 'find', '--blob', blob]), restic(repo, ['--json', 'find', '--blob', blob])])
    const [ours, theirs] = runs.map((r) => json<Array<Record<string, unknown>>>(r))
    const key = (o: Record<string, unknown>) => `${o.snapshot} ${o.path}`
    assert.deepEqual(ours.sort((a, b) => (key(a) < key(b) ? -1 : 1)), theirs.sort((a, b) => (key(a) < key(b) ? -1 : 1)))
  })
})
