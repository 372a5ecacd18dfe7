/**
 * Proves the interop harness itself with restic alone: if restic round-trips the fixture and
 * compareTrees finds nothing, the fixture and the comparison are right, and a cairn failure in
 * the other interop tests is cairn's. Also checks that the read tracer sees what it must see.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  backupSummary,
  compareTrees,
  lockFiles,
  makeFixtureTree,
  makeTempRoot,
  needs,
  readsBelow,
  repoFileProblems,
  restic,
  resticTraced,
} from '../helpers/index.js'
import type { FixtureInfo, TempRoot } from '../helpers/index.js'

const password = 'harness-password'
const skipRestic = await needs('restic')

describe('interop harness (restic only)', { skip: skipRestic }, () => {
  let tmp: TempRoot
  let src: string
  let repo: string
  let info: FixtureInfo
  let snapshotId: string

  before(async () => {
    tmp = await makeTempRoot('harness')
    src = join(tmp.path, 'src')
    repo = join(tmp.path, 'repo')
    info = await makeFixtureTree(src)
    const init = await restic(['init'], { repo, password })
    assert.equal(init.code, 0, init.stderr)
  })
  after(() => tmp?.cleanup())

  test('restic backs up the whole fixture and counts every file name', async () => {
    const r = await restic(['backup', '--json', src], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    const summary = backupSummary(r.stdout)
    assert.equal(summary.total_files_processed, info.fileCount)
    assert.equal(summary.total_bytes_processed, info.totalFileBytes)
    snapshotId = summary.snapshot_id
    assert.deepEqual(await lockFiles(repo), [])
    assert.deepEqual(await repoFileProblems(repo), [])
  })

  test('restic restore of the fixture is identical to the source by compareTrees', async () => {
    assert.ok(snapshotId, 'needs the backup from the previous test')
    const target = await tmp.dir('restore')
    const r = await restic(['restore', snapshotId, '--target', target], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    // restic is exact to the nanosecond, so the comparison may be too.
    assert.deepEqual(await compareTrees(src, join(target, src), { mtimeToleranceNs: 0 }), [])
  })

  test('the strace read log shows file reads on a first backup and none on an unchanged one', async (t) => {
    const skip = await needs('strace')
    if (skip) return t.skip(skip)
    const first = await resticTraced(['backup', '--force', src], { repo, password }, join(tmp.path, 'trace-1'))
    assert.equal(first.code, 0, first.stderr)
    const firstReads = readsBelow(first.trace, src)
    assert.ok(
      firstReads.some((l) => l.includes(`${src}/${info.samples.exact512k}>`)),
      `no read of ${info.samples.exact512k} in the trace of a forced backup`,
    )
    const second = await resticTraced(['backup', src], { repo, password }, join(tmp.path, 'trace-2'))
    assert.equal(second.code, 0, second.stderr)
    assert.deepEqual(readsBelow(second.trace, src), [])
  })
})
