import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { cairn, initRepo, interopSkipReason, json, restic, resticBackup, repoCopier, tempDir, withRepo, type TempDir } from './interop-testing.js'
import { applyTagChange, changeTags, flattenTags } from './tag.js'
import { withMembers } from '../backends/testing/overrides.js'

interface ResticSnapshot {
  id: string
  hostname: string
  tags?: string[]
  original?: string
}

describe('applyTagChange()', () => {
  it('adds missing tags in order and removes by moving the last tag into the hole, as restic does', () => {
    assert.deepEqual(applyTagChange(['a'], { add: ['b', 'a', 'c'] }), ['a', 'b', 'c'])
    assert.deepEqual(applyTagChange(['a', 'b', 'c', 'd'], { remove: ['b'] }), ['a', 'd', 'c'])
    assert.deepEqual(applyTagChange(['a', 'b'], { add: ['c'], remove: ['a'] }), ['c', 'b'])
    assert.deepEqual(applyTagChange(['a', 'b'], { set: [] }), [])
  })

  it('returns undefined when nothing changes', () => {
    assert.equal(applyTagChange(['a'], { add: ['a'], remove: ['z'] }), undefined)
    assert.equal(applyTagChange(['a', 'b'], { set: ['a', 'b'] }), undefined)
  })

  it('flattenTags() splits on commas, trims and drops empty tags', () => {
    assert.deepEqual(flattenTags(['a, b', '', ' c ,,']), ['a', 'b', 'c'])
  })
})

const skip = await interopSkipReason()

describe('changeTags() against restic', { skip }, () => {
  let tmp: TempDir
  let pristine: string
  let first: string
  let second: string

  before(async () => {
    tmp = await tempDir('tag')
    const src = join(tmp.path, 'src')
    await fs.mkdir(src)
    await fs.writeFile(join(src, 'a.txt'), 'one\n')
    pristine = join(tmp.path, 'pristine')
    await initRepo(pristine)
    first = await resticBackup(pristine, src, ['--host', 'alpha', '--tag', 'base,keep'])
    await fs.writeFile(join(src, 'a.txt'), 'two\n')
    second = await resticBackup(pristine, src, ['--host', 'beta'])
  })
  after(() => tmp.remove())

  const copy = repoCopier(
    () => pristine,
    () => tmp.path,
  )
  const snapshots = async (repo: string) => json<ResticSnapshot[]>(await restic(repo, ['snapshots', '--json']))

  it('writes the same snapshot JSON restic writes for the same changes, keeping the first ID as original', async () => {
    const ours = await copy()
    const theirs = await copy()
    const r1 = await withRepo(ours, (r) => changeTags(r, { snapshots: [first.slice(0, 8)], add: ['x,y'] }))
    const r2 = await withRepo(ours, (r) => changeTags(r, { snapshots: [r1.changed[0].newId], remove: ['base'] }))
    assert.equal((await restic(theirs, ['tag', '--add', 'x,y', first.slice(0, 8)])).code, 0)
    const mid = (await snapshots(theirs)).find((s) => s.original === first)
    assert.ok(mid)
    assert.equal((await restic(theirs, ['tag', '--remove', 'base', mid.id])).code, 0)

    const a = (await snapshots(ours)).find((s) => s.original === first)
    const b = (await snapshots(theirs)).find((s) => s.original === first)
    assert.ok(a && b)
    assert.deepEqual(a.tags, ['y', 'keep', 'x'])
    assert.equal(a.id, r2.changed[0].newId)
    const plain = (repo: string, id: string) => withRepo(repo, (r) => r.loadUnpacked('snapshots', id))
    assert.equal((await plain(ours, a.id)).toString(), (await plain(theirs, b.id)).toString(), 'the same bytes before encryption')
    assert.equal((await snapshots(ours)).length, 2, 'the old versions are gone')
    assert.equal((await restic(ours, ['check'])).code, 0)
  })

  it('without IDs changes the snapshots matching the filters; --set "" removes every tag', async () => {
    const repo = await copy()
    const result = await withRepo(repo, (r) => changeTags(r, { filter: { hosts: ['beta'] }, set: ['weekly'] }))
    assert.equal(result.changed.length, 1)
    const list = await snapshots(repo)
    assert.deepEqual(list.find((s) => s.hostname === 'beta')?.tags, ['weekly'])
    assert.deepEqual(list.find((s) => s.hostname === 'alpha')?.tags, ['base', 'keep'])

    const cleared = await cairn(repo, ['--json', 'tag', '--set', '', '--host', 'alpha'])
    assert.equal(cleared.code, 0, cleared.stderr)
    const lines = cleared.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    assert.equal(lines[0].message_type, 'changed')
    assert.equal(lines[0].old_snapshot_id, first)
    assert.deepEqual(lines.at(-1), { message_type: 'summary', changed_snapshot_count: 1 })
    const alpha = (await snapshots(repo)).find((s) => s.hostname === 'alpha')
    assert.equal(alpha?.tags, undefined)
    assert.equal(alpha?.original, first)
  })

  it('skips unknown IDs with a warning, leaves unchanged snapshots alone, and refuses --set with --add', async () => {
    const repo = await copy()
    const warnings: string[] = []
    const result = await withRepo(repo, (r) => changeTags(r, { snapshots: ['ffffffff', second, 'latest'], add: ['keep'] }, (m) => warnings.push(m)))
    assert.equal(result.changed.length, 1, 'latest is the second snapshot: changed once')
    assert.equal(result.changed[0].oldId, second)
    assert.match(warnings.join('\n'), /Ignoring "ffffffff": no snapshot/)
    const again = await withRepo(repo, (r) => changeTags(r, { add: ['keep'], filter: { hosts: ['alpha'] } }))
    assert.deepEqual(again, { changed: [], unchanged: 1, failed: 0 })
    await assert.rejects(
      withRepo(repo, (r) => changeTags(r, { set: ['a'], add: ['b'] })),
      (err) => isAppError(err, 'INVALID_ARGUMENT'),
    )
    // `--add "$TAGS"` with TAGS empty: nothing changes, as in restic, and that is no error
    assert.deepEqual(await withRepo(repo, (r) => changeTags(r, { add: [''], remove: [' '] })), { changed: [], unchanged: 2, failed: 0 })
    await assert.rejects(withRepo(repo, (r) => changeTags(r, {})), (err) => isAppError(err, 'INVALID_ARGUMENT') && /Nothing to do/.test(err.message))
  })

  it('run again after a crash between saving the new version and removing the old, finishes that swap instead of saving a copy', async () => {
    // The run again tagged the old version a second time: two tagged copies of one snapshot.
    const repo = await copy()
    await withRepo(repo, async (r) => {
      const crashed = withMembers(r.backend, { remove: async () => Promise.reject(new Error('killed')) })
      const half = withMembers(r, { backend: crashed })
      const first = await changeTags(half, { snapshots: [second], add: ['keep'] }, () => {})
      assert.equal(first.failed, 1)
    })
    assert.equal((await snapshots(repo)).length, 3, 'both versions are there, as after the crash')
    const again = await withRepo(repo, (r) => changeTags(r, { add: ['keep'] }))
    assert.equal(again.changed.length, 1)
    const list = await snapshots(repo)
    assert.equal(list.length, 2, list.map((s) => `${s.id} ${s.tags}`).join('\n'))
    assert.deepEqual(list.find((s) => s.hostname === 'beta')?.tags, ['keep'])
    assert.equal(again.changed[0].newId, list.find((s) => s.hostname === 'beta')?.id, 'the version saved before the crash is kept')
    assert.equal((await restic(repo, ['check'])).code, 0)
  })

  it('counts the snapshots it could not rewrite, after doing the others', async () => {
    // The CLI fails on them; restic exits 0 after a warning, and a script could not tell nothing was tagged.
    const repo = await copy()
    const warnings: string[] = []
    const result = await withRepo(repo, async (r) => {
      let saves = 0
      const full = withMembers(r, { saveUnpacked: async (...a: Parameters<typeof r.saveUnpacked>) => (++saves === 1 ? Promise.reject(new Error('no space left on device')) : r.saveUnpacked(...a)) })
      return changeTags(full, { add: ['new'] }, (m) => warnings.push(m))
    })
    assert.equal(result.failed, 1)
    assert.equal(result.changed.length, 1)
    assert.match(warnings.join('\n'), /Unable to modify the tags of snapshot [0-9a-f]{8}, ignoring: no space left on device/)
    assert.equal((await snapshots(repo)).length, 2)
  })
})
