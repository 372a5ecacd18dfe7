/**
 * The local cache end to end: the built CLI against a real REST server (`rclone serve restic`)
 * behind an HTTP proxy that counts every request. With a warm cache, `cairn snapshots` and
 * `cairn ls latest` must not download one pack, index or snapshot file; `cairn cache` lists and
 * cleans the cache directories.
 */
import assert from 'node:assert/strict'
import { existsSync, promises as fs } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { rcloneAvailable, startRcloneServe, type RcloneServer } from '../../backends/rest/testing.js'
import { cairn, makeTempRoot, needs, type RunResult, type TempRoot } from '../../../test/helpers/index.js'

const PASSWORD = 'cache integration'
const DAY = 24 * 3600 * 1000

interface CountingProxy {
  url: string
  requests: string[]
  close(): Promise<void>
}

/** Forwards every request to `target` and records `METHOD /path`. */
async function startCountingProxy(target: URL): Promise<CountingProxy> {
  const requests: string[] = []
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`)
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** Downloads of whole files (not listings) of data, index and snapshots. */
function downloads(requests: readonly string[]): string[] {
  return requests.filter((r) => /^GET \/(data|index|snapshots)\/[0-9a-f]{64}$/.test(r))
}

function ok(r: RunResult): string {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`)
  return r.stdout
}

const skip = (await needs('cairn')) || ((await rcloneAvailable()) ? false : 'rclone is not installed')

describe('cairn with a local cache of a REST repository', { skip }, () => {
  let tmp: TempRoot
  let server: RcloneServer
  let proxy: CountingProxy
  let repo: string
  let cacheDir: string
  let env: Record<string, string>

  before(async () => {
    tmp = await makeTempRoot('cache-cli')
    server = await startRcloneServe(await tmp.dir('served'))
    proxy = await startCountingProxy(new URL(server.url))
    repo = `rest:${proxy.url}`
    cacheDir = join(tmp.path, 'cache')
    env = { CAIRN_CACHE_DIR: cacheDir }
    const src = await tmp.dir('src')
    for (const d of ['a/b/c', 'a/d', 'e']) await fs.mkdir(join(src, d), { recursive: true })
    for (let i = 0; i < 30; i++) await fs.writeFile(join(src, 'a/b/c', `file-${i}.txt`), `content ${i}\n`.repeat(100 + i))
    await fs.writeFile(join(src, 'e/top.txt'), 'top\n')
    ok(await cairn(['init'], { repo, password: PASSWORD, env }))
    ok(await cairn(['backup', src], { repo, password: PASSWORD, env }))
    await fs.writeFile(join(src, 'e/second.txt'), 'second\n')
    ok(await cairn(['backup', src], { repo, password: PASSWORD, env }))
  })

  after(async () => {
    await proxy?.close()
    await server?.stop()
    await tmp?.cleanup()
  })

  it('with a warm cache, snapshots and ls latest download no pack, index or snapshot file', async () => {
    const run = async (args: string[], extra: Record<string, string> = {}) => ok(await cairn(args, { repo, password: PASSWORD, env: { ...env, ...extra } }))
    // Warm up: ls reads the tree packs, which a backup does not put in the cache.
    const firstSnapshots = await run(['snapshots', '--json'])
    const firstLs = await run(['ls', 'latest'])

    proxy.requests.length = 0
    const snapshots = await run(['snapshots', '--json'])
    const ls = await run(['ls', 'latest'])
    assert.deepEqual(downloads(proxy.requests), [])
    assert.ok(proxy.requests.some((r) => r === 'GET /config'), `the proxy saw the run: ${proxy.requests.join(', ')}`)
    assert.equal(snapshots, firstSnapshots)
    assert.equal(ls, firstLs)
    assert.equal((JSON.parse(snapshots) as unknown[]).length, 2)
    assert.match(ls, /\/e\/second\.txt$/m)

    proxy.requests.length = 0
    assert.equal(await run(['--no-cache', 'ls', 'latest']), firstLs)
    const cold = downloads(proxy.requests)
    assert.ok(cold.some((r) => r.startsWith('GET /data/')) && cold.some((r) => r.startsWith('GET /index/')) && cold.some((r) => r.startsWith('GET /snapshots/')), cold.join(', '))
  })

  it('cairn cache lists the cache directories and --cleanup removes only old ones', async () => {
    const run = async (args: string[]) => ok(await cairn(args, { repo, password: PASSWORD, env }))
    const listed = JSON.parse(await run(['cache', '--json'])) as Array<{ id: string; path: string; last_used: string; age_days: number; old: boolean; size: number }>
    assert.equal(listed.length, 1)
    const id = listed[0].id
    assert.match(id, /^[0-9a-f]{64}$/)
    assert.equal(listed[0].path, join(cacheDir, id))
    assert.equal(listed[0].age_days, 0)
    assert.equal(listed[0].old, false)
    assert.ok(listed[0].size > 1000)

    const text = await run(['cache'])
    assert.match(text, /^Repo ID\s+Last Used\s+Old\s+Size$/m)
    assert.match(text, new RegExp(`^${id.slice(0, 10)}\\s+0 days ago\\s+\\d+\\.\\d{3} KiB$`, 'm'))
    assert.match(text, new RegExp(`^1 cache dirs in ${cacheDir}$`, 'm'))
    assert.doesNotMatch(await run(['cache', '--no-size']), /KiB/)

    const stale = join(cacheDir, 'f'.repeat(64))
    await fs.mkdir(join(stale, 'index'), { recursive: true })
    const old = new Date(Date.now() - 40 * DAY)
    await fs.utimes(stale, old, old)
    assert.match(await run(['cache']), /^ffffffffff\s+40 days ago\s+yes\s+/m)
    assert.match(await run(['cache', '--cleanup', '--max-age', '50']), /^no old cache dirs found$/m)
    assert.ok(existsSync(stale))
    assert.match(await run(['cache', '--cleanup']), new RegExp(`^removed 1 old cache directories from ${cacheDir}$`, 'm'))
    assert.ok(!existsSync(stale))
    assert.ok(existsSync(join(cacheDir, id)))

    const refused = await cairn(['--no-cache', 'cache'], { repo, password: PASSWORD, env })
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /Refusing to do anything, the cache is disabled/)
  })
})
