import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { backup, ExcludeMatcher } from '../archiver/index.js'
import { isAppError } from '../base/index.js'
import { createTestRepository } from '../repository/testing.js'
import { catObject } from './cat.js'

describe('catObject()', () => {
  it('takes IDs in capitals as restic does, and refuses a blob ID that is not 64 hex characters', async () => {
    // An ID in capitals or with characters added was found in the index, then its blob was
    // reported as not matching its ID: damage that was not there.
    const repo = await createTestRepository()
    const { id } = await repo.withWriter((w) => w.saveBlob('data', Buffer.from('hello cat')))
    assert.equal((await catObject(repo, 'blob', id.toUpperCase())).toString(), 'hello cat')
    for (const bad of [id + 'ff', id.slice(0, 8), 'not-an-id']) {
      await assert.rejects(catObject(repo, 'blob', bad), (err) => isAppError(err, 'INVALID_ARGUMENT') && /is not a blob ID/.test(err.message), bad)
    }
    const [index] = await repo.listIds('index')
    assert.ok((await catObject(repo, 'index', index.toUpperCase())).length > 0)
    assert.ok((await catObject(repo, 'index', index.slice(0, 8).toUpperCase())).length > 0)
    await assert.rejects(catObject(repo, 'pack', 'xyz'), (err) => isAppError(err, 'INVALID_ARGUMENT') && /"xyz" is not a pack ID/.test(err.message))
    await assert.rejects(catObject(repo, 'key'), (err) => isAppError(err, 'INVALID_ARGUMENT') && /cat key"/.test(err.message))
  })

  it('cat tree takes SNAPSHOT[:FOLDER] as restic 0.17 does, and a tree\'s own ID', async () => {
    // Only a tree's ID was taken: "latest:/home" was refused as not an ID.
    const repo = await createTestRepository()
    const root = await mkdtemp(join(tmpdir(), 'cairn-cat-tree-'))
    try {
      await mkdir(join(root, 'docs', 'deep'), { recursive: true })
      await writeFile(join(root, 'docs', 'deep', 'a.txt'), 'a')
      const { snapshotId } = await backup(repo, { paths: [root], excludes: new ExcludeMatcher() })
      const nodes = (b: Buffer | string) => (JSON.parse(b.toString()) as { nodes: Array<{ name: string; subtree?: string }> }).nodes
      const top = nodes(await catObject(repo, 'tree', 'latest'))
      assert.equal(top.length, 1)
      const inner = nodes(await catObject(repo, 'tree', `${snapshotId!.slice(0, 8)}:${root}/docs`))
      assert.deepEqual(inner.map((n) => n.name), ['deep'])
      const folder = nodes(await catObject(repo, 'tree', `latest:${root}`))
      assert.deepEqual(folder.map((n) => n.name), ['docs'])
      assert.deepEqual(nodes(await catObject(repo, 'tree', folder[0].subtree!.toUpperCase())).map((n) => n.name), ['deep'])
      await assert.rejects(catObject(repo, 'tree', 'ffffffff'), (err) => isAppError(err, 'NOT_FOUND') && /No tree or snapshot with ID "ffffffff"/.test(err.message))
      await assert.rejects(catObject(repo, 'tree', `latest:${root}/nope`), (err) => isAppError(err, 'NOT_FOUND') && /not found in the snapshot/.test(err.message))
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })
})
