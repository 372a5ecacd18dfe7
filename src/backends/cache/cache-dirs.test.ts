import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { randomId } from '../../base/index.js'
import { Cache } from './cache.js'
import { isOldCacheDir, listCacheDirs, removeCacheDir } from './cache-dirs.js'

const DAY = 24 * 3600 * 1000
let root: string
before(async () => {
  root = await fs.mkdtemp(join(tmpdir(), 'cairn-cache-dirs-'))
})
after(async () => {
  await fs.rm(root, { recursive: true, force: true })
})

describe('listCacheDirs()', () => {
  it('lists repository caches least recently used first, with sizes, and skips everything else', async () => {
    const base = join(root, 'list')
    const [a, b] = [randomId(), randomId()]
    const ca = await Cache.open(base, a)
    await Cache.open(base, b)
    await ca.write({ type: 'index', name: 'c'.repeat(64) }, Buffer.alloc(1000))
    await fs.mkdir(join(base, 'not-a-cache'))
    await fs.writeFile(join(base, 'd'.repeat(64)), 'a file, not a directory')
    const old = new Date(Date.now() - 45 * DAY)
    await fs.utimes(join(base, a), old, old)
    const dirs = await listCacheDirs(base, { size: true })
    assert.deepEqual(
      dirs.map((d) => d.id),
      [a, b],
    )
    assert.equal(dirs[0].size, 1000 + 1, 'the index file and the version file')
    assert.equal(dirs[1].size, 1)
    assert.equal(Math.round((Date.now() - dirs[0].lastUsed.getTime()) / DAY), 45)
    assert.equal((await listCacheDirs(base))[0].size, undefined)
    assert.deepEqual(await listCacheDirs(join(root, 'missing')), [])
  })
})

describe('isOldCacheDir() and removeCacheDir()', () => {
  it('judges age in days and removes a cache with everything in it', async () => {
    const now = Date.now()
    assert.equal(isOldCacheDir(new Date(now - 31 * DAY), 30, now), true)
    assert.equal(isOldCacheDir(new Date(now - 29 * DAY), 30, now), false)
    const base = join(root, 'remove')
    const id = randomId()
    const c = await Cache.open(base, id)
    await c.write({ type: 'snapshots', name: 'e'.repeat(64) }, Buffer.from('x'))
    const [dir] = await listCacheDirs(base)
    await removeCacheDir(dir)
    assert.deepEqual(await fs.readdir(base), ['CACHEDIR.TAG'])
  })
})
