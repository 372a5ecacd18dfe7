import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { hashId } from '../../base/index.js'
import { MemoryBackend } from '../memory/memory-backend.js'
import { withRateLimit } from './rate-limit.js'

const KiB = 1024
const MiB = 1024 * KiB

function file(size: number) {
  const data = randomBytes(size)
  return { h: { type: 'data' as const, name: hashId(data) }, data }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now()
  await fn()
  return (performance.now() - start) / 1000
}

describe('withRateLimit()', () => {
  it('takes about 2 s to save 1 MiB at --limit-upload 512 KiB/s', async () => {
    const be = withRateLimit(new MemoryBackend(), { uploadKiB: 512 })
    const { h, data } = file(MiB)
    const seconds = await timed(() => be.save(h, data))
    assert.ok(seconds >= 1.95 && seconds < 3, `took ${seconds.toFixed(3)} s`)
  })

  it('shares one download budget across concurrent loads, and leaves uploads alone', async () => {
    const inner = new MemoryBackend()
    const files = Array.from({ length: 4 }, () => file(64 * KiB))
    for (const f of files) await inner.save(f.h, f.data)
    const be = withRateLimit(inner, { downloadKiB: 256 })
    const seconds = await timed(() => Promise.all(files.map((f) => be.load(f.h))))
    assert.ok(seconds >= 0.95 && seconds < 1.9, `4 x 64 KiB at 256 KiB/s took ${seconds.toFixed(3)} s`)
    const up = file(MiB)
    assert.ok((await timed(() => be.save(up.h, up.data))) < 0.6, 'no upload limit was set')
    assert.ok((await timed(() => be.stat(files[0].h))) < 0.2, 'stat is not charged')
  })

  it('charges the bytes of a ranged load, not of the whole file', async () => {
    const inner = new MemoryBackend()
    const { h, data } = file(MiB)
    await inner.save(h, data)
    const be = withRateLimit(inner, { downloadKiB: 1024 })
    const seconds = await timed(() => be.load(h, 0, 100 * KiB))
    assert.ok(seconds >= 0.09 && seconds < 0.6, `100 KiB at 1 MiB/s took ${seconds.toFixed(3)} s`)
  })

  it('returns the backend itself when no limit is set', () => {
    const inner = new MemoryBackend()
    assert.equal(withRateLimit(inner, {}), inner)
    assert.equal(withRateLimit(inner, { uploadKiB: 0, downloadKiB: 0 }), inner)
    assert.throws(() => withRateLimit(inner, { uploadKiB: -1 }), RangeError)
  })
})

describe('--limit-upload on a local repository', () => {
  it('is honoured, as restic honours it, through save rather than files written in place', async () => {
    // The limits were ignored for local repositories.
    const { mkdtemp, rm } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const { openBackend } = await import('../registry.js')
    const dir = await mkdtemp(join(tmpdir(), 'cairn-local-limit-'))
    try {
      const be = await openBackend(join(dir, 'repo'), { limitUploadKiB: 512 })
      await be.create()
      assert.equal(be.stage, undefined, 'no writing in place, which would pass the limit by')
      assert.equal(typeof be.removeTemporaryFiles, 'function', 'prune still cleans up')
      const { h, data } = file(MiB)
      const seconds = await timed(() => be.save(h, data))
      assert.ok(seconds >= 1.95 && seconds < 3, `took ${seconds.toFixed(3)} s`)
      assert.notEqual((await openBackend(join(dir, 'repo'))).stage, undefined, 'without a limit it writes in place')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
