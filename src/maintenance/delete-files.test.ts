import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AppError, isAppError } from '../base/index.js'
import { MemoryBackend, type Backend } from '../backends/index.js'
import { withMembers } from '../backends/testing/overrides.js'
import { deleteFiles } from './prune-execute.js'

const ID = 'ab'.repeat(32)

describe('deleteFiles()', () => {
  it("passes on an append-only server's refusal with its own hint, not 'run prune again'", async () => {
    const hint = 'The server may be append-only; run forget and prune against a server without it'
    const be = withMembers<Backend>(new MemoryBackend(), {
      remove: async () => Promise.reject(new AppError('PERMISSION_DENIED', 'the server refused the operation (403 Forbidden)', { hint })),
    })
    await assert.rejects(deleteFiles({ backend: be }, 'snapshots', [ID]), (err) => isAppError(err, 'PERMISSION_DENIED') && err.hint === hint)
  })

  it('asks to run the command again after another failure, saying nothing is lost', async () => {
    const be = withMembers<Backend>(new MemoryBackend(), { remove: async () => Promise.reject(new Error('connection reset')) })
    await assert.rejects(deleteFiles({ backend: be }, 'snapshots', [ID]), (err) => isAppError(err, 'IO') && /Nothing is lost; run the command again/.test(err.hint ?? ''))
    await assert.rejects(deleteFiles({ backend: be }, 'data', [ID]), (err) => isAppError(err, 'IO') && /run prune again/.test(err.hint ?? ''))
  })
})
