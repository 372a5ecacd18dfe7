import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { SnapshotEntry } from '../snapshots/index.js'
import { layout, type BrowseDir } from './snapshot-browser.js'

const entry = (id: string, time: string, tree: string): SnapshotEntry => ({ id, snapshot: { time, tree, paths: ['/home'], hostname: 'box', tags: ['daily'] } })

describe('layout()', () => {
  it('gives two snapshots whose IDs start alike a folder each under ids/, as restic mount does', () => {
    // The second replaced the first: one snapshot could not be reached by its ID.
    const a = entry('abcd1234' + '0'.repeat(56), '2026-11-20T10:00:00Z', '1'.repeat(64))
    const b = entry('abcd1234' + 'f'.repeat(56), '2026-11-21T10:00:00Z', '2'.repeat(64))
    const root = layout([b, a], 'two')
    const ids = root.children!.get('ids') as BrowseDir
    assert.deepEqual([...ids.children!.keys()], ['abcd1234', 'abcd1234-1'])
    assert.equal((ids.children!.get('abcd1234') as BrowseDir).tree, a.snapshot.tree, 'the older one keeps the plain name')
    assert.equal((ids.children!.get('abcd1234-1') as BrowseDir).tree, b.snapshot.tree)
    const snapshots = root.children!.get('snapshots') as BrowseDir
    assert.equal((snapshots.children!.get('latest') as BrowseDir).tree, b.snapshot.tree)
  })
})
