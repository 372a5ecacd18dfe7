import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { MemoryBackend, type Handle } from '../backends/index.js'
import { Repository } from '../repository/index.js'
import { createTestRepository, TEST_PASSWORD } from '../repository/testing.js'
import { UPGRADE_REPO_V2, upgradeRepoV2 } from './migrate.js'

/** A memory backend whose next `failures` saves of the config file fail. */
class FlakyConfigBackend extends MemoryBackend {
  failures = 0
  override async save(h: Handle, data: Uint8Array): Promise<void> {
    if (h.type === 'config' && this.failures > 0) {
      this.failures--
      throw new Error('connection reset')
    }
    return super.save(h, data)
  }
}

describe('upgradeRepoV2()', () => {
  it('turns a version 1 repository into version 2 with the same ID and polynomial, keeping a copy of the old config first', async () => {
    const repo = await createTestRepository({ version: 1 })
    assert.equal(UPGRADE_REPO_V2.notApplicable(repo), undefined)
    const old = await repo.backend.load({ type: 'config', name: '' })
    let copied: Buffer | undefined
    await upgradeRepoV2(repo, async (bytes) => {
      copied = Buffer.from(bytes)
      return '/somewhere/config'
    })
    assert.deepEqual(copied, old)
    const after = await Repository.open(repo.backend, TEST_PASSWORD)
    assert.equal(after.config.version, 2)
    assert.equal(after.config.id, repo.config.id)
    assert.equal(after.config.chunkerPolynomial, repo.config.chunkerPolynomial)
    assert.equal(UPGRADE_REPO_V2.notApplicable(after), 'repository is already upgraded to version 2')
  })

  it('replaces the config in one step where the backend can, never removing it first', async () => {
    const backend = new (class extends MemoryBackend {
      removed: string[] = []
      override async remove(h: Handle): Promise<void> {
        this.removed.push(h.type)
        return super.remove(h)
      }
      async replaceConfig(data: Uint8Array): Promise<void> {
        await super.remove({ type: 'config', name: '' })
        await super.save({ type: 'config', name: '' }, data)
      }
    })()
    const repo = await createTestRepository({ version: 1, backend })
    await upgradeRepoV2(repo, async () => '/somewhere/config')
    assert.deepEqual(backend.removed, [])
    assert.equal((await Repository.open(backend, TEST_PASSWORD)).config.version, 2)
  })

  it('refuses a repository that is version 2 already, changing nothing', async () => {
    const repo = await createTestRepository({ version: 2 })
    const before = await repo.backend.load({ type: 'config', name: '' })
    await assert.rejects(
      upgradeRepoV2(repo, async () => assert.fail('no copy is needed')),
      (err) => isAppError(err) && /only version 1 can be upgraded/.test(err.message),
    )
    assert.deepEqual(await repo.backend.load({ type: 'config', name: '' }), before)
  })

  it('saves the old config back when the new one cannot be saved, and names the copy', async () => {
    const backend = new FlakyConfigBackend()
    const repo = await createTestRepository({ version: 1, backend })
    backend.failures = 1
    await assert.rejects(
      upgradeRepoV2(repo, async () => '/tmp/kept/config'),
      (err) => isAppError(err) && /connection reset; the old config file was saved back/.test(err.message) && /\/tmp\/kept\/config/.test(err.hint ?? ''),
    )
    assert.equal((await Repository.open(backend, TEST_PASSWORD)).config.version, 1)
  })
})
