/**
 * restic writes, cairn reads: a repository made and filled by the real restic must restore
 * identically with cairn, and cairn's `snapshots --json`, `ls --json` and `cat` must show what
 * restic shows. cairn's own backup into that repository must deduplicate against restic's data.
 * Where restic 0.14 has the same feature, cairn's result is compared with restic's directly.
 */
import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  backupSummary,
  cairn,
  compareTrees,
  dataBlobs,
  jsonLines,
  lockFiles,
  makeFixtureTree,
  makeTempRoot,
  needs,
  parseTimeNs,
  restic,
  resticCheck,
  whereBlobsAre,
} from '../helpers/index.js'
import type { FixtureInfo, TempRoot } from '../helpers/index.js'

const password = 'restic-writes cairn-reads'
const skip = await needs('restic', 'cairn')

interface SnapshotJson {
  id: string
  short_id?: string
  time: string
  parent?: string
  tree: string
  paths: string[]
  hostname?: string
  username?: string
  tags?: string[]
}

const TIME_FIELDS = new Set(['time', 'mtime', 'atime', 'ctime'])

/** A JSON object with its timestamps turned into instants, so zone spelling does not matter. */
function normalized(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = TIME_FIELDS.has(k) && typeof v === 'string' ? `${parseTimeNs(v)}ns` : v
  return out
}

/** Keeps only the fields restic printed: cairn may add fields, but must have restic's ones. */
function restrictTo(reference: Record<string, unknown>, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(reference)) out[k] = value[k]
  return out
}

describe('cairn reads what restic writes', { skip }, () => {
  let tmp: TempRoot
  let src: string
  let repo: string
  let info: FixtureInfo
  let ids: string[] = []

  before(async () => {
    tmp = await makeTempRoot('cairn-reads-restic')
    src = join(tmp.path, 'src')
    repo = join(tmp.path, 'repo')
    info = await makeFixtureTree(src)
    const init = await restic(['init'], { repo, password })
    assert.equal(init.code, 0, init.stderr)
    const b1 = await restic(['backup', '--tag', 'interop', '--tag', 'first', '--host', 'restic-host', src], { repo, password })
    assert.equal(b1.code, 0, b1.stderr)
    // A second snapshot with a parent, so that field is compared too.
    const b2 = await restic(['backup', '--tag', 'interop', '--host', 'restic-host', src], { repo, password })
    assert.equal(b2.code, 0, b2.stderr)
    const list = await restic(['snapshots', '--json'], { repo, password })
    ids = (JSON.parse(list.stdout) as SnapshotJson[]).map((s) => s.id)
    assert.equal(ids.length, 2)
  })
  after(() => tmp?.cleanup())

  test('cairn snapshots --json lists the same snapshots as restic snapshots --json', async () => {
    const theirs = JSON.parse((await restic(['snapshots', '--json'], { repo, password })).stdout) as SnapshotJson[]
    const r = await cairn(['snapshots', '--json'], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    const ours = JSON.parse(r.stdout) as SnapshotJson[]
    const byId = (a: SnapshotJson, b: SnapshotJson) => (a.id < b.id ? -1 : 1)
    assert.equal(ours.length, theirs.length)
    const expected = theirs.sort(byId) as unknown as Record<string, unknown>[]
    const actual = ours.sort(byId) as unknown as Record<string, unknown>[]
    assert.deepEqual(
      actual.map((s, i) => normalized(restrictTo(expected[i], s))),
      expected.map((s) => normalized(s)),
    )
    assert.ok(theirs.some((s) => s.parent !== undefined), 'restic should have recorded a parent')
  })

  test('cairn ls --json lists every entry restic ls --json lists, with the same fields', async () => {
    const id = ids[0]
    const theirs = jsonLines((await restic(['ls', '--json', '--recursive', id], { repo, password })).stdout) as Record<string, unknown>[]
    const r = await cairn(['ls', '--json', '--recursive', id], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    const ours = jsonLines(r.stdout) as Record<string, unknown>[]
    assert.equal(ours[0]?.struct_type, 'snapshot', 'the first line must describe the snapshot')
    assert.deepEqual(normalized(restrictTo(theirs[0], ours[0])), normalized(theirs[0]))
    const nodesOf = (lines: Record<string, unknown>[]) => {
      const m = new Map<string, Record<string, unknown>>()
      for (const n of lines.slice(1)) m.set(String(n.path), n)
      return m
    }
    const theirNodes = nodesOf(theirs)
    const ourNodes = nodesOf(ours)
    // Every fixture entry plus the snapshot path's parents: a sanity check on restic's listing.
    assert.ok(theirNodes.size > info.entries.length, `restic listed only ${theirNodes.size} nodes`)
    assert.deepEqual([...ourNodes.keys()].sort(), [...theirNodes.keys()].sort())
    for (const [path, node] of theirNodes) {
      assert.deepEqual(normalized(restrictTo(node, ourNodes.get(path)!)), normalized(node), `node ${JSON.stringify(path)}`)
    }
  })

  test('cairn cat config and cat snapshot print what restic prints', async () => {
    const config = await cairn(['cat', 'config'], { repo, password })
    assert.equal(config.code, 0, config.stderr)
    assert.deepEqual(JSON.parse(config.stdout), JSON.parse((await restic(['cat', 'config'], { repo, password })).stdout))
    const snap = await cairn(['cat', 'snapshot', ids[1]], { repo, password })
    assert.equal(snap.code, 0, snap.stderr)
    const theirs = JSON.parse((await restic(['cat', 'snapshot', ids[1]], { repo, password })).stdout) as Record<string, unknown>
    assert.deepEqual(normalized(JSON.parse(snap.stdout)), normalized(theirs))
  })

  test('cairn restore of a restic snapshot gives a tree identical to the source', async () => {
    const target = await tmp.dir('cairn-restore')
    const r = await cairn(['restore', ids[0], '--target', target], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(await compareTrees(src, join(target, src)), [])
    assert.deepEqual(await lockFiles(repo), [], 'cairn left a lock behind')
  })

  test('cairn restore --verify reads back an intact restore and succeeds', async () => {
    const target = await tmp.dir('cairn-restore-verify')
    const r = await cairn(['restore', ids[0], '--target', target, '--verify'], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(await compareTrees(src, join(target, src)), [])
  })

  test('cairn restore SNAPSHOT:PATH puts the contents of that folder directly into the target', async () => {
    const target = await tmp.dir('cairn-restore-subfolder')
    const r = await cairn(['restore', `${ids[0]}:${src}/${info.samples.subdir}`, '--target', target], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    // The target directory itself is not part of the snapshot; compare what is below it.
    assert.deepEqual(await compareTrees(join(src, info.samples.subdir), target, { root: false }), [])
  })

  const filters: [string, () => string[], (top: string[]) => boolean][] = [
    ['--exclude', () => ['--exclude', '*.bin'], (top) => top.includes('data') && !top.includes(info.samples.exact512k)],
    // restic 0.14 matches an --include against the full path in the snapshot.
    ['--include', () => ['--include', join(src, 'names')], (top) => top.length === 1 && top[0] === 'names'],
  ]
  for (const [label, filter, selected] of filters) {
    test(`cairn restore ${label} restores the same entries as restic restore ${label}`, async () => {
      const mine = await tmp.dir(`cairn-filter${label}`)
      const ref = await tmp.dir(`restic-filter${label}`)
      const theirs = await restic(['restore', ids[0], '--target', ref, ...filter()], { repo, password })
      assert.equal(theirs.code, 0, theirs.stderr)
      const top = (await fs.readdir(join(ref, src))).sort()
      assert.ok(selected(top), `restic restored an unexpected selection: ${top.join(', ')}`)
      const r = await cairn(['restore', ids[0], '--target', mine, ...filter()], { repo, password })
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(await compareTrees(join(ref, src), join(mine, src)), [])
    })
  }

  test('cairn backup into the restic repository adds no data blobs and passes restic check --read-data', async () => {
    const before = await dataBlobs(repo, password)
    // Another host means no parent snapshot, so cairn must chunk every file itself.
    const r = await cairn(['backup', '--json', '--host', 'cairn-host', src], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    const summary = backupSummary(r.stdout)
    assert.equal(summary.total_files_processed, info.fileCount)
    const added = [...(await dataBlobs(repo, password))].filter((id) => !before.has(id))
    assert.deepEqual(added, [], `cairn cut chunks that restic had cut differently:\n${await whereBlobsAre(repo, password, added)}`)
    const check = await resticCheck(repo, password, true)
    assert.equal(check.code, 0, `restic check failed:\n${check.stdout}\n${check.stderr}`)
    assert.match(check.stdout, /no errors were found/)
  })
})
