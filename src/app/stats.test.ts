import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { seededBytes } from '../repository/testing.js'
import { cairn, initRepo, interopSkipReason, json, restic, resticBackup, tempDir, withRepo, type TempDir } from './interop-testing.js'
import { collectStats, STATS_MODES } from './stats.js'

const skip = await interopSkipReason()

describe('collectStats()', { skip }, () => {
  let tmp: TempDir
  let repo: string
  let first: string

  before(async () => {
    tmp = await tempDir('stats')
    const src = join(tmp.path, 'src')
    await fs.mkdir(join(src, 'sub'), { recursive: true })
    await fs.mkdir(join(src, 'copy'), { recursive: true })
    await fs.writeFile(join(src, 'random.bin'), seededBytes(7, 300_000))
    await fs.writeFile(join(src, 'text.txt'), 'compressible line of text\n'.repeat(20_000))
    await fs.writeFile(join(src, 'empty'), '')
    await fs.link(join(src, 'random.bin'), join(src, 'sub', 'hardlink.bin'))
    await fs.writeFile(join(src, 'copy', 'text.txt'), 'compressible line of text\n'.repeat(20_000))
    await fs.symlink('text.txt', join(src, 'link'))
    repo = join(tmp.path, 'repo')
    await initRepo(repo)
    first = await resticBackup(repo, src)
    await fs.writeFile(join(src, 'sub', 'new.txt'), 'another file\n')
    await fs.appendFile(join(src, 'text.txt'), 'one more line\n')
    await resticBackup(repo, src)
  })
  after(() => tmp.remove())

  for (const mode of STATS_MODES) {
    it(`cairn stats --mode ${mode} --json agrees with restic, for all snapshots and for one`, async () => {
      for (const ids of [[], [first.slice(0, 8)]]) {
        const args = ['--json', 'stats', '--mode', mode, ...ids]
        const [ours, theirs] = (await Promise.all([cairn(repo, args), restic(repo, args)])).map((r) => json<Record<string, number>>(r))
        // restic 0.14 has no compression figures; every field it prints must be equal
        for (const [k, v] of Object.entries(theirs)) assert.equal(ours[k], v, `${mode} ${ids.join(' ')}: ${k}`)
        assert.equal(ours.snapshots_count, ids.length === 0 ? 2 : 1)
      }
    })
  }

  it('raw-data adds the compression figures restic 0.15 prints, consistent with the index', async () => {
    const s = await withRepo(repo, (r) => collectStats(r, { mode: 'raw-data' }))
    const index = await withRepo(repo, async (r) => {
      await r.loadIndex()
      let stored = 0
      for (const b of r.index.blobs()) stored += b.length
      return stored
    })
    assert.equal(s.totalSize, index, 'every blob is used, so raw-data is the whole index')
    assert.ok(s.totalUncompressedSize !== undefined && s.totalUncompressedSize > s.totalSize)
    assert.ok(s.compressionRatio !== undefined && s.compressionRatio > 1.5, `ratio ${s.compressionRatio}`)
    assert.ok(s.compressionProgress !== undefined && s.compressionProgress > 0 && s.compressionProgress <= 100)
    assert.ok(Math.abs((s.compressionSpaceSaving ?? 0) - (1 - s.totalSize / s.totalUncompressedSize) * 100) < 1e-9)
  })

  it('restore-size counts hard-linked content once per snapshot, files-by-contents counts copies once', async () => {
    const restore = await withRepo(repo, (r) => collectStats(r, { snapshots: [first] }))
    const byContents = await withRepo(repo, (r) => collectStats(r, { snapshots: [first], mode: 'files-by-contents' }))
    const text = 'compressible line of text\n'.length * 20_000
    // random.bin (its hard link not again) + two copies of text.txt; the symlink and empty file add nothing
    assert.equal(restore.totalSize, 300_000 + 2 * text)
    assert.equal(byContents.totalSize, 300_000 + text)
  })

  it('a tree that cannot be read is named with its snapshot and folder', async () => {
    // Only "File data/… not found" was said: no snapshot, no folder.
    const damaged = join(tmp.path, 'damaged')
    await fs.cp(repo, damaged, { recursive: true })
    const treePack = await withRepo(damaged, async (r) => {
      await r.loadIndex()
      const root = (JSON.parse((await r.loadUnpacked('snapshots', first)).toString()) as { tree: string }).tree
      return r.index.lookup('tree', root)!.packId
    })
    await fs.rm(join(damaged, 'data', treePack.slice(0, 2), treePack))
    await assert.rejects(
      withRepo(damaged, (r) => collectStats(r, { snapshots: [first] })),
      (err: Error) => new RegExp(`^Snapshot ${first.slice(0, 8)}: Cannot read the folder / \\(tree [0-9a-f]{8}\\): `).test(err.message),
    )
  })
})
