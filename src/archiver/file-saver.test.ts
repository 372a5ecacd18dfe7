import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { hashId, type Id } from '../base/index.js'
import { chunkBuffer, MAX_SIZE, MIN_SIZE } from '../chunker/index.js'
import { newMasterKey, open } from '../crypto/index.js'
import { zstdDecompress, type EncodedBlob } from '../repository/index.js'
import { seededBytes, TEST_POLYNOMIAL } from '../repository/testing.js'
import { BackupWorkers } from './backup-workers.js'
import { FileSaver, type DataSink } from './file-saver.js'

const MiB = 1024 * 1024
const key = newMasterKey()

/** A sink that checks and keeps every blob: encoded ones are opened and must match their ID. */
function recordingSink(level: number) {
  const stored = new Map<Id, number>()
  let released = 0
  let encoded = 0
  const keep = (id: Id, size: number) => {
    const known = stored.has(id)
    stored.set(id, size)
    return { id, known }
  }
  const sink: DataSink = {
    compressionLevel: level,
    has: (_type, id) => stored.has(id),
    async saveBlob(_type, data, id) {
      assert.equal(id ?? hashId(data), hashId(data))
      return keep(hashId(data), data.length)
    },
    async saveEncodedBlob(_type, id, plainSize, enc: EncodedBlob) {
      let plain = open(key, enc.sealed)
      if (enc.uncompressedLength !== 0) plain = zstdDecompress(plain, enc.uncompressedLength)
      assert.equal(hashId(plain), id)
      assert.equal(plain.length, plainSize)
      encoded++
      enc.release?.()
      released += enc.release ? 1 : 0
      return keep(id, plainSize)
    },
  }
  return { sink, stored, counts: () => ({ encoded, released }) }
}

/** restic's chunks of `data`, as IDs. */
function expectedContent(data: Buffer): Id[] {
  return [...chunkBuffer(TEST_POLYNOMIAL, data)].map((c) => hashId(data.subarray(c.offset, c.offset + c.length)))
}

describe('FileSaver', () => {
  let dir: string
  let workers: BackupWorkers
  // Sizes around every boundary of the read buffers (2 MiB blocks after an 8 MiB head), runs of
  // zeros (every chunk at MAX_SIZE) and random data.
  const files: Record<string, Buffer> = {
    'empty': Buffer.alloc(0),
    'one-byte': Buffer.from('x'),
    'min': seededBytes(1, MIN_SIZE),
    'min-plus-one': seededBytes(2, MIN_SIZE + 1),
    'block-minus-one': seededBytes(3, 2 * MiB - 1),
    'block-plus-one': seededBytes(4, 2 * MiB + 1),
    'buffer': seededBytes(5, MAX_SIZE + 2 * MiB),
    'zeros': Buffer.alloc(3 * MAX_SIZE + 12345),
    'mixed': Buffer.concat([Buffer.alloc(9 * MiB), seededBytes(6, 3 * MiB), Buffer.alloc(MAX_SIZE + 1), seededBytes(7, 5 * MiB + 3)]),
    'random': seededBytes(8, 23 * MiB + 777),
    // Several turns of the 24 MiB read ring, each wrap moving a partial chunk to the front.
    'laps': seededBytes(10, 70 * MiB + 4321),
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-file-saver-'))
    for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data)
    workers = new BackupWorkers(key, 2)
  })
  after(async () => {
    await workers.close()
    await rm(dir, { recursive: true, force: true })
  })

  const modes: Array<[string, boolean, boolean]> = [
    ['on workers, in place in the read buffers', true, false],
    ['hashed here first (a changed file)', true, true],
    ['without workers', false, false],
  ]
  for (const [how, withWorkers, mostlyKnown] of modes) {
    it(`cuts files into restic's chunks, ${how}`, async () => {
      const saver = new FileSaver(TEST_POLYNOMIAL, withWorkers ? workers : undefined)
      const { sink, stored, counts } = recordingSink(3)
      // All at once, as the archiver does: large files take turns, small ones go in between.
      const results = await Promise.all(Object.entries(files).map(([name, data]) => saver.save(join(dir, name), data.length, sink, undefined, mostlyKnown)))
      Object.values(files).forEach((data, i) => {
        const content = expectedContent(data)
        assert.deepEqual(results[i].content, content)
        assert.equal(results[i].size, data.length)
        for (const id of content) assert.ok(stored.has(id))
      })
      const { encoded, released } = counts()
      if (withWorkers && !mostlyKnown) assert.equal(released, encoded, 'every blob from a worker was given back')
      if (!withWorkers) assert.equal(encoded, 0)
    })
  }

  it('encodes only the new chunks of a changed file, hashing the known ones on a worker', async () => {
    const saver = new FileSaver(TEST_POLYNOMIAL, workers)
    const { sink, stored, counts } = recordingSink(3)
    const old = seededBytes(11, 40 * MiB)
    await writeFile(join(dir, 'changing'), old)
    const first = await saver.save(join(dir, 'changing'), old.length, sink)
    const before = counts().encoded
    assert.equal(before, first.content.length)
    // 1 MiB overwritten in the middle: only the chunks around it are new.
    const changed = Buffer.from(old)
    seededBytes(12, MiB).copy(changed, 20 * MiB)
    await writeFile(join(dir, 'changing'), changed)
    const second = await saver.save(join(dir, 'changing'), changed.length, sink, undefined, true)
    const expected = expectedContent(changed)
    assert.deepEqual(second.content, expected)
    const fresh = expected.filter((id) => !first.content.includes(id))
    assert.ok(fresh.length > 0 && fresh.length < 6, `a few new chunks, got ${fresh.length}`)
    assert.equal(counts().encoded - before, fresh.length, 'known chunks were not encoded again')
    assert.equal(second.added, fresh.reduce((n, id) => n + stored.get(id)!, 0))
    assert.equal(counts().released, counts().encoded)
  })

  it('reads a file that grew past one chunk since it was listed as a large file', async () => {
    const saver = new FileSaver(TEST_POLYNOMIAL, workers)
    const data = seededBytes(9, 3 * MiB)
    await writeFile(join(dir, 'grown'), data)
    const { sink } = recordingSink(3)
    // Listed at MIN_SIZE (one chunk, read by a worker), it now holds 3 MiB: chunked here after all.
    const saved = await saver.save(join(dir, 'grown'), MIN_SIZE, sink)
    assert.deepEqual(saved.content, expectedContent(data))
    assert.equal(saved.size, data.length)
  })
})
