import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hashId, isAppError } from '../../base/index.js'
import { unframeUnpacked } from '../unpacked.js'
import { decodeIndex, decodeIndexTable, encodeIndex, IndexFileBuilder, type IndexFile, type IndexTable } from './index-file.js'

const P1 = 'c83470a77329c330ef847acf9df069dee29ba2e4ea9434f711d34327b0934221'
const B1 = '174606c0bb15c0446277ef778a283211b8b3436fb1be48ef44e54a6272bd9696'
const B2 = 'a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447'
const P2 = hashId(Buffer.from('pack 2'))
const T1 = hashId(Buffer.from('tree 1'))

/** The first index of a fresh restic 0.14 backup (format notes §6.1), with the elided IDs filled in. */
const RESTIC_SAMPLE =
  `{"packs":[{"id":"${P1}","blobs":[` +
  `{"id":"${B1}","type":"data","offset":53,"length":100044,"uncompressed_length":100000},` +
  `{"id":"${B2}","type":"data","offset":0,"length":53,"uncompressed_length":12}]},` +
  `{"id":"${P2}","blobs":[{"id":"${T1}","type":"tree","offset":1427,"length":247,"uncompressed_length":351}]}]}\n`

describe('index file', () => {
  it('encodeIndex() writes restic JSON: no supersedes when empty, uncompressed_length only when set, trailing newline', () => {
    const file: IndexFile = {
      supersedes: [],
      packs: [
        {
          id: P1,
          blobs: [
            { type: 'data', id: B1, offset: 0, length: 100, uncompressedLength: 0 },
            { type: 'data', id: B2, offset: 100, length: 53, uncompressedLength: 12 },
          ],
        },
      ],
    }
    assert.equal(
      encodeIndex(file).toString(),
      `{"packs":[{"id":"${P1}","blobs":[` +
        `{"id":"${B1}","type":"data","offset":0,"length":100},` +
        `{"id":"${B2}","type":"data","offset":100,"length":53,"uncompressed_length":12}]}]}\n`,
    )
  })

  it('encodeIndex() writes supersedes first when present', () => {
    const text = encodeIndex({ supersedes: [P1, P2], packs: [] }).toString()
    assert.equal(text, `{"supersedes":["${P1}","${P2}"],"packs":[]}\n`)
  })

  it('encodeIndex() output is what JSON.stringify would give for the same document', () => {
    const file: IndexFile = {
      supersedes: [P2],
      packs: [
        { id: P1, blobs: [{ type: 'tree', id: T1, offset: 0, length: 247, uncompressedLength: 351 }] },
        { id: P2, blobs: [] },
      ],
    }
    const doc = {
      supersedes: [P2],
      packs: [
        { id: P1, blobs: [{ id: T1, type: 'tree', offset: 0, length: 247, uncompressed_length: 351 }] },
        { id: P2, blobs: [] },
      ],
    }
    assert.equal(encodeIndex(file).toString(), JSON.stringify(doc) + '\n')
  })

  it('IndexFileBuilder gives encodeIndex() bytes, framed for the version (compressed as it goes in v2)', () => {
    // Enough packs that the v2 frame spans several of the compressor's output pieces.
    const packs = Array.from({ length: 400 }, (_, i) => ({
      id: hashId(Buffer.from(`pack ${i}`)),
      blobs: Array.from({ length: 20 }, (_, j) => ({
        type: (j % 5 === 0 ? 'tree' : 'data') as 'tree' | 'data',
        id: hashId(Buffer.from(`blob ${i} ${j}`)),
        offset: j * 1000,
        length: 1000,
        uncompressedLength: j % 3 === 0 ? 0 : 2000 + i,
      })),
    }))
    for (const supersedes of [[], [P1, P2]]) {
      const expected = encodeIndex({ supersedes, packs })
      const v2 = new IndexFileBuilder(2, supersedes)
      const v1 = new IndexFileBuilder(1, supersedes)
      for (const p of packs) {
        v2.add(p)
        v1.add(p)
      }
      assert.equal(v2.packCount, 400)
      assert.equal(v2.blobCount, 8000)
      const framed = v2.finish().plaintext
      assert.equal(framed[0], 2, 'encoding byte 2: a zstd frame follows')
      assert.ok(framed.length < expected.length / 3, `compressed: ${framed.length} of ${expected.length} bytes`)
      assert.deepEqual(unframeUnpacked(framed, 2, 'index'), expected)
      assert.deepEqual(v1.finish().plaintext, expected, 'v1: the JSON itself')
    }
    assert.deepEqual(unframeUnpacked(new IndexFileBuilder(2).finish().plaintext, 2, 'index').toString(), '{"packs":[]}\n')
  })

  it('decodeIndex() reads restic 0.14 output', () => {
    const file = decodeIndex(Buffer.from(RESTIC_SAMPLE))
    assert.deepEqual(file, {
      supersedes: [],
      packs: [
        {
          id: P1,
          blobs: [
            { type: 'data', id: B1, offset: 53, length: 100044, uncompressedLength: 100000 },
            { type: 'data', id: B2, offset: 0, length: 53, uncompressedLength: 12 },
          ],
        },
        { id: P2, blobs: [{ type: 'tree', id: T1, offset: 1427, length: 247, uncompressedLength: 351 }] },
      ],
    })
  })

  it('decodeIndex() round-trips encodeIndex()', () => {
    const file = decodeIndex(Buffer.from(RESTIC_SAMPLE))
    file.supersedes = [P2]
    assert.deepEqual(decodeIndex(encodeIndex(file)), file)
  })

  it('decodeIndex() reads the old format, a bare array of packs', () => {
    const old = `[{"id":"${P1}","blobs":[{"id":"${B1}","type":"data","offset":0,"length":44}]}]`
    assert.deepEqual(decodeIndex(Buffer.from(old)), {
      supersedes: [],
      packs: [{ id: P1, blobs: [{ type: 'data', id: B1, offset: 0, length: 44, uncompressedLength: 0 }] }],
    })
  })

  it('decodeIndex() reads a view into a larger buffer', () => {
    const big = Buffer.from('xxxx' + RESTIC_SAMPLE + 'yyyy')
    assert.equal(decodeIndex(big.subarray(4, big.length - 4)).packs.length, 2)
  })

  it('decodeIndex() rejects a blob type other than data or tree', () => {
    const bad = RESTIC_SAMPLE.replace('"type":"tree"', '"type":"snapshot"')
    assert.throws(
      () => decodeIndex(Buffer.from(bad), 'idx1'),
      (err) => isAppError(err, 'INVALID_DATA') && /Index "idx1" is malformed: blob type "snapshot"/.test(err.message),
    )
  })

  it('decodeIndex() rejects invalid JSON, bad IDs and negative sizes', () => {
    const cases = [
      '{"packs":[',
      '"just a string"',
      '{"packs":{}}',
      `{"packs":[{"id":"xyz","blobs":[]}]}`,
      `{"packs":[{"id":"${P1}","blobs":[{"id":"nope","type":"data","offset":0,"length":1}]}]}`,
      `{"packs":[{"id":"${P1}","blobs":[{"id":"${B1}","type":"data","offset":-1,"length":1}]}]}`,
    ]
    for (const text of cases) {
      assert.throws(() => decodeIndex(Buffer.from(text)), (err) => isAppError(err, 'INVALID_DATA'), text)
    }
  })

  describe('decodeIndexTable()', () => {
    /** The table as a file, to compare with decodeIndex: packs in order, each with its blobs. */
    function fileOf(t: IndexTable): IndexFile {
      const packs = t.packIds.map((id) => ({ id, blobs: [] as IndexFile['packs'][number]['blobs'] }))
      const ids = Buffer.from(t.ids.buffer, t.ids.byteOffset, t.ids.byteLength)
      for (let i = 0; i < t.count; i++) {
        packs[t.pack[i]].blobs.push({
          type: t.type[i] === 1 ? 'tree' : 'data',
          id: ids.toString('hex', i * 32, i * 32 + 32),
          offset: t.offset[i],
          length: t.length[i],
          uncompressedLength: t.uncompressedLength[i],
        })
      }
      return { supersedes: t.supersedes, packs }
    }

    it('reads what decodeIndex reads: restic 0.14 output, supersedes, empty packs, a pack listed twice, 4 GiB - 1 sizes', () => {
      const many = decodeIndex(Buffer.from(RESTIC_SAMPLE))
      many.supersedes = [P2, T1]
      many.packs.push({ id: P1, blobs: [] }, { id: P1, blobs: [{ type: 'tree', id: B2, offset: 4294967295, length: 4294967295, uncompressedLength: 1 }] })
      for (const file of [decodeIndex(Buffer.from(RESTIC_SAMPLE)), many, { supersedes: [], packs: [] }]) {
        const bytes = encodeIndex(file)
        assert.deepEqual(fileOf(decodeIndexTable(bytes)), decodeIndex(bytes))
      }
      const big = Buffer.from('xxxx' + RESTIC_SAMPLE + 'yyyy')
      assert.deepEqual(fileOf(decodeIndexTable(big.subarray(4, big.length - 4))), decodeIndex(Buffer.from(RESTIC_SAMPLE)))
    })

    it('reads restic 0.14 output and what encodeIndex writes without JSON.parse', () => {
      const file = decodeIndex(Buffer.from(RESTIC_SAMPLE))
      file.supersedes = [P2]
      const inputs = [Buffer.from(RESTIC_SAMPLE), encodeIndex(file)]
      const parse = JSON.parse
      JSON.parse = () => {
        throw new Error('JSON.parse was used')
      }
      try {
        for (const bytes of inputs) assert.equal(decodeIndexTable(bytes).count, 3)
      } finally {
        JSON.parse = parse
      }
    })

    it('reads other valid forms through JSON: whitespace, another key order, the old bare array, sizes past 32 bits', () => {
      const spaced = JSON.stringify(JSON.parse(RESTIC_SAMPLE), null, 2)
      const reordered = RESTIC_SAMPLE.replace(`{"id":"${T1}","type":"tree"`, `{"type":"tree","id":"${T1}"`)
      const old = `[{"id":"${P1}","blobs":[{"id":"${B1}","type":"data","offset":0,"length":44}]}]`
      const upper = RESTIC_SAMPLE.replace('"offset":53', '"offset":1e2')
      for (const text of [spaced, reordered, old, upper]) {
        assert.deepEqual(fileOf(decodeIndexTable(Buffer.from(text))), decodeIndex(Buffer.from(text)), text)
      }
    })

    it('rejects what decodeIndex rejects, with the same error', () => {
      const cases = [
        '{"packs":[',
        `{"packs":[{"id":"${P1}","blobs":[{"id":"${B1}","type":"data","offset":0,"length":1}`,
        `{"packs":[{"id":"${P1.toUpperCase()}","blobs":[]}]}`,
        `{"packs":[{"id":"${P1}","blobs":[{"id":"${B1}","type":"data","offset":-1,"length":1}]}]}`,
        RESTIC_SAMPLE.replace('"type":"tree"', '"type":"snapshot"'),
        RESTIC_SAMPLE + 'x',
      ]
      for (const text of cases) {
        const fromJson = (() => {
          try {
            decodeIndex(Buffer.from(text), 'idx9')
          } catch (err) {
            return err as Error
          }
          assert.fail(`decodeIndex accepted ${text}`)
        })()
        assert.throws(() => decodeIndexTable(Buffer.from(text), 'idx9'), (err) => isAppError(err, 'INVALID_DATA') && (err as Error).message === fromJson.message, text)
      }
    })
  })
})
