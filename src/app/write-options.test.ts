import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { createTestRepository, seededBytes } from '../repository/testing.js'
import type { CompressionMode } from '../repository/index.js'
import { cairn, initRepo, tempDir, withRepo } from './interop-testing.js'
import { compressionMode, packSizeFrom } from './write-options.js'

describe('compressionMode() and packSizeFrom()', () => {
  it('take the flag, else CAIRN_ then RESTIC_ variables, else nothing', () => {
    assert.equal(compressionMode(undefined, {}), undefined)
    assert.equal(compressionMode('max', { CAIRN_COMPRESSION: 'off' }), 'max')
    assert.equal(compressionMode(undefined, { CAIRN_COMPRESSION: 'off', RESTIC_COMPRESSION: 'max' }), 'off')
    assert.equal(compressionMode(undefined, { RESTIC_COMPRESSION: 'max' }), 'max')
    assert.equal(packSizeFrom(undefined, {}), undefined)
    assert.equal(packSizeFrom(32, { CAIRN_PACK_SIZE: '8' }), 32 * 1024 * 1024)
    assert.equal(packSizeFrom(undefined, { RESTIC_PACK_SIZE: '64' }), 64 * 1024 * 1024)
    assert.equal(packSizeFrom(undefined, { CAIRN_PACK_SIZE: '', RESTIC_PACK_SIZE: '8' }), 8 * 1024 * 1024, 'an empty variable is not set')
  })

  it('refuse values restic refuses, naming them', () => {
    assert.throws(() => compressionMode('fast', {}), (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message === 'Invalid compression mode "fast"')
    for (const mib of [3, 129, 1.5]) assert.throws(() => packSizeFrom(mib, {}), (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message.startsWith(`Invalid pack size "${mib}"`))
    assert.throws(() => packSizeFrom(undefined, { CAIRN_PACK_SIZE: 'big' }), (err) => isAppError(err, 'INVALID_ARGUMENT'))
  })
})

describe('--compression and --pack-size', () => {
  it('store new data uncompressed with "off", and in packs of the size asked for', async () => {
    const tmp = await tempDir('write-options')
    try {
      const src = join(tmp.path, 'src')
      await fs.mkdir(src)
      // Text compresses well; random bytes fill packs.
      await fs.writeFile(join(src, 'text.txt'), 'the same line again and again\n'.repeat(20_000))
      await fs.writeFile(join(src, 'random.bin'), seededBytes(3, 13 * 1024 * 1024))
      const repo = join(tmp.path, 'repo')
      await initRepo(repo)
      const r = await cairn(repo, ['--compression', 'off', '--pack-size', '4', 'backup', src])
      assert.equal(r.code, 0, r.stderr)
      await withRepo(repo, async (opened) => {
        await opened.loadIndex()
        const blobs = [...opened.index.blobs('data')]
        assert.ok(blobs.length > 3)
        assert.deepEqual(blobs.filter((b) => b.uncompressedLength !== 0), [], 'nothing compressed')
        const packs = [...opened.index.packs()].filter((p) => p.blobs.some((b) => b.type === 'data'))
        const sizes = packs.map((p) => p.blobs.reduce((n, b) => Math.max(n, b.offset + b.length), 0))
        // At the default 16 MiB the 13 MiB would fit one pack. A pack ends once it reaches the
        // target, so it may hold up to one more chunk (up to 8 MiB) beyond it.
        assert.ok(packs.length >= 2, `13 MiB in packs of 4 MiB (and one more chunk at most): ${sizes.join(', ')}`)
        assert.ok(sizes.every((n) => n < 4 * 1024 * 1024 + 9 * 1024 * 1024), sizes.join(', '))
      })
      const bad = await cairn(repo, ['--compression', 'fast', 'backup', src])
      assert.equal(bad.code, 1)
      assert.match(bad.stderr, /^Fatal: Invalid compression mode "fast"/)
    } finally {
      await tmp.remove()
    }
  })
})

describe('compression modes', () => {
  it('max stores text smaller than auto, and off does not compress', async () => {
    // This project's own compiled sources: text such as backups hold.
    const here = dirname(fileURLToPath(import.meta.url))
    const names = (await fs.readdir(here)).filter((n) => n.endsWith('.js')).sort()
    const text = Buffer.concat(await Promise.all(names.map((n) => fs.readFile(join(here, n)))))
    const stored: Partial<Record<CompressionMode, number>> = {}
    for (const mode of ['off', 'auto', 'max'] as const) {
      const repo = await createTestRepository()
      await repo.withWriter((w) => w.saveBlob('data', text), { compression: mode, threads: 0 })
      stored[mode] = [...repo.index.blobs('data')][0].length
    }
    assert.ok(stored.max! < stored.auto! && stored.auto! < text.length && stored.off! > text.length, JSON.stringify({ ...stored, plain: text.length }))
  })
})
