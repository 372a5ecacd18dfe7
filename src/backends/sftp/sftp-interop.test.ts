/**
 * cairn and restic share repositories over SFTP, through a real OpenSSH server: what cairn
 * writes over ssh2 restic restores and checks through its own `ssh` child, and what restic
 * writes cairn restores over both transports and both location forms.
 */
import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { cairn, compareTrees, makeFixtureTree, makeTempRoot, needs, restic } from '../../../test/helpers/index.js'
import type { FixtureInfo, TempRoot } from '../../../test/helpers/index.js'
import { sshdMissing, startSshd, type TestSshd } from './testing.js'

const password = 'cairn and restic over sftp'
const skip = (await sshdMissing()) || (await needs('restic', 'cairn'))

describe('sftp repositories shared by cairn and restic', { skip }, () => {
  let srv: TestSshd
  let tmp: TempRoot
  let info: FixtureInfo
  /** cairn over ssh2, with the test server's key and known_hosts. */
  let cairnSsh2: string[]
  /** restic's way, which cairn understands too: an ssh child speaking SFTP. */
  let viaCommand: string[]
  let env: Record<string, string>

  before(async () => {
    srv = await startSshd()
    tmp = await makeTempRoot('sftp-interop')
    info = await makeFixtureTree(join(tmp.path, 'src'))
    cairnSsh2 = ['-o', `sftp.key=${srv.userKey}`, '-o', `sftp.known-hosts=${srv.knownHostsFile}`]
    viaCommand = ['-o', `sftp.command=${srv.sftpCommand}`]
    env = { HOME: srv.dir } // no ~/.ssh of the real user is read
  })
  after(async () => {
    await srv?.stop()
    await tmp?.cleanup()
  })

  test('cairn init + backup to sftp://user@host:port//abs; restic restores it identically and check --read-data passes', async () => {
    const dir = join(srv.dir, 'cairn-repo')
    const cairnRepo = `sftp://${srv.user}@127.0.0.1:${srv.port}/${dir}`
    const resticRepo = `sftp:${srv.user}@127.0.0.1:${dir}`
    const init = await cairn([...cairnSsh2, 'init'], { repo: cairnRepo, password, env })
    assert.equal(init.code, 0, init.stderr)
    assert.equal((await readdir(join(dir, 'data'))).length, 256)
    const backup = await cairn([...cairnSsh2, 'backup', info.root], { repo: cairnRepo, password, env })
    assert.equal(backup.code, 0, backup.stderr)
    assert.deepEqual(await readdir(join(dir, 'locks')), [], 'cairn left a lock behind')

    const target = await tmp.dir('restic-restore')
    const restore = await restic([...viaCommand, 'restore', 'latest', '--target', target], { repo: resticRepo, password })
    assert.equal(restore.code, 0, restore.stderr)
    assert.deepEqual(await compareTrees(info.root, join(target, info.root), { mtimeToleranceNs: 0 }), [])

    const check = await restic([...viaCommand, 'check', '--read-data'], { repo: resticRepo, password, timeoutMs: 170_000 })
    assert.equal(check.code, 0, `restic check failed:\n${check.stdout}\n${check.stderr}`)
    assert.match(check.stdout, /no errors were found/)
  })

  test('restic init + backup over sftp; cairn restores it identically over sftp:user@host:/path and over sftp://', async () => {
    const dir = join(srv.dir, 'restic-repo')
    const resticRepo = `sftp:${srv.user}@127.0.0.1:${dir}`
    const init = await restic([...viaCommand, 'init'], { repo: resticRepo, password })
    assert.equal(init.code, 0, init.stderr)
    const backup = await restic([...viaCommand, 'backup', info.root], { repo: resticRepo, password })
    assert.equal(backup.code, 0, backup.stderr)

    // The short form has no port, so cairn reaches the test server through restic's own sftp.command.
    const short = await tmp.dir('cairn-restore-short')
    const r1 = await cairn([...viaCommand, 'restore', 'latest', '--target', short], { repo: resticRepo, password, env })
    assert.equal(r1.code, 0, r1.stderr)
    assert.deepEqual(await compareTrees(info.root, join(short, info.root)), [])

    const url = await tmp.dir('cairn-restore-url')
    const cairnRepo = `sftp://${srv.user}@127.0.0.1:${srv.port}/${dir}`
    const r2 = await cairn([...cairnSsh2, 'restore', 'latest', '--target', url], { repo: cairnRepo, password, env })
    assert.equal(r2.code, 0, r2.stderr)
    assert.deepEqual(await compareTrees(info.root, join(url, info.root)), [])
    assert.deepEqual(await readdir(join(dir, 'locks')), [], 'cairn left a lock behind')
  })
})
