import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { hashId } from '../../base/index.js'
import { MemoryBackend } from '../memory/memory-backend.js'
import { runConformanceSuite } from '../testing/conformance.js'
import { FaultyBackend } from '../testing/faulty.js'
import { wrapBackend } from './compose.js'

/** Every wrapper a remote backend gets, around a memory backend. */
const wrapped = (inner = new MemoryBackend('wrapped')) =>
  wrapBackend(
    'rest',
    'rest:http://u:pw-secret@127.0.0.1:1/',
    { limitUploadKiB: 1024 * 1024, limitDownloadKiB: 1024 * 1024, extended: { 'rest.connections': '4' } },
    () => inner,
    { initialDelayMs: 1 },
  )

runConformanceSuite('fully wrapped MemoryBackend', async () => wrapped())

describe('fully wrapped backend', () => {
  it('survives a flaky backend: every operation succeeds through transient faults', async () => {
    const faulty = new FaultyBackend()
    const be = wrapped(faulty as unknown as MemoryBackend)
    faulty.failNext('save', 2).failAfterSave(1).failNext('load', 3).failNext('stat', 1).failListAfter(1).failNext('remove', 1)
    const files = Array.from({ length: 4 }, () => {
      const data = randomBytes(300)
      return { h: { type: 'index' as const, name: hashId(data) }, data }
    })
    for (const f of files) await be.save(f.h, f.data)
    for (const f of files) assert.deepEqual(await be.load(f.h), f.data)
    assert.equal((await be.stat(files[0].h)).size, 300)
    const names: string[] = []
    for await (const fi of be.list('index')) names.push(fi.name)
    assert.deepEqual(names.sort(), files.map((f) => f.h.name).sort())
    await be.remove(files[0].h)
    assert.equal(faulty.maxActive <= 4, true)
  })
})
