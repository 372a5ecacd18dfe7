// The chunk boundaries restic 0.14 produced for known inputs (format notes §5.5).
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { chunkBuffer, createChunker, createJsChunker, type Chunker } from './chunker.js'
import { chunkInBlocks, counterStream, TEST_POLYNOMIAL as P, type ChunkInfo } from './testing.js'

const MiB = 1024 * 1024
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

const ENGINES: Array<[string, (pol: bigint) => Chunker]> = [
  ['wasm', createChunker],
  ['js', createJsChunker],
]

function summary(data: Uint8Array, chunks: ChunkInfo[]) {
  return chunks.map((c) => ({
    length: c.length,
    cut: '0x' + c.cut.toString(16),
    id: sha256(data.subarray(c.offset, c.offset + c.length)),
  }))
}

const COUNTER_CHUNKS = [
  [2730814, '0xeb39e98200000', '29c4ffa976ff64abf7e6bd7e6559f9f31477a4e5194bcb88f61531127af39778'],
  [1145440, '0x9d835fac00000', '0d2e65792ac8e4ce89d3e70b981e886b6cb50fd51a8b41a3c5c5d633b038b337'],
  [809341, '0x6343442c00000', '1ebafc153e41907df983fcb1e53cab33a25179e40f6e5126723a91e7d0adffc3'],
  [1121614, '0xc2e5fb0400000', 'b212af54f08e69060f0456cd0da9831e73db5f469a80f37c3e2891ce3fe6d0a5'],
  [1508301, '0x1d4e5656e00000', 'f70e449e5ca25140205e756c482276d99737ff3807f448fdb68dc78b11b800f8'],
  [1440235, '0xfe59270a00000', '8198d263281fd07d5ddd2432126c2b2ec3c24fb9cd4917cb8c7259e3972cf2f7'],
  [681400, '0x1f412034f00000', '51d8e84c222eca42a6b8d4960713eaeb5abe921a803bb7ad918e431c9693a22e'],
  [3755136, '0x123f2476e00000', '76184e79128f367d9318a549d665d75eaa79d367866590c691b23b46b9948a16'],
  [1037883, '0x6866e6800000', '551bd408c04960f7120133ca1bbdcfef529cb7de452cb8627633794faefe3dd1'],
  [1489751, '0xfa89cf5600000', 'dc6148b1b18024df5ff51e6ee1308a6063524787a22ee13c81a24d810bac28d0'],
  [1057301, '0xc227500a4ead1', 'e3000efec3cdb2f946d8babf68a04b733213dfade13826709656693c21ab1b4c'],
].map(([length, cut, id]) => ({ length: length as number, cut: cut as string, id: id as string }))

let counter: Uint8Array | undefined
const counterInput = () => (counter ??= counterStream(16 * MiB))

test('the counter stream test input is the one the vectors were made from', () => {
  const data = counterInput()
  assert.equal(Buffer.from(data.subarray(0, 32)).toString('hex'), '84ccb354b23318127e6e1d4fd7db8e3da4f5595643dda8888758d84f53455fec')
  assert.equal(sha256(data), '31ff4d7b8186eb3ad7d45cea926d90f7a928f125f6cb76b7028c37c03170fc6e')
})

for (const [engine, create] of ENGINES) {
  test(`2 MiB of zeros gives four 512 KiB chunks with fingerprint 0 (${engine})`, () => {
    const data = new Uint8Array(2 * MiB)
    const id = '07854d2fef297a06ba81685e660c332de36d5d18d546927d30daad6d7fda1541'
    assert.deepEqual(
      summary(data, chunkInBlocks(P, data, 4 * MiB, { create })),
      Array(4).fill({ length: 524288, cut: '0x0', id }),
    )
  })

  test(`20 MiB of 'A' is cut at MaxSize twice, then at EOF (${engine})`, () => {
    const data = new Uint8Array(20 * MiB).fill(0x41)
    const full = { length: 8388608, cut: '0xd42cbde72d4f5', id: 'b16bd32b101132fd0102461bc75ea65442c37293ac881ae953486c8ac26a7388' }
    const last = { length: 4194304, cut: '0xd42cbde72d4f5', id: 'a58789e910e5f939afc433a00fef5930702927dc192cb237fd9e7449bd6ffe1d' }
    assert.deepEqual(summary(data, chunkInBlocks(P, data, 3 * MiB, { create })), [full, full, last])
  })

  test(`the 16 MiB counter stream gives restic's 11 chunks, fingerprints and blob IDs (${engine})`, () => {
    const data = counterInput()
    assert.deepEqual(summary(data, chunkInBlocks(P, data, 8 * MiB, { create })), COUNTER_CHUNKS)
  })

  test(`a prefix of the counter stream has the same leading boundaries, then one EOF chunk (${engine})`, () => {
    // Chunk 1 ends at 3876254, so a 3 MiB prefix holds chunk 0 and the start of chunk 1.
    const data = counterInput().subarray(0, 3 * MiB)
    const chunks = chunkInBlocks(P, data, 5 * MiB, { create })
    assert.deepEqual(
      chunks.map((c) => c.length),
      [2730814, 3 * MiB - 2730814],
    )
    assert.equal(chunks[0].cut, 0xeb39e98200000n)
  })
}

test('chunkBuffer() yields the counter stream chunks as offsets and lengths', () => {
  const data = counterInput()
  const expected: Array<{ offset: number; length: number }> = []
  let offset = 0
  for (const { length } of COUNTER_CHUNKS) {
    expected.push({ offset, length })
    offset += length
  }
  assert.deepEqual([...chunkBuffer(P, data)], expected)
})
