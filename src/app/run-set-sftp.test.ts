/**
 * Backup sets with an SFTP destination on a real OpenSSH server (127.0.0.1, throwaway keys):
 * backups go there through the same config keys a user writes (`url: sftp://…`, `options:`
 * for the key and known_hosts); when the server is down, a removable destination is skipped
 * and the next one takes the backup. restic judges the repositories.
 */
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { sshdMissing, startSshd, type TestSshd } from '../backends/sftp/testing.js'
import { parseConfig } from '../config/index.js'
import { initRepo, interopSkipReason, json, PASSWORD, restic, tempDir, type TempDir } from './interop-testing.js'
import { runSets } from './run-set.js'

const skip = (await sshdMissing()) || (await interopSkipReason())

describe('runSets() with an SFTP destination', { skip }, () => {
  let tmp: TempDir
  let sshd: TestSshd
  let src: string
  before(async () => {
    tmp = await tempDir('run-set-sftp')
    sshd = await startSshd()
    src = join(tmp.path, 'src')
    await mkdir(src)
    await writeFile(join(src, 'notes.txt'), 'over ssh\n')
    await writeFile(join(tmp.path, 'pw'), `${PASSWORD}\n`)
  })
  after(async () => {
    await sshd?.stop()
    await tmp?.remove()
  })

  const config = (removable: boolean) =>
    parseConfig(
      `repositories:
  nas:
    url: sftp://${sshd.user}@127.0.0.1:${sshd.port}/${join(sshd.dir, 'repo')}
    password-file: ${join(tmp.path, 'pw')}
    options: { sftp.key: ${sshd.extended['sftp.key']}, sftp.known-hosts: ${sshd.extended['sftp.known-hosts']} }
    removable: ${removable}
  local:
    url: local-repo
    password-file: ${join(tmp.path, 'pw')}
sets:
  docs:
    sources: [${src}]
    destinations: [nas, local]
    retention: { keep-last: 1 }
`,
      join(tmp.path, 'cairn.yaml'),
    )
  const run = (removable: boolean) => runSets({ config: config(removable), shared: { noCache: true }, env: { ...process.env, CAIRN_PASSWORD: undefined } })
  const count = async (repo: string) => json<unknown[]>(await restic(repo, ['snapshots', '--json'])).length

  test('backs up over SFTP and forgets there; a removable SFTP destination whose server is down is skipped and the next one used', async () => {
    // The server's file system is this machine's: a weak-key repository made locally is opened over SFTP.
    await initRepo(join(sshd.dir, 'repo'))
    await initRepo(join(tmp.path, 'local-repo'))
    for (let i = 0; i < 2; i++) {
      const r = await run(false)
      assert.equal(r.exitCode, 0, JSON.stringify(r.sets[0], null, 1))
      assert.deepEqual(r.sets[0].destinations.map((d) => [d.destination, d.status, d.skip]), [
        ['nas', 'ok', undefined],
        ['local', 'skipped', 'not-needed'],
      ])
      assert.match(r.sets[0].destinations[0].location, /^sftp:\/\/.*@127\.0\.0\.1:\d+\//)
    }
    assert.equal(await count(join(sshd.dir, 'repo')), 1, 'keep-last 1 applied over SFTP')
    const check = await restic(join(sshd.dir, 'repo'), ['check', '--read-data'])
    assert.equal(check.code, 0, check.stdout + check.stderr)

    // A server that does not answer is retried as restic does (about a minute), then given up on.
    await sshd.kill()
    try {
      const away = await run(true)
      assert.equal(away.exitCode, 0, JSON.stringify(away.sets[0], null, 1))
      const [nas, local] = away.sets[0].destinations
      assert.deepEqual([away.sets[0].status, nas.status, nas.skip, local.status], ['ok', 'skipped', 'absent', 'ok'])
      assert.match(nas.reason ?? '', /^not reachable: Cannot connect to "127\.0\.0\.1:\d+": connection refused/)
      assert.equal(await count(join(tmp.path, 'local-repo')), 1)
    } finally {
      await sshd.restart()
    }
  })
})
