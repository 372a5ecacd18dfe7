/**
 * cairn and restic share a repository behind `rclone serve restic` over HTTP: what cairn backs up
 * there, restic restores identically and checks clean, and the other way round. Runs the real CLIs (test/helpers).
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { cairn, compareTrees, makeFixtureTree, makeTempRoot, needs, restic, resticCheck, type TempRoot } from '../../../test/helpers/index.js'
import { rcloneAvailable, startRcloneServe, type RcloneServer } from './testing.js'

const password = 'rest interop'
const skip = (await needs('restic', 'cairn')) || ((await rcloneAvailable()) ? false : 'rclone is not installed')

describe('cairn and restic share a repository over rest: (rclone serve restic)', { skip }, () => {
  let tmp: TempRoot
  let server: RcloneServer
  let src = ''

  before(async () => {
    tmp = await makeTempRoot('rest-restic')
    server = await startRcloneServe(await tmp.dir('served'))
    src = join(tmp.path, 'src')
    await makeFixtureTree(src)
  })
  after(async () => {
    await server?.stop()
    await tmp?.cleanup()
  })

  test('cairn init and backup to rest:, then restic restore latest gives an identical tree and check --read-data passes', async () => {
    const repo = `rest:${server.url}by-cairn/`
    const init = await cairn(['init'], { repo, password })
    assert.equal(init.code, 0, init.stderr)
    const backup = await cairn(['backup', src], { repo, password })
    assert.equal(backup.code, 0, backup.stderr)

    const target = await tmp.dir('restored-by-restic')
    const restore = await restic(['restore', 'latest', '--target', target], { repo, password })
    assert.equal(restore.code, 0, restore.stderr)
    assert.deepEqual(await compareTrees(src, join(target, src), { mtimeToleranceNs: 0 }), [])

    const check = await resticCheck(repo, password, true)
    assert.equal(check.code, 0, `restic check failed:\n${check.stdout}\n${check.stderr}`)
    assert.match(check.stdout, /no errors were found/)
  })

  test('restic init and backup to rest:, then cairn restore latest gives an identical tree and cairn check --read-data passes', async () => {
    const repo = `rest:${server.url}by-restic/`
    const init = await restic(['init'], { repo, password })
    assert.equal(init.code, 0, init.stderr)
    const backup = await restic(['backup', src], { repo, password })
    assert.equal(backup.code, 0, backup.stderr)

    const target = await tmp.dir('restored-by-cairn')
    const restore = await cairn(['restore', 'latest', '--target', target], { repo, password })
    assert.equal(restore.code, 0, restore.stderr)
    assert.deepEqual(await compareTrees(src, join(target, src)), [])
    const check = await cairn(['check', '--read-data'], { repo, password })
    assert.equal(check.code, 0, `cairn check failed:\n${check.stdout}\n${check.stderr}`)
  })
})
