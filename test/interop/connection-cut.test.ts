/**
 * A network link that drops in the middle of a backup: every connection between cairn and a
 * REST server (`rclone serve restic`) is cut while packs are being uploaded. The retry wrapper
 * must carry the backup to the end, and restic must accept and restore the result.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { rcloneAvailable, startRcloneServe, type RcloneServer } from '../../src/backends/rest/testing.js'
import { cairn, cairnSpawn, collect, compareTrees, makeLargeTree, makeTempRoot, needs, restic, startTcpProxy, type TcpProxy, type TempRoot } from '../helpers/index.js'

const password = 'cut the cable'
const MiB = 1024 * 1024
const skip = (await needs('restic', 'cairn')) || ((await rcloneAvailable()) ? false : 'rclone is not installed')

describe('a connection cut in the middle of an upload', { skip }, () => {
  let tmp: TempRoot
  let server: RcloneServer
  let proxy: TcpProxy
  let repo = ''
  let src = ''

  before(async () => {
    tmp = await makeTempRoot('connection-cut')
    server = await startRcloneServe(await tmp.dir('served'))
    proxy = await startTcpProxy(server.port)
    repo = `rest:http://127.0.0.1:${proxy.port}/repo/`
    src = join(tmp.path, 'src')
    // Random data, so packs are as large as the files and the upload takes a while.
    await makeLargeTree(src, 48 * MiB, 4 * MiB)
  })
  after(async () => {
    await proxy?.close()
    await server?.stop()
    await tmp?.cleanup()
  })

  test('is retried, the backup completes, and restic checks and restores the result', async () => {
    const init = await cairn(['init'], { repo, password })
    assert.equal(init.code, 0, init.stderr)

    const child = cairnSpawn(['backup', src], { repo, password })
    // Two cuts close together: the first is absorbed by resending on a fresh connection, the
    // second hits that resend, so the retry wrapper has to step in and back off.
    let cuts = 0
    const cutting = proxy.cutAfterUpload(20 * MiB).then(async (n) => {
      cuts += n
      cuts += await proxy.cutAfterUpload(2 * MiB)
    })
    const result = await collect(child, { timeoutMs: 180_000 })
    await Promise.race([cutting, new Promise((r) => setTimeout(r, 10))])

    assert.ok(cuts > 0, `the proxy never cut a connection (uploaded ${proxy.uploaded} bytes)`)
    assert.equal(result.code, 0, `backup failed after the cut:\n${result.stderr}`)

    const check = await restic(['check', '--read-data'], { repo, password })
    assert.equal(check.code, 0, `restic check failed:\n${check.stdout}\n${check.stderr}`)

    const target = await tmp.dir('restored')
    const restore = await restic(['restore', 'latest', '--target', target], { repo, password })
    assert.equal(restore.code, 0, restore.stderr)
    assert.deepEqual(await compareTrees(src, join(target, src)), [])
  })
})
