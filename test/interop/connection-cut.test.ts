/**
 * A network link that drops in the middle of a backup: every connection between cairn and the
 * server is cut (twice) while packs are being uploaded, for a REST server (`rclone serve
 * restic`) and an SFTP server (OpenSSH). The resend and retry logic must carry the backup to the
 * end, and restic must accept and restore the result.
 */
import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { rcloneAvailable, startRcloneServe } from '../../src/backends/rest/testing.js'
import { sshdMissing, startSshd } from '../../src/backends/sftp/testing.js'
import { cairn, cairnSpawn, collect, compareTrees, makeLargeTree, makeTempRoot, needs, restic, startTcpProxy, type TcpProxy, type TempRoot } from '../helpers/index.js'

const password = 'cut the cable'
const MiB = 1024 * 1024

/** A server behind the proxy: how cairn reaches it through the proxy and restic directly. */
interface Served {
  cairnRepo(proxyPort: number): Promise<{ repo: string; args: string[] }>
  resticRepo: string
  resticArgs: string[]
  port: number
  stop(): Promise<void>
}

const SERVERS: Array<{ name: string; skip: () => Promise<string | false>; start: (tmp: TempRoot) => Promise<Served> }> = [
  {
    name: 'rest: (rclone serve restic)',
    skip: async () => ((await rcloneAvailable()) ? false : 'rclone is not installed'),
    start: async (tmp) => {
      const server = await startRcloneServe(await tmp.dir('served'))
      return {
        cairnRepo: async (proxyPort) => ({ repo: `rest:http://127.0.0.1:${proxyPort}/repo/`, args: [] }),
        resticRepo: `rest:${server.url}repo/`,
        resticArgs: [],
        port: server.port,
        stop: () => server.stop(),
      }
    },
  },
  {
    name: 'sftp: (OpenSSH, over ssh2)',
    skip: sshdMissing,
    start: async (tmp) => {
      const sshd = await startSshd()
      const dir = join(sshd.dir, 'repo')
      return {
        // The host key is known under the proxy's port, as if the server lived there.
        cairnRepo: async (proxyPort) => {
          const knownHosts = join(tmp.path, 'known_hosts')
          const key = sshd.knownHostsLine.slice(sshd.knownHostsLine.indexOf(' ') + 1)
          await fs.writeFile(knownHosts, `[127.0.0.1]:${proxyPort} ${key}\n`)
          return {
            repo: `sftp://${sshd.user}@127.0.0.1:${proxyPort}/${dir}`,
            args: ['-o', `sftp.key=${sshd.userKey}`, '-o', `sftp.known-hosts=${knownHosts}`],
          }
        },
        resticRepo: `sftp:${sshd.user}@127.0.0.1:${dir}`,
        resticArgs: ['-o', `sftp.command=${sshd.sftpCommand}`],
        port: sshd.port,
        stop: () => sshd.stop(),
      }
    },
  },
]

const toolsMissing = await needs('restic', 'cairn')

for (const kind of SERVERS) {
  describe(`a connection cut in the middle of an upload, ${kind.name}`, { skip: toolsMissing || (await kind.skip()) }, () => {
    let tmp: TempRoot
    let served: Served
    let proxy: TcpProxy
    let src = ''

    before(async () => {
      tmp = await makeTempRoot('connection-cut')
      served = await kind.start(tmp)
      proxy = await startTcpProxy(served.port)
      src = join(tmp.path, 'src')
      // Random data, so packs are as large as the files and the upload takes a while.
      await makeLargeTree(src, 48 * MiB, 4 * MiB)
    })
    after(async () => {
      await proxy?.close()
      await served?.stop()
      await tmp?.cleanup()
    })

    test('is retried, the backup completes, and restic checks and restores the result', async () => {
      const { repo, args } = await served.cairnRepo(proxy.port)
      const init = await cairn([...args, 'init'], { repo, password })
      assert.equal(init.code, 0, init.stderr)

      const child = cairnSpawn([...args, 'backup', src], { repo, password })
      // Two cuts close together: the first may be absorbed by a resend on a fresh connection,
      // the second hits that one, so the retry wrapper has to step in and back off.
      let cuts = 0
      const cutting = proxy.cutAfterUpload(20 * MiB).then(async (n) => {
        cuts += n
        cuts += await proxy.cutAfterUpload(2 * MiB)
      })
      const result = await collect(child, { timeoutMs: 240_000 })
      await Promise.race([cutting, new Promise((r) => setTimeout(r, 10))])

      assert.ok(cuts > 0, `the proxy never cut a connection (uploaded ${proxy.uploaded} bytes)`)
      assert.equal(result.code, 0, `backup failed after the cut:\n${result.stderr}`)

      const ropts = { repo: served.resticRepo, password }
      const check = await restic([...served.resticArgs, 'check', '--read-data'], ropts)
      assert.equal(check.code, 0, `restic check failed:\n${check.stdout}\n${check.stderr}`)

      const target = await tmp.dir('restored')
      const restore = await restic([...served.resticArgs, 'restore', 'latest', '--target', target], ropts)
      assert.equal(restore.code, 0, restore.stderr)
      assert.deepEqual(await compareTrees(src, join(target, src)), [])
    })
  })
}
