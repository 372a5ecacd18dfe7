/**
 * runForget() and the flag parsing behind `cairn forget`, on memory repositories.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MemoryBackend } from '../backends/index.js'
import { tamper } from '../backends/testing/overrides.js'
import { writeSnapshot } from '../maintenance/prune-testing.js'
import { createTestRepository, seededBytes } from '../repository/testing.js'
import { loadSnapshots } from '../snapshots/index.js'
import { isAppError } from '../base/index.js'
import { retentionPolicyFromFlags, runForget } from './forget.js'
import { runPrune } from './prune.js'

describe('retentionPolicyFromFlags()', () => {
  it('reads counts, "unlimited", durations and tag lists', () => {
    assert.deepEqual(retentionPolicyFromFlags({ keepLast: '3', keepDaily: 'unlimited', keepWeekly: '-1', keepWithin: '1y2m', keepTag: ['a, b', 'c'] }), {
      last: 3,
      daily: -1,
      weekly: -1,
      within: { years: 1, months: 2, days: 0, hours: 0 },
      tags: [['a', 'b'], ['c']],
    })
    assert.deepEqual(retentionPolicyFromFlags({}), {})
  })

  it('rejects negative counts other than -1, bad numbers and negative durations', () => {
    assert.throws(() => retentionPolicyFromFlags({ keepLast: '-2' }), /Invalid value "-2" for --keep-last/)
    assert.throws(() => retentionPolicyFromFlags({ keepHourly: 'many' }), /Invalid value "many" for --keep-hourly/)
    assert.throws(() => retentionPolicyFromFlags({ keepWithinDaily: '-3d' }), /negative values are not allowed/)
    assert.throws(() => retentionPolicyFromFlags({ keepWithin: '3w' }), /Invalid duration "3w": invalid unit "w"/)
  })
})

async function repoWithSnapshots(hosts: string[]) {
  const backend = new MemoryBackend()
  const repo = await createTestRepository({ backend })
  const ids: string[] = []
  for (const [i, host] of hosts.entries()) {
    ids.push(await writeSnapshot(repo, { [`f${i}`]: seededBytes(100 + i, 70_000) }, { host, time: `2025-03-0${i + 1}T12:00:00Z` }))
  }
  return { repo, ids }
}

/** Damages the file of snapshot `id` in place (bit rot, or an upload cut short). */
async function damageSnapshot(backend: MemoryBackend, id: string): Promise<void> {
  await tamper(backend, { type: 'snapshots', name: id }, (b) => {
    b[40] ^= 1
  })
}

describe('runForget()', () => {
  it('copes with a damaged snapshot file: a policy skips it with a warning, forget by ID removes it, prune refuses naming it', async () => {
    // Before, the policy and prune failed without naming a way out, and forget by ID warned and removed nothing.
    const backend = new MemoryBackend()
    const repo = await createTestRepository({ backend })
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push(await writeSnapshot(repo, { [`f${i}`]: seededBytes(200 + i, 70_000) }, { host: 'a', time: `2025-03-0${i + 1}T12:00:00Z` }))
    await damageSnapshot(backend, ids[1])
    const warnings: string[] = []
    const policy = await runForget(repo, { policy: { last: 1 }, onWarning: (m) => warnings.push(m) })
    assert.deepEqual(policy.removed, [ids[0]], 'the unreadable one is left alone')
    assert.equal(warnings.length, 1)
    assert.match(warnings[0], new RegExp(`^Ignoring snapshot ${ids[1].slice(0, 8)}, which cannot be read: .*cairn forget ${ids[1].slice(0, 8)}`))

    const { planPrune } = await import('../maintenance/index.js')
    await assert.rejects(planPrune(repo, {}), (err: Error & { hint?: string }) => {
      assert.match(err.message, new RegExp(`Snapshot ${ids[1].slice(0, 8)} cannot be read: .*nothing was deleted`))
      assert.match(err.hint ?? '', /cairn forget/)
      return true
    })

    const byId = await runForget(repo, { ids: [ids[1].slice(0, 8)], policy: {} })
    assert.deepEqual(byId.removed, [ids[1]])
    assert.deepEqual(await repo.listIds('snapshots'), [ids[2]])
  })

  it('removes what the policy removes, per group, and nothing on a dry run', async () => {
    const { repo, ids } = await repoWithSnapshots(['a', 'a', 'b', 'a'])
    const dry = await runForget(repo, { policy: { last: 1 }, dryRun: true })
    assert.deepEqual(dry.removed.sort(), [ids[0], ids[1]].sort())
    assert.equal((await loadSnapshots(repo)).length, 4)
    const real = await runForget(repo, { policy: { last: 1 }, groupBy: '' })
    assert.deepEqual(real.groups.map((g) => [g.key, g.keep.length, g.remove.length]), [[{ hostname: '', paths: null, tags: null }, 1, 3]])
    assert.deepEqual((await loadSnapshots(repo)).map((e) => e.id), [ids[3]])
  })

  it('removes snapshots given by ID prefix and warns about unknown ones', async () => {
    const { repo, ids } = await repoWithSnapshots(['a', 'a'])
    const warnings: string[] = []
    const r = await runForget(repo, { ids: [ids[0].slice(0, 12), 'abcdef'], policy: {}, filter: { hosts: ['a'] }, onWarning: (m) => warnings.push(m) })
    assert.deepEqual(r.removed, [ids[0]])
    assert.deepEqual(warnings, ['Ignoring "abcdef": No snapshot with ID "abcdef"', 'Ignoring filters as there are explicit snapshot IDs given'])
    assert.deepEqual((await loadSnapshots(repo)).map((e) => e.id), [ids[1]])
  })

  it('keeps everything for an empty policy', async () => {
    const { repo } = await repoWithSnapshots(['a', 'a'])
    const r = await runForget(repo, { policy: {} })
    assert.equal(r.policyEmpty, true)
    assert.deepEqual(r.removed, [])
    assert.equal((await loadSnapshots(repo)).length, 2)
  })

  it('prunes afterwards with --prune, and checks prune flags before deleting anything', async () => {
    const { repo } = await repoWithSnapshots(['a', 'a', 'a'])
    await assert.rejects(runForget(repo, { policy: { last: 1 }, prune: { maxUnused: '100%' } }), /below 100%/)
    assert.equal((await loadSnapshots(repo)).length, 3)
    const packsBefore = (await repo.listIds('data')).length
    const r = await runForget(repo, { policy: { last: 1 }, prune: { threads: 0 } })
    assert.equal(r.removed.length, 2)
    assert.ok(r.prune?.execution && r.prune.execution.packsDeleted >= 2)
    assert.ok((await repo.listIds('data')).length < packsBefore)
  })

  it('refuses --repack-uncompressed with compression off, in prune and before forget deletes anything', async () => {
    // restic refuses the pair; cairn repacked the data uncompressed again, on every run.
    const { repo } = await repoWithSnapshots(['a', 'a'])
    repo.writerDefaults = { compression: 'off' }
    const refused = (err: unknown) => isAppError(err, 'INVALID_ARGUMENT') && /--repack-uncompressed cannot go with --compression off/.test(err.message)
    await assert.rejects(runPrune(repo, { repackUncompressed: true, threads: 0 }), refused)
    await assert.rejects(runForget(repo, { policy: { last: 1 }, prune: { repackUncompressed: true, threads: 0 } }), refused)
    assert.equal((await loadSnapshots(repo)).length, 2)
    repo.writerDefaults = {}
    assert.equal((await runPrune(repo, { repackUncompressed: true, threads: 0, dryRun: true })).dryRun, true)
  })

  it('on a dry run with --prune, plans as if the snapshots were gone but changes nothing', async () => {
    const { repo } = await repoWithSnapshots(['a', 'a', 'a'])
    const files = [...(await repo.listIds('data')), ...(await repo.listIds('index'))].sort()
    const r = await runForget(repo, { policy: { last: 1 }, dryRun: true, prune: { threads: 0 } })
    assert.equal(r.prune?.dryRun, true)
    assert.equal(r.prune?.stats.packs.unused, 4, 'the data and tree packs of the two older snapshots')
    assert.deepEqual([...(await repo.listIds('data')), ...(await repo.listIds('index'))].sort(), files)
  })
})
