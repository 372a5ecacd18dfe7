/**
 * cairn and the real restic 0.14 share S3 repositories on a real S3 server (Swift's s3api over
 * https, the only way restic 0.14 can write to it: over http it streams aws-chunked uploads,
 * which Swift refuses). cairn's CLI and restic run as separate processes; the tests in each
 * describe block build on each other and run in order.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { cairn, compareTrees, makeFixtureTree, makeTempRoot, needs, restic } from '../../../test/helpers/index.js'
import type { FixtureInfo, RunOptions, TempRoot } from '../../../test/helpers/index.js'
import { startSwiftS3Server, swiftS3SkipReason, type SwiftS3Server } from './testing.js'

const password = 'cairn and restic on s3'
const skip = (await swiftS3SkipReason()) || (await needs('restic', 'cairn'))

describe('cairn and restic share S3 repositories', { skip }, () => {
  let server: SwiftS3Server
  let tmp: TempRoot
  let info: FixtureInfo
  let src = ''
  let ca = ''

  before(async () => {
    ;[server, tmp] = await Promise.all([startSwiftS3Server(), makeTempRoot('s3-restic')])
    src = join(tmp.path, 'src')
    info = await makeFixtureTree(src)
    ca = server.caFile!
  })
  after(async () => {
    await server?.stop()
    await tmp?.cleanup()
  })

  /** Credentials from the environment, nothing else AWS-related leaking in. */
  function run(repo: string): RunOptions {
    return {
      repo,
      password,
      env: { ...server.credentialsEnv, AWS_SESSION_TOKEN: undefined, AWS_PROFILE: undefined, AWS_DEFAULT_REGION: undefined, AWS_REGION: undefined },
      timeoutMs: 300_000,
    }
  }

  describe('restic reads what cairn writes', () => {
    let repo = ''
    before(() => {
      repo = server.url('https', server.bucket, 'interop/cairn-made')
    })

    test('cairn init and backup to s3:https://…/bucket/prefix with --cacert', async () => {
      const init = await cairn(['--cacert', ca, 'init'], run(repo))
      assert.equal(init.code, 0, init.stderr)
      const backup = await cairn(['--cacert', ca, 'backup', '--json', src], run(repo))
      assert.equal(backup.code, 0, backup.stderr)
      assert.equal(backup.stderr.trim(), '', 'nothing on stderr (no SDK warnings)')
      const again = await cairn(['--cacert', ca, 'init'], run(repo))
      assert.notEqual(again.code, 0)
      assert.match(again.stderr, /exists/)
    })

    test('restic check --read-data finds no errors', async () => {
      const check = await restic(['--cacert', ca, 'check', '--read-data'], run(repo))
      assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`)
      assert.match(check.stdout, /no errors were found/)
    })

    test('restic restore latest gives a tree identical to the source', async () => {
      const target = await tmp.dir('restic-restore')
      const r = await restic(['--cacert', ca, 'restore', 'latest', '--target', target], run(repo))
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(await compareTrees(src, join(target, src), { mtimeToleranceNs: 0 }), [])
    })
  })

  describe('cairn reads what restic writes', () => {
    let repo = ''
    before(() => {
      repo = server.url('https', server.bucket, 'interop/restic-made')
    })

    test('restic init and backup, then cairn snapshots lists the snapshot', async () => {
      const init = await restic(['--cacert', ca, 'init'], run(repo))
      assert.equal(init.code, 0, init.stderr)
      const backup = await restic(['--cacert', ca, 'backup', src], run(repo))
      assert.equal(backup.code, 0, backup.stderr)
      const snaps = await cairn(['--cacert', ca, '--json', 'snapshots'], run(repo))
      assert.equal(snaps.code, 0, snaps.stderr)
      const list = JSON.parse(snaps.stdout) as { paths: string[] }[]
      assert.equal(list.length, 1)
      assert.deepEqual(list[0].paths, [src])
    })

    test('cairn restore latest gives a tree identical to the source', async () => {
      const target = await tmp.dir('cairn-restore')
      const r = await cairn(['--cacert', ca, 'restore', 'latest', '--target', target], run(repo))
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(await compareTrees(src, join(target, src)), [])
      assert.ok(info.fileCount > 10)
    })

    test('cairn check --read-data of restic\'s repository passes', async () => {
      const r = await cairn(['--cacert', ca, 'check', '--read-data'], run(repo))
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`)
    })
  })

  describe('errors through the CLI', () => {
    test('a wrong secret fails with a message naming the endpoint and bucket, not the secret', async () => {
      const repo = server.url('https', server.bucket, 'interop/cairn-made')
      const secret = 'definitely-wrong-secret'
      const r = await cairn(['--cacert', ca, 'snapshots'], { ...run(repo), env: { ...run(repo).env, AWS_SECRET_ACCESS_KEY: secret } })
      assert.notEqual(r.code, 0)
      assert.match(r.stderr, new RegExp(`bucket "${server.bucket}" at "${server.httpsEndpoint}"`))
      assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret), r.stderr)
    })

    test('a bucket that does not exist exits 10 (no repository)', async () => {
      const r = await cairn(['snapshots'], run(server.url('http', 'no-such-bucket', 'x')))
      assert.equal(r.code, 10, r.stderr)
      assert.match(r.stderr, /bucket "no-such-bucket"/)
    })
  })
})
