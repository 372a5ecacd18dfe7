/**
 * The local metadata cache as the CLI uses it: a repository opened with a cache directory, then
 * browsed with the same app functions `cairn snapshots` and `cairn ls` call, behind a backend
 * that counts what reaches the real local repository.
 */
import assert from 'node:assert/strict'
import { existsSync, promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { LocalBackend } from '../backends/index.js'
import { FaultyBackend } from '../backends/testing/faulty.js'
import { Repository } from '../repository/index.js'
import { encodeInline, seededBytes, TEST_POLYNOMIAL, WEAK_SCRYPT } from '../repository/testing.js'
import { runBackup } from './backup.js'
import { cacheBaseDir, cleanupCaches, listCaches, repositoryCache } from './cache.js'
import { runForget } from './forget.js'
import { listSnapshots, listSnapshotTree } from './listing.js'
import { openRepository } from './session.js'

const PASSWORD = 'cache test password'
const DAY = 24 * 3600 * 1000

let tmp: string
let repoDir: string
let repoId: string
let snapshotIds: string[]

before(async () => {
  tmp = await fs.mkdtemp(join(tmpdir(), 'cairn-app-cache-'))
  repoDir = join(tmp, 'repo')
  const src = join(tmp, 'src')
  for (const d of ['a/b/c', 'a/d', 'e']) await fs.mkdir(join(src, d), { recursive: true })
  await fs.writeFile(join(src, 'a/b/c/big.bin'), seededBytes(1, 3_000_000))
  await fs.writeFile(join(src, 'a/d/small.txt'), 'small\n')
  await fs.writeFile(join(src, 'e/other.txt'), 'other\n')
  const repo = encodeInline(await Repository.init(new LocalBackend(repoDir), PASSWORD, { scrypt: WEAK_SCRYPT, polynomial: TEST_POLYNOMIAL }))
  repoId = repo.config.id
  await runBackup(repo, { paths: [src], host: 'cachehost' })
  await fs.writeFile(join(src, 'e/new.txt'), 'new\n')
  await runBackup(repo, { paths: [src], host: 'cachehost' })
  snapshotIds = await repo.listIds('snapshots')
  await repo.close()
})

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true })
})

interface Browse {
  counting: FaultyBackend
  warnings: string[]
  snapshots: string[]
  paths: string[]
}

/** `cairn snapshots` then `cairn ls latest`, each on a newly opened repository, as two CLI runs are. */
async function browse(cacheDir: string | undefined): Promise<Browse> {
  const counting = new FaultyBackend(new LocalBackend(repoDir))
  const warnings: string[] = []
  const cache = cacheDir === undefined ? undefined : { dir: cacheDir, onWarning: (m: string) => warnings.push(m) }
  let repo = await Repository.open(counting, PASSWORD, { cache })
  const snapshots = (await listSnapshots(repo)).map((e) => e.id)
  await repo.close()
  repo = await Repository.open(counting, PASSWORD, { cache })
  const paths: string[] = []
  await listSnapshotTree(repo, 'latest', { recursive: true }, (item) => paths.push(item.path))
  await repo.close()
  return { counting, warnings, snapshots, paths }
}

/** Backend loads of index, snapshot and data files (config and keys are always read). */
function metadataLoads(b: Browse): { data: number; index: number; snapshots: number } {
  return { data: b.counting.count('load', 'data'), index: b.counting.count('load', 'index'), snapshots: b.counting.count('load', 'snapshots') }
}

describe('the metadata cache', () => {
  it('with a warm cache, snapshots and ls latest load no pack, index or snapshot file from the backend', async () => {
    const cacheDir = join(tmp, 'warm')
    const cold = await browse(cacheDir)
    const coldLoads = metadataLoads(cold)
    assert.ok(coldLoads.data > 0 && coldLoads.index > 0, `the cold run downloads: ${JSON.stringify(coldLoads)}`)
    assert.equal(coldLoads.snapshots, 2, 'each snapshot file once, though both runs read both')
    assert.ok(cold.paths.includes(`${join(tmp, 'src')}/a/b/c/big.bin`) && cold.paths.includes(`${join(tmp, 'src')}/e/new.txt`))

    const warm = await browse(cacheDir)
    assert.deepEqual(metadataLoads(warm), { data: 0, index: 0, snapshots: 0 })
    assert.ok(warm.counting.count('load', 'config') >= 1 && warm.counting.count('load', 'keys') >= 1, 'the counter does see loads')
    assert.deepEqual(warm.snapshots, cold.snapshots)
    assert.deepEqual(warm.paths, cold.paths)
    assert.deepEqual(warm.warnings, [])
    const cached = await fs.readdir(join(cacheDir, repoId, 'snapshots'), { recursive: true })
    assert.equal(cached.filter((f) => /[0-9a-f]{64}$/.test(f)).length, 2)
  })

  it('--no-cache reads everything from the backend every time', async () => {
    const first = await browse(undefined)
    const second = await browse(undefined)
    assert.deepEqual(metadataLoads(second), metadataLoads(first))
    assert.ok(metadataLoads(second).data > 0 && metadataLoads(second).snapshots === 4, JSON.stringify(metadataLoads(second)))
    assert.equal(repositoryCache(repoDir, { noCache: true, cacheDir: join(tmp, 'unused') }), undefined)
  })

  it('detects a damaged cached file, drops it and fetches it again', async () => {
    const cacheDir = join(tmp, 'damaged')
    const cold = await browse(cacheDir)
    const snapFile = join(cacheDir, repoId, 'snapshots', snapshotIds[0].slice(0, 2), snapshotIds[0])
    const dataDir = join(cacheDir, repoId, 'data')
    const packs = (await fs.readdir(dataDir, { recursive: true })).filter((f) => /[0-9a-f]{64}$/.test(f))
    assert.ok(packs.length > 0, 'tree packs are cached')
    const packFile = join(dataDir, packs[0])
    const goodPack = await fs.readFile(packFile)
    await fs.writeFile(snapFile, 'garbage')
    const bad = Buffer.from(goodPack)
    bad[bad.length >> 1] ^= 0x55
    await fs.writeFile(packFile, bad)

    const again = await browse(cacheDir)
    assert.deepEqual(again.snapshots, cold.snapshots)
    assert.deepEqual(again.paths, cold.paths)
    assert.deepEqual(metadataLoads(again), { data: 1, index: 0, snapshots: 1 })
    assert.equal(again.warnings.length, 2)
    for (const w of again.warnings) assert.match(w, /^Cached file "(snapshots|data)\/[0-9a-f]{64}" in ".*" is damaged: removed it, loading it from the repository again$/)
    assert.deepEqual(await fs.readFile(packFile), goodPack, 'the good copy is back in the cache')
    assert.deepEqual(metadataLoads(await browse(cacheDir)), { data: 0, index: 0, snapshots: 0 })
  })

  it('drops a forgotten snapshot from the cache, whoever forgot it', async () => {
    const base = join(tmp, 'forget-base')
    const copy = join(tmp, 'forget-repo')
    await fs.cp(repoDir, copy, { recursive: true })
    const cachePath = (id: string) => join(base, repoId, 'snapshots', id.slice(0, 2), id)
    const open = () => Repository.open(new LocalBackend(copy), PASSWORD, { cache: { dir: base } })

    let repo = await open()
    const [older, newer] = (await listSnapshots(repo)).map((e) => e.id)
    assert.ok(existsSync(cachePath(older)) && existsSync(cachePath(newer)))
    await runForget(repo, { ids: [older], policy: {} })
    assert.ok(!existsSync(cachePath(older)), 'forget through this repository removes the cached copy')
    await repo.close()

    await new LocalBackend(copy).remove({ type: 'snapshots', name: newer }) // another client's forget
    assert.ok(existsSync(cachePath(newer)))
    repo = await open()
    assert.deepEqual(await listSnapshots(repo), [])
    assert.ok(!existsSync(cachePath(newer)), 'listing the snapshots drops what the repository no longer has')
    await repo.close()
  })

  it('openRepository() caches under --cache-dir, not at all with --no-cache, and warns when it cannot', async () => {
    const env = { CAIRN_PASSWORD: PASSWORD, HOME: join(tmp, 'home') }
    const dir = join(tmp, 'session-cache')
    let repo = await openRepository({ repo: repoDir, env, cacheDir: dir })
    await listSnapshots(repo)
    await repo.close()
    assert.equal((await fs.readdir(join(dir, repoId, 'snapshots'), { recursive: true })).filter((f) => /[0-9a-f]{64}$/.test(f)).length, 2)

    repo = await openRepository({ repo: repoDir, env, noCache: true })
    await listSnapshots(repo)
    await repo.close()
    assert.ok(!existsSync(join(tmp, 'home')), 'no default cache directory was made')

    const blocker = join(tmp, 'blocker')
    await fs.writeFile(blocker, '')
    const notices: string[] = []
    repo = await openRepository({ repo: repoDir, env, cacheDir: join(blocker, 'sub'), onNotice: (m) => notices.push(m) })
    assert.equal((await listSnapshots(repo)).length, 2, 'the command works without a cache')
    await repo.close()
    assert.equal(notices.length, 1)
    assert.match(notices[0], /^Cannot create the cache directory .*; continuing without a local cache$/)
  })

  it('a warm cache serves a repository whose metadata files became unreadable remotely', async () => {
    const copy = join(tmp, 'spoiled-repo')
    await fs.cp(repoDir, copy, { recursive: true })
    const env = { CAIRN_PASSWORD: PASSWORD }
    const dir = join(tmp, 'spoiled-cache')
    const run = async (noCache: boolean) => {
      const repo = await openRepository({ repo: copy, env, cacheDir: dir, noCache })
      try {
        const paths: string[] = []
        await listSnapshotTree(repo, 'latest', { recursive: true }, (i) => paths.push(i.path))
        return paths
      } finally {
        await repo.close()
      }
    }
    const before = await run(false)
    for (const folder of ['index', 'snapshots', 'data']) {
      for (const f of await fs.readdir(join(copy, folder), { recursive: true })) {
        const p = join(copy, folder, f)
        if ((await fs.stat(p)).isFile()) await fs.writeFile(p, 'spoiled')
      }
    }
    assert.deepEqual(await run(false), before)
    await assert.rejects(run(true), /No snapshot found|damaged|does not match|cannot be decrypted/)
  })
})

describe('cacheBaseDir()', () => {
  it('prefers --cache-dir, then CAIRN_CACHE_DIR, RESTIC_CACHE_DIR, XDG_CACHE_HOME/cairn, ~/.cache/cairn', () => {
    const env = { CAIRN_CACHE_DIR: '/c', RESTIC_CACHE_DIR: '/r', XDG_CACHE_HOME: '/x', HOME: '/h' }
    assert.equal(cacheBaseDir({ cacheDir: '/flag', env }), '/flag')
    assert.equal(cacheBaseDir({ env }), '/c')
    assert.equal(cacheBaseDir({ env: { ...env, CAIRN_CACHE_DIR: '' } }), '/r')
    assert.equal(cacheBaseDir({ env: { XDG_CACHE_HOME: '/x', HOME: '/h' } }), '/x/cairn')
    assert.equal(cacheBaseDir({ env: { XDG_CACHE_HOME: 'relative', HOME: '/h' } }), '/h/.cache/cairn')
    assert.equal(cacheBaseDir({ env: { HOME: '/h' } }), '/h/.cache/cairn')
  })

  it('has no cache for memory: repositories', () => {
    assert.equal(repositoryCache('memory:x', { cacheDir: '/c' }), undefined)
    assert.deepEqual(repositoryCache('/srv/repo', { cacheDir: '/c' }), { dir: '/c' })
  })
})

describe('listCaches() and cleanupCaches()', () => {
  it('list caches with age and size, and remove only those unused for longer than the maximum age', async () => {
    const base = join(tmp, 'cleanup')
    const open = async (dir: string) => {
      const repo = await Repository.open(new LocalBackend(dir), PASSWORD, { cache: { dir: base } })
      await listSnapshots(repo)
      await repo.loadIndex()
      await repo.close()
    }
    await open(repoDir)
    const other = join(tmp, 'other-repo')
    await (await Repository.init(new LocalBackend(other), PASSWORD, { scrypt: WEAK_SCRYPT, cache: { dir: base } })).close()
    const otherId = (await fs.readdir(base)).find((n) => n !== repoId && n !== 'CACHEDIR.TAG') ?? ''
    const old = new Date(Date.now() - 40 * DAY)
    await fs.utimes(join(base, otherId), old, old)

    const listing = await listCaches({ cacheDir: base })
    assert.equal(listing.dir, base)
    assert.deepEqual(
      listing.caches.map((c) => [c.id, c.ageDays, c.old]),
      [
        [otherId, 40, true],
        [repoId, 0, false],
      ],
    )
    assert.ok((listing.caches[1].size ?? 0) > 1000)
    assert.equal((await listCaches({ cacheDir: base }, { size: false })).caches[0].size, undefined)
    assert.deepEqual(
      (await listCaches({ cacheDir: base }, { maxAgeDays: 50 })).caches.map((c) => c.old),
      [false, false],
    )

    const r = await cleanupCaches({ cacheDir: base })
    assert.deepEqual(
      r.removed.map((c) => c.id),
      [otherId],
    )
    assert.ok(!existsSync(join(base, otherId)) && existsSync(join(base, repoId)))
    assert.deepEqual((await cleanupCaches({ cacheDir: base })).removed, [])
    await assert.rejects(listCaches({ noCache: true }), /Refusing to do anything, the cache is disabled/)
  })
})
