import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { createTestRepository } from '../repository/testing.js'
import { catObject } from './cat.js'

describe('catObject()', () => {
  it('takes IDs in capitals as restic does, and refuses a blob ID that is not 64 hex characters', async () => {
    // An ID in capitals or with characters added was found in the index, then its blob was
    // reported as not matching its ID: damage that was not there.
    const repo = await createTestRepository()
    const { id } = await repo.withWriter((w) => w.saveBlob('data', Buffer.from('hello cat')))
    assert.equal((await catObject(repo, 'blob', id.toUpperCase())).toString(), 'hello cat')
    for (const bad of [id + 'ff', id.slice(0, 8), 'not-an-id']) {
      await assert.rejects(catObject(repo, 'blob', bad), (err) => isAppError(err, 'INVALID_ARGUMENT') && /is not a blob ID/.test(err.message), bad)
    }
    const [index] = await repo.listIds('index')
    assert.ok((await catObject(repo, 'index', index.toUpperCase())).length > 0)
    assert.ok((await catObject(repo, 'index', index.slice(0, 8).toUpperCase())).length > 0)
    await assert.rejects(catObject(repo, 'pack', 'xyz'), (err) => isAppError(err, 'INVALID_ARGUMENT') && /"xyz" is not a pack ID/.test(err.message))
    await assert.rejects(catObject(repo, 'key'), (err) => isAppError(err, 'INVALID_ARGUMENT') && /cat key"/.test(err.message))
  })
})
