/**
 * The server fronts any backend: restic speaks REST to `cairn serve rest --backend s3:…`, which
 * stores through cairn's S3 backend on a real S3 server (Swift's s3api on loopback).
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { compareTrees, makeFixtureTree, makeTempRoot, needs, restic, resticCheck, type FixtureInfo, type TempRoot } from '../../test/helpers/index.js'
import { openBackend } from '../backends/index.js'
import { startSwiftS3Server, swiftS3SkipReason, type SwiftS3Server } from '../backends/s3/testing.js'
import type { RunningRestServer } from './serve-rest.js'
import { basic, rawRequest, restUrl, shaHash, startTestServer } from './testing.js'

const skip = (await swiftS3SkipReason()) || (await needs('restic'))
const password = 'rest in front of s3'

describe('restic → cairn serve rest --backend s3:… → S3', { skip }, () => {
  let s3: SwiftS3Server
  let tmp: TempRoot
  let info: FixtureInfo
  let server: RunningRestServer
  before(async () => {
    ;[s3, tmp] = await Promise.all([startSwiftS3Server({ tls: false }), makeTempRoot('server-s3')])
    info = await makeFixtureTree(join(tmp.path, 'src'))
    const users = join(tmp.path, 'users.yaml')
    await writeFile(users, `users:\n  ann: { password: "${shaHash('ann pw')}" }\n`)
    server = await startTestServer({
      backend: s3.url('http', s3.bucket, 'served'),
      backendOptions: { env: { ...process.env, ...s3.credentialsEnv } },
      usersFile: users,
      privateRepos: true,
    })
  })
  after(async () => {
    await server?.close()
    await s3?.stop()
    await tmp?.cleanup()
  })

  test('init, backup, check --read-data and an identical restore, with the files in the bucket under the repository prefix', async () => {
    const repo = restUrl(server.url, '/ann/laptop/', 'ann', 'ann pw')
    assert.equal((await restic(['init'], { repo, password })).code, 0)
    const b = await restic(['backup', info.root], { repo, password, timeoutMs: 300_000 })
    assert.equal(b.code, 0, b.stderr)
    const check = await resticCheck(repo, password, true)
    assert.equal(check.code, 0, check.stdout + check.stderr)
    const snaps = JSON.parse((await restic(['snapshots', '--json'], { repo, password })).stdout) as { id: string }[]
    const target = await tmp.dir('restore')
    const r = await restic(['restore', snaps[0].id, '--target', target], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(await compareTrees(info.root, join(target, info.root), { mtimeToleranceNs: 0 }), [])
    // The bucket holds the repository under <prefix>/ann/laptop/, as cairn's S3 backend lays it out.
    const direct = await openBackend(s3.url('http', s3.bucket, 'served/ann/laptop'), { env: { ...process.env, ...s3.credentialsEnv } })
    const listed: string[] = []
    for await (const f of direct.list('snapshots')) listed.push(f.name)
    await direct.close()
    assert.deepEqual(listed, [snaps[0].id])
    assert.equal((await rawRequest(server.url, 'GET', '/ann/other/keys/', { headers: { Authorization: basic('ann', 'ann pw'), Accept: 'application/vnd.x.restic.rest.v2' } })).body.toString(), '[]')
  })
})
