import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
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
import { contentMarkText } from './read-check.js'

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
      const results = await Promise.all(Object.entries(files).map(([name, data]) => saver.save(join(dir, name), data.length, sink, undefined, mostlyKnown ? {} : undefined)))
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
    const second = await saver.save(join(dir, 'changing'), changed.length, sink, undefined, {})
    const expected = expectedContent(changed)
    assert.deepEqual(second.content, expected)
    const fresh = expected.filter((id) => !first.content.includes(id))
    assert.ok(fresh.length > 0 && fresh.length < 6, `a few new chunks, got ${fresh.length}`)
    assert.equal(counts().encoded - before, fresh.length, 'known chunks were not encoded again')
    assert.equal(second.added, fresh.reduce((n, id) => n + stored.get(id)!, 0))
    assert.equal(counts().released, counts().encoded)
  })

  it('reads a small file whose earlier version the repository has without encoding it again when only its times changed', async () => {
    const saver = new FileSaver(TEST_POLYNOMIAL, workers)
    const { sink, counts } = recordingSink(3)
    const path = join(dir, 'touched')
    await writeFile(path, 'same bytes, new mtime')
    const first = await saver.save(path, 21, sink)
    assert.equal(counts().encoded, 1)
    const [only] = first.content
    // Same content: hashed on the worker and found to be the earlier version, not encoded.
    const { readEnd, ...again } = await saver.save(path, 21, sink, undefined, { only })
    assert.deepEqual(again, { content: [only], size: 21, added: 0 })
    assert.equal(readEnd, contentMarkText(await stat(path, { bigint: true })), "the file's state as the worker's read ended")
    assert.equal(counts().encoded, 1)
    // Changed content: encoded as before.
    await writeFile(path, 'other bytes, new mtime')
    const changed = await saver.save(path, 22, sink, undefined, { only })
    assert.deepEqual(changed.content, [hashId(Buffer.from('other bytes, new mtime'))])
    assert.equal(changed.added, 22)
    assert.equal(counts().encoded, 2)
    // An earlier version the repository lacks is not trusted: the file is encoded.
    const fresh = recordingSink(3)
    await saver.save(path, 22, fresh.sink, undefined, { only: changed.content[0] })
    assert.equal(fresh.counts().encoded, 1)
    assert.equal(fresh.counts().released, 1)
  })

  /** Saves `old`, then `changed` (a later version of the same file) against old's chunks; both must give restic's chunks. */
  async function saveTwice(name: string, old: Buffer, changed: Buffer, earlierChunks?: (first: Id[]) => Array<{ id: Id; size: number }>) {
    const saver = new FileSaver(TEST_POLYNOMIAL, workers)
    const { sink, counts } = recordingSink(3)
    await writeFile(join(dir, name), old)
    const first = await saver.save(join(dir, name), old.length, sink)
    assert.deepEqual(first.content, expectedContent(old))
    const sizes = new Map(first.content.map((id, i) => [id, chunkSizes(old)[i]]))
    const chunks = earlierChunks ? earlierChunks(first.content) : first.content.slice(0, -1).map((id) => ({ id, size: sizes.get(id)! }))
    await writeFile(join(dir, name), changed)
    const encodedBefore = counts().encoded
    const second = await saver.save(join(dir, name), changed.length, sink, undefined, { chunks })
    assert.deepEqual(second.content, expectedContent(changed), 'the same chunks as chunking the whole file')
    assert.equal(second.size, changed.length)
    return { first, second, encoded: counts().encoded - encodedBefore }
  }

  function chunkSizes(data: Buffer): number[] {
    return [...chunkBuffer(TEST_POLYNOMIAL, data)].map((c) => c.length)
  }

  it('follows the earlier chunks of a file changed in place, chunking only around the changes', async () => {
    const old = seededBytes(21, 48 * MiB + 5)
    const changed = Buffer.from(old)
    for (const at of [3 * MiB + 17, 20 * MiB, 41 * MiB + 999]) seededBytes(at, 4096).copy(changed, at)
    const { second, encoded } = await saveTwice('in-place', old, changed)
    assert.ok(second.followed! > 30 * MiB, `followed ${second.followed} bytes`)
    assert.ok(encoded > 0 && encoded <= 9, `only chunks around the three changes are new (${encoded})`)
  })

  it('follows the earlier chunks of a file that grew at its end, and of one cut short', async () => {
    const old = seededBytes(22, 30 * MiB + 123)
    const grown = await saveTwice('grown-log', old, Buffer.concat([old, seededBytes(23, 5 * MiB)]))
    assert.ok(grown.second.followed! >= 30 * MiB + 123 - MAX_SIZE - 1, `followed ${grown.second.followed} bytes`)
    const cut = await saveTwice('cut-short', old, old.subarray(0, 17 * MiB))
    assert.ok(cut.second.followed! > 0)
  })

  it('finds the chunks of a file with bytes inserted or removed, where no earlier chunk lines up', async () => {
    const old = seededBytes(24, 26 * MiB)
    await saveTwice('inserted', old, Buffer.concat([old.subarray(0, 9 * MiB), seededBytes(25, 777), old.subarray(9 * MiB)]))
    await saveTwice('removed', old, Buffer.concat([old.subarray(0, 9 * MiB), old.subarray(9 * MiB + 4321)]))
    await saveTwice('prepended', old, Buffer.concat([Buffer.from('new first line\n'), old]))
    await saveTwice('zeros', Buffer.alloc(3 * MAX_SIZE + 5), Buffer.concat([Buffer.alloc(3 * MAX_SIZE + 5), Buffer.from('tail')]))
  })

  it('does not follow chunks another chunker made: same bytes, other boundaries', async () => {
    const old = seededBytes(26, 20 * MiB)
    // 1 MiB pieces, as a tool with other chunking would have stored the same file.
    const { second } = await saveTwice('foreign', old, old, () =>
      Array.from({ length: 19 }, (_, i) => ({ id: hashId(old.subarray(i * MiB, (i + 1) * MiB)), size: MiB })),
    )
    assert.equal(second.followed, 0)
    // A first piece of exactly MaxSize: only scanning it could show it holds no cut.
    const max = await saveTwice('foreign-max', old, old, () => [{ id: hashId(old.subarray(0, MAX_SIZE)), size: MAX_SIZE }])
    assert.equal(max.second.followed, 0)
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
  for (const withWorkers of [true, false]) {
    it(`reads a small file to its end when it holds more than its stat said, ${withWorkers ? 'on a worker' : 'without workers'}`, async () => {
      const saver = new FileSaver(TEST_POLYNOMIAL, withWorkers ? workers : undefined)
      const { sink } = recordingSink(3)
      // A file that grew since it was listed: it was stored cut to the listed size plus one byte.
      const data = seededBytes(10, 5000)
      await writeFile(join(dir, 'grew-small'), data)
      const saved = await saver.save(join(dir, 'grew-small'), 100, sink)
      assert.deepEqual(saved.content, expectedContent(data))
      assert.equal(saved.size, data.length)
      // A file whose stat does not tell its size: /proc/version says 0 bytes.
      if (process.platform === 'linux') {
        const proc = await saver.save('/proc/version', Number((await stat('/proc/version')).size), sink)
        const text = await readFile('/proc/version')
        assert.ok(text.length > 1)
        assert.deepEqual(proc.content, expectedContent(text))
        assert.equal(proc.size, text.length)
      }
    })
  }
})
