import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { matchesFilter } from './snapshot-find.js'
import type { Snapshot } from './snapshot.js'

const snap = (tags: string[] | undefined, paths = ['/home/me']): Snapshot => ({ time: '2026-11-24T06:00:00Z', tree: 'a'.repeat(64), paths, hostname: 'h', ...(tags ? { tags } : {}) })

describe('matchesFilter()', () => {
  it("takes --tag '' as restic does: only snapshots without tags", () => {
    assert.equal(matchesFilter(snap(undefined), { tags: [''] }), true)
    assert.equal(matchesFilter(snap([]), { tags: [''] }), true)
    assert.equal(matchesFilter(snap(['daily']), { tags: [''] }), false)
    // Either untagged or tagged "daily".
    assert.equal(matchesFilter(snap(['daily']), { tags: ['', 'daily'] }), true)
    assert.equal(matchesFilter(snap(['weekly']), { tags: ['', 'daily'] }), false)
  })

  it('needs every tag of one comma-separated group, spaces around them ignored', () => {
    assert.equal(matchesFilter(snap(['a', 'b']), { tags: ['a, b'] }), true)
    assert.equal(matchesFilter(snap(['a']), { tags: ['a,b'] }), false)
    assert.equal(matchesFilter(snap(['a']), { tags: ['a,b', 'a'] }), true)
  })

  it('cleans --path as restic does: a trailing slash or a doubled one still matches', () => {
    assert.equal(matchesFilter(snap([], ['/home/me']), { paths: ['/home/me/'] }), true)
    assert.equal(matchesFilter(snap([], ['/home/me']), { paths: ['/home//me'] }), true)
    assert.equal(matchesFilter(snap([], ['/home/me']), { paths: ['/home/you/../me'] }), true)
    assert.equal(matchesFilter(snap([], ['/']), { paths: ['/'] }), true)
    assert.equal(matchesFilter(snap([], [join(process.cwd(), 'src')]), { paths: ['src'] }), true, 'a relative path is taken from the current folder')
    assert.equal(matchesFilter(snap([], ['/home/me']), { paths: ['/home'] }), false)
  })
})

describe('findParentSnapshot()', () => {
  it("takes the newest snapshot of the host that holds every path backed up, as restic does, though it holds more", async () => {
    // Only one with exactly the same paths was taken: after "backup src other", "backup src" read everything again.
    const { encodeSnapshot } = await import('./snapshot.js')
    const { findParentSnapshot } = await import('./snapshot-find.js')
    const files = new Map<string, Buffer>()
    const add = (s: Snapshot) => {
      const id = String(files.size).padStart(64, '0')
      files.set(id, Buffer.from(encodeSnapshot(s)))
      return id
    }
    const both = add({ time: '2026-11-24T06:00:00Z', tree: 'a'.repeat(64), paths: ['/src', '/other'], hostname: 'h' })
    const onlyOther = add({ time: '2026-11-24T07:00:00Z', tree: 'b'.repeat(64), paths: ['/other'], hostname: 'h' })
    add({ time: '2026-11-24T08:00:00Z', tree: 'c'.repeat(64), paths: ['/src'], hostname: 'elsewhere' })
    const repo = { listIds: async () => [...files.keys()], loadUnpacked: async (_t: string, id: string) => files.get(id)! }
    assert.equal((await findParentSnapshot(repo as never, 'h', ['/src']))?.id, both)
    assert.equal((await findParentSnapshot(repo as never, 'h', ['/other']))?.id, onlyOther)
    assert.equal(await findParentSnapshot(repo as never, 'h', ['/src', '/third']), undefined)
    // A backup with an earlier --time takes no parent made after it.
    assert.equal((await findParentSnapshot(repo as never, 'h', ['/other'], new Date('2026-11-24T06:30:00Z')))?.id, both)
  })
})
