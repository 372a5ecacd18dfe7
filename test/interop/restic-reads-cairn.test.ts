/**
 * cairn writes, the real restic reads: a repository made and filled by cairn must pass
 * `restic check --read-data`, restore to an identical tree with restic, deduplicate against
 * restic's own backups of the same data, and not grow on an unchanged second backup.
 * The tests in the describe block build on each other and run in order.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  backupSummary,
  cairn,
  cairnTraced,
  compareTrees,
  dataBlobs,
  lockFiles,
  makeFixtureTree,
  makeTempRoot,
  needs,
  parseTimeNs,
  readsBelow,
  repoFileProblems,
  restic,
  resticCheck,
  straceAvailable,
  whereBlobsAre,
} from '../helpers/index.js'
import type { BackupSummary, FixtureInfo, RunResult, TempRoot } from '../helpers/index.js'

const password = 'cairn-writes restic-reads'
const host = 'cairn-interop-host'
const skip = await needs('restic', 'cairn')

describe('restic reads what cairn writes', { skip }, () => {
  let tmp: TempRoot
  let src: string
  let repo: string
  let info: FixtureInfo
  let tracing = false
  let first: RunResult & { trace?: string }
  let firstSummary: BackupSummary
  let snapshotId = ''
  let second: RunResult & { trace?: string }

  before(async () => {
    tmp = await makeTempRoot('restic-reads-cairn')
    src = join(tmp.path, 'src')
    repo = join(tmp.path, 'repo')
    info = await makeFixtureTree(src)
    tracing = await straceAvailable()
  })
  after(() => tmp?.cleanup())

  /** A cairn backup of the fixture, traced for reads when strace works here. */
  function backup(name: string, extra: string[] = []) {
    const args = ['backup', '--json', '--host', host, '--tag', 'interop', ...extra, src]
    return tracing ? cairnTraced(args, { repo, password }, join(tmp.path, `${name}.trace`)) : cairn(args, { repo, password })
  }

  test('cairn init makes a repository restic opens, with a version 2 config and no snapshots', async () => {
    const init = await cairn(['init'], { repo, password })
    assert.equal(init.code, 0, init.stderr)
    const config = await restic(['cat', 'config'], { repo, password })
    assert.equal(config.code, 0, config.stderr)
    const parsed = JSON.parse(config.stdout) as { version: number; id: string; chunker_polynomial: string }
    assert.equal(parsed.version, 2)
    assert.match(parsed.id, /^[0-9a-f]{64}$/)
    assert.match(parsed.chunker_polynomial, /^[0-9a-f]+$/)
    const snaps = await restic(['snapshots', '--json'], { repo, password })
    assert.equal(snaps.code, 0, snaps.stderr)
    assert.deepEqual(JSON.parse(snaps.stdout), [])
  })

  test('cairn backup of the fixture passes restic check --read-data and leaves only whole files', async () => {
    first = await backup('first')
    assert.equal(first.code, 0, first.stderr)
    firstSummary = backupSummary(first.stdout)
    assert.equal(firstSummary.files_new, info.fileCount)
    const check = await resticCheck(repo, password, true)
    assert.equal(check.code, 0, `restic check failed:\n${check.stdout}\n${check.stderr}`)
    assert.match(check.stdout, /no errors were found/)
    assert.deepEqual(await lockFiles(repo), [], 'cairn left a lock behind')
    assert.deepEqual(await repoFileProblems(repo), [])
  })

  test('restic snapshots lists the cairn snapshot with its path, host and tag', async () => {
    const r = await restic(['snapshots', '--json'], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    const list = JSON.parse(r.stdout) as { id: string; paths: string[]; hostname: string; tags?: string[]; tree: string }[]
    assert.equal(list.length, 1)
    const [snap] = list
    assert.ok(
      snap.id.startsWith(firstSummary.snapshot_id) || firstSummary.snapshot_id.startsWith(snap.id),
      `summary names snapshot ${firstSummary.snapshot_id}, restic lists ${snap.id}`,
    )
    assert.deepEqual(snap.paths, [src])
    assert.equal(snap.hostname, host)
    assert.deepEqual(snap.tags, ['interop'])
    snapshotId = snap.id
  })

  test('restic restore of the cairn snapshot gives a tree identical to the source', async () => {
    assert.ok(snapshotId, 'needs the snapshot of the previous tests')
    const target = await tmp.dir('restic-restore')
    const r = await restic(['restore', snapshotId, '--target', target], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    // cairn reads times as bigint nanoseconds and restic restores them exactly: no tolerance.
    assert.deepEqual(await compareTrees(src, join(target, src), { mtimeToleranceNs: 0 }), [])
  })

  test('restic backing up the same data into the cairn repository adds no data blobs', async () => {
    assert.ok(snapshotId, 'needs the cairn snapshot of the previous tests')
    const before = await dataBlobs(repo, password)
    assert.ok(before.size > 10, `expected many data blobs, restic lists ${before.size}`)
    // --force makes restic chunk every file again instead of trusting a parent snapshot.
    const r = await restic(['backup', '--json', '--force', src], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    const summary = backupSummary(r.stdout)
    assert.equal(summary.total_files_processed, info.fileCount)
    const afterBlobs = await dataBlobs(repo, password)
    const added = [...afterBlobs].filter((id) => !before.has(id))
    assert.deepEqual(added, [], `restic stored chunks that cairn had cut differently:\n${await whereBlobsAre(repo, password, added)}`)
    assert.equal(summary.data_blobs, 0)
  })

  test('a second cairn backup with nothing changed adds no data blobs and finds every file unmodified', async () => {
    assert.ok(snapshotId, 'needs the cairn snapshot of the previous tests')
    const before = await dataBlobs(repo, password)
    second = await backup('second')
    assert.equal(second.code, 0, second.stderr)
    const summary = backupSummary(second.stdout)
    assert.equal(summary.files_new, 0)
    assert.equal(summary.files_changed, 0)
    assert.equal(summary.files_unmodified, info.fileCount)
    assert.equal(summary.data_blobs, 0)
    assert.deepEqual(await dataBlobs(repo, password), before)
    const snap = await restic(['cat', 'snapshot', await latestCairnSnapshot()], { repo, password })
    assert.equal(snap.code, 0, snap.stderr)
    assert.equal((JSON.parse(snap.stdout) as { parent?: string }).parent, snapshotId, 'the second backup should name the first as parent')
    const check = await resticCheck(repo, password, false)
    assert.equal(check.code, 0, `restic check failed:\n${check.stdout}\n${check.stderr}`)
  })

  test('the unchanged second cairn backup reads no file contents', async (t) => {
    if (!tracing) return t.skip('strace is missing or may not trace here')
    assert.ok(first?.code === 0 && second?.code === 0, 'needs the two successful traced backups of the previous tests')
    assert.ok(first.trace && second.trace, 'strace wrote no trace')
    // The first backup must show reads in the trace, or the check below would prove nothing.
    assert.ok(
      readsBelow(first.trace, src).some((l) => l.includes(`${src}/${info.samples.exact512k}>`)),
      'the trace of the first backup shows no read of a source file: the tracer is not working',
    )
    assert.deepEqual(readsBelow(second.trace, src), [])
  })

  async function latestCairnSnapshot(): Promise<string> {
    const r = await restic(['snapshots', '--json', '--host', host], { repo, password })
    const list = JSON.parse(r.stdout) as { id: string; time: string }[]
    return list.sort((a, b) => (parseTimeNs(a.time) < parseTimeNs(b.time) ? -1 : 1))[list.length - 1].id
  }
})
