import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { decodeSnapshot, encodeSnapshot, type Snapshot } from './snapshot.js'
import { loadSnapshots } from './snapshot-find.js'

const TREE = '19712e5ef6e6e11c8f7be399d3f40f736cd9e80877c296b8f5eb9997ffa3dc7f'
const PARENT = 'c81c4c3a300494729806440034b65a1c134396c1a81f0126303b6a1378310104'
const ORIGINAL = 'a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447'

/** What restic 0.14 wrote for a backup as root (restic-format.md §6.2). */
const RESTIC_SNAPSHOT =
  '{"time":"2026-11-22T03:37:22.008860185Z","tree":"19712e5ef6e6e11c8f7be399d3f40f736cd9e80877c296b8f5eb9997ffa3dc7f",' +
  '"paths":["/tmp/src-data"],"hostname":"vm","username":"root"}'

describe('encodeSnapshot()', () => {
  it('reproduces a snapshot restic wrote, byte for byte', () => {
    const bytes = Buffer.from(RESTIC_SNAPSHOT)
    assert.ok(encodeSnapshot(decodeSnapshot(bytes)).equals(bytes))
  })

  it('writes every field in restic order', () => {
    const s: Snapshot = {
      programVersion: 'cairn 0.1.0',
      original: ORIGINAL,
      tags: ['daily', 'a<b'],
      excludes: ['*.tmp'],
      gid: 100,
      uid: 1000,
      username: 'alice',
      hostname: 'box',
      paths: ['/home/alice'],
      tree: TREE,
      parent: PARENT,
      time: '2020-01-02T04:04:05.12+01:00',
    }
    assert.equal(
      encodeSnapshot(s).toString(),
      `{"time":"2020-01-02T04:04:05.12+01:00","parent":"${PARENT}","tree":"${TREE}","paths":["/home/alice"],` +
        `"hostname":"box","username":"alice","uid":1000,"gid":100,"excludes":["*.tmp"],"tags":["daily","a\\u003cb"],` +
        `"original":"${ORIGINAL}","program_version":"cairn 0.1.0"}`,
    )
  })

  it('omits uid and gid 0, empty lists and empty strings, but always writes paths', () => {
    const text = encodeSnapshot({ time: '2020-01-02T03:04:05Z', tree: TREE, paths: [], uid: 0, gid: 0, tags: [], excludes: [], hostname: '' }).toString()
    assert.equal(text, `{"time":"2020-01-02T03:04:05Z","tree":"${TREE}","paths":[]}`)
  })

  it('has no trailing newline', () => {
    const bytes = encodeSnapshot({ time: '2020-01-02T03:04:05Z', tree: TREE, paths: ['/'] })
    assert.equal(bytes[bytes.length - 1], 0x7d)
  })
})

describe('decodeSnapshot()', () => {
  it('refuses a time that does not parse, so that listing skips that snapshot alone (as restic does) instead of failing', async () => {
    // One snapshot with "…10:00:00z" made snapshots, forget, tag and check fail for all.
    const bad = Buffer.from(`{"time":"2024-01-03T10:00:00z","tree":"${TREE}","paths":["/a"]}`)
    assert.throws(() => decodeSnapshot(bad), (err) => isAppError(err, 'INVALID_DATA') && /its time "2024-01-03T10:00:00z"/.test(err.message))
    const good = Buffer.from(`{"time":"2024-01-03T10:00:00Z","tree":"${TREE}","paths":["/a"]}`)
    const files = new Map([['a'.repeat(64), bad], ['b'.repeat(64), good]])
    const repo = { listIds: async () => [...files.keys()], loadUnpacked: async (_t: string, id: string) => files.get(id)! }
    const skipped: string[] = []
    const list = await loadSnapshots(repo as never, (id) => skipped.push(id))
    assert.deepEqual(list.map((e) => e.id), ['b'.repeat(64)])
    assert.deepEqual(skipped, ['a'.repeat(64)])
  })

  it('ignores unknown fields such as the summary of newer restic versions', () => {
    const text =
      `{"time":"2024-01-01T00:00:00Z","tree":"${TREE}","paths":["/a"],"hostname":"h","id":"x",` +
      `"summary":{"backup_start":"2024-01-01T00:00:00Z","files_new":3},"program_version":"restic 0.17.0"}`
    assert.deepEqual(decodeSnapshot(Buffer.from(text)), {
      time: '2024-01-01T00:00:00Z',
      tree: TREE,
      paths: ['/a'],
      hostname: 'h',
      programVersion: 'restic 0.17.0',
    })
  })

  it('round-trips every field', () => {
    const s: Snapshot = {
      time: '2020-01-02T04:04:05.12+01:00',
      parent: PARENT,
      tree: TREE,
      paths: ['/x\n', '/ü'],
      hostname: 'h',
      username: 'u',
      uid: 1,
      gid: 2,
      excludes: ['e'],
      tags: ['t'],
      original: ORIGINAL,
      programVersion: 'p',
    }
    assert.deepEqual(decodeSnapshot(encodeSnapshot(s)), s)
  })

  it('reads null paths as an empty list and a missing time as Go\'s zero time', () => {
    const s = decodeSnapshot(Buffer.from(`{"tree":"${TREE}","paths":null}`))
    assert.deepEqual(s, { time: '0001-01-01T00:00:00Z', tree: TREE, paths: [] })
  })

  it('rejects snapshots without a tree or with wrong field types', () => {
    const bad = [
      '{"time":"2020-01-01T00:00:00Z","paths":[]}',
      `{"tree":"${TREE}","paths":"/a"}`,
      `{"tree":"${TREE}","paths":[],"uid":-1}`,
      `{"tree":"abc","paths":[]}`,
      '{"tree":',
      '[]',
    ]
    for (const text of bad) {
      assert.throws(() => decodeSnapshot(Buffer.from(text)), (err) => isAppError(err, 'INVALID_DATA'), text)
    }
  })
})
