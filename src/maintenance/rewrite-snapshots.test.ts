import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MemoryBackend, type Handle } from '../backends/index.js'
import { Repository } from '../repository/index.js'
import { createTestRepository, TEST_PASSWORD } from '../repository/testing.js'
import { loadSnapshots } from '../snapshots/index.js'
import { rewriteSnapshots } from './rewrite-snapshots.js'
import { saveTestSnapshot } from './testing.js'

/** A memory backend that fails to remove snapshot files while `broken`, as a run killed at that moment. */
class CutShort extends MemoryBackend {
  broken = false
  override async remove(h: Handle): Promise<void> {
    if (this.broken && h.type === 'snapshots') throw new Error('killed')
    return super.remove(h)
  }
}

describe('rewriteSnapshots()', () => {
  it('run again after a run cut short between saving and forgetting, it finishes the job without saving a second copy', async () => {
    const backend = new CutShort()
    const repo = await createTestRepository({ backend })
    for (const n of [1, 2]) await saveTestSnapshot(repo, { files: { [`/home/me/${n}.txt`]: `${n}`, '/home/me/.env': 'SECRET=1' }, time: `2026-11-2${n}T10:00:00Z` })
    const excluded = (path: string) => path.endsWith('/.env')
    const run = async () => {
      const fresh = await Repository.open(backend, TEST_PASSWORD)
      await fresh.loadIndex()
      const all = await loadSnapshots(fresh)
      return rewriteSnapshots(fresh, all, { excluded, forget: true, existing: all })
    }
    backend.broken = true
    await assert.rejects(run(), /killed/)
    backend.broken = false
    assert.equal((await loadSnapshots(repo)).length, 3, 'setup: one new snapshot saved, no original removed')

    await run()
    const after = await loadSnapshots(repo)
    assert.equal(after.length, 2, after.map((s) => `${s.id.slice(0, 8)} ← ${s.snapshot.original?.slice(0, 8)}`).join(', '))
    assert.ok(after.every((s) => s.snapshot.original !== undefined))
  })
})
