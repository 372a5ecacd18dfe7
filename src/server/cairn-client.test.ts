/**
 * cairn's own REST client against cairn's server, with restic as the judge: cairn init and
 * backup through `serve rest`, then restic check --read-data and an identical restic restore;
 * cairn reads back what restic wrote through the same server.
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { cairn, compareTrees, makeFixtureTree, makeTempRoot, needs, restic, resticCheck, type FixtureInfo, type TempRoot } from '../../test/helpers/index.js'
import type { RunningRestServer } from './serve-rest.js'
import { quickHash, restUrl, startTestServer } from './testing.js'

const skip = await needs('restic', 'cairn')
const password = 'cairn client, cairn server'

describe('cairn -r rest:… against cairn serve rest', { skip }, () => {
  let tmp: TempRoot
  let info: FixtureInfo
  let server: RunningRestServer
  let repo: string
  before(async () => {
    tmp = await makeTempRoot('server-cairn-client')
    info = await makeFixtureTree(join(tmp.path, 'src'))
    const root = await tmp.dir('repos')
    await writeFile(join(root, '.htpasswd'), `carl:${quickHash('carl pw')}\n`)
    server = await startTestServer({ path: root, privateRepos: true })
    repo = restUrl(server.url, '/carl/laptop/', 'carl', 'carl pw')
  })
  after(async () => {
    await server?.close()
    await tmp?.cleanup()
  })

  test('cairn init and backup through the server; restic checks and restores an identical tree', async () => {
    const init = await cairn(['init'], { repo, password })
    assert.equal(init.code, 0, init.stderr)
    const backup = await cairn(['backup', '--host', 'h', info.root], { repo, password })
    assert.equal(backup.code, 0, backup.stderr)
    const check = await resticCheck(repo, password, true)
    assert.equal(check.code, 0, check.stdout + check.stderr)
    const snaps = await restic(['snapshots', '--json'], { repo, password })
    const [id] = (JSON.parse(snaps.stdout) as { id: string }[]).map((s) => s.id)
    const target = await tmp.dir('restic-restore')
    const r = await restic(['restore', id, '--target', target], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(await compareTrees(info.root, join(target, info.root), { mtimeToleranceNs: 0 }), [])
  })

  test('cairn restores what restic backed up through the server, and its check passes', async () => {
    const b = await restic(['backup', '--host', 'r', info.root], { repo, password })
    assert.equal(b.code, 0, b.stderr)
    const target = await tmp.dir('cairn-restore')
    const r = await cairn(['restore', 'latest', '--host', 'r', '--target', target], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    // Node sets times as doubles: compareTrees' default tolerance of 1 µs
    assert.deepEqual(await compareTrees(info.root, join(target, info.root)), [])
    const check = await cairn(['check', '--read-data'], { repo, password })
    assert.equal(check.code, 0, check.stdout + check.stderr)
  })
})
