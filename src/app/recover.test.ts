import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cairn, initRepo, interopSkipReason, json, restic, resticBackup, tempDir, type TempDir } from './interop-testing.js'

interface ResticSnapshot {
  id: string
  tree: string
  paths: string[]
  tags?: string[]
}

describe('recover against restic', { skip: await interopSkipReason() }, () => {
  let tmp: TempDir

  before(async () => {
    tmp = await tempDir('recover')
  })
  after(() => tmp.remove())

  it('brings back the tree of a snapshot forgotten by mistake, and restic restores it byte for byte', async () => {
    const src = join(tmp.path, 'src')
    await fs.mkdir(join(src, 'photos'), { recursive: true })
    await fs.writeFile(join(src, 'photos', 'cat.jpg'), Buffer.alloc(300_000, 9))
    await fs.writeFile(join(src, 'notes.txt'), 'only in the forgotten snapshot\n')
    const repo = join(tmp.path, 'repo')
    await initRepo(repo)
    const lost = await resticBackup(repo, src)
    await fs.rm(join(src, 'notes.txt'))
    const kept = await resticBackup(repo, src)
    const lostTree = json<ResticSnapshot[]>(await restic(repo, ['snapshots', '--json'])).find((s) => s.id === lost)!.tree
    assert.equal((await restic(repo, ['forget', lost])).code, 0)
    // Even the index is lost: recover must find the packs' trees from their headers.
    for (const f of await fs.readdir(join(repo, 'index'))) await fs.rm(join(repo, 'index', f))

    const r = await cairn(repo, ['recover'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /found 1 unreferenced roots/)
    const snapshots = json<ResticSnapshot[]>(await restic(repo, ['snapshots', '--json']))
    assert.deepEqual(snapshots.map((s) => s.id).filter((id) => id !== kept).length, 1)
    const made = snapshots.find((s) => s.id !== kept)!
    assert.deepEqual([made.paths, made.tags], [['/recover'], ['recovered']])
    const check = await restic(repo, ['check', '--read-data'])
    assert.equal(check.code, 0, check.stdout + check.stderr)

    const target = join(tmp.path, 'restored')
    const restore = await restic(repo, ['restore', made.id, '--target', target])
    assert.equal(restore.code, 0, restore.stderr)
    const inside = join(target, lostTree.slice(0, 8), src)
    assert.equal(await fs.readFile(join(inside, 'notes.txt'), 'utf8'), 'only in the forgotten snapshot\n')
    assert.deepEqual(await fs.readFile(join(inside, 'photos', 'cat.jpg')), Buffer.alloc(300_000, 9))

    // restic now finds nothing left to recover, and neither does cairn.
    assert.match((await restic(repo, ['recover'])).stdout, /found 0 unreferenced roots/)
    const again = await cairn(repo, ['recover'])
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /no snapshot to write/)
  })
})
