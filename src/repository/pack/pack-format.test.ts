import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hashId, isAppError } from '../../base/index.js'
import type { PackedBlob } from '../blob.js'
import { ENTRY_SIZE_COMPRESSED, ENTRY_SIZE_PLAIN, encodeHeader, entrySize, packSize, parseHeader } from './pack-format.js'

const id = (n: number) => hashId(Buffer.from(`blob ${n}`))

/** Four blobs covering every type byte (0 to 3), laid out back to back. */
const BLOBS: PackedBlob[] = [
  { type: 'data', id: id(0), offset: 0, length: 100, uncompressedLength: 0 },
  { type: 'tree', id: id(1), offset: 100, length: 53, uncompressedLength: 0 },
  { type: 'data', id: id(2), offset: 153, length: 100044, uncompressedLength: 100000 },
  { type: 'tree', id: id(3), offset: 100197, length: 247, uncompressedLength: 351 },
]

describe('pack header', () => {
  it('entrySize() is 37 for uncompressed and 41 for compressed blobs', () => {
    assert.equal(ENTRY_SIZE_PLAIN, 37)
    assert.equal(ENTRY_SIZE_COMPRESSED, 41)
    assert.equal(entrySize({ uncompressedLength: 0 }), 37)
    assert.equal(entrySize({ uncompressedLength: 12 }), 41)
  })

  it('encodeHeader() writes type byte, lengths and ID per entry', () => {
    const h = encodeHeader(BLOBS)
    assert.equal(h.length, 2 * 37 + 2 * 41)
    assert.deepEqual([h[0], h[37], h[74], h[115]], [0, 1, 2, 3])
    assert.equal(h.readUInt32LE(1), 100)
    assert.equal(h.subarray(5, 37).toString('hex'), id(0))
    // compressed entry: type, encLen, plainLen, id
    assert.equal(h.readUInt32LE(75), 100044)
    assert.equal(h.readUInt32LE(79), 100000)
    assert.equal(h.subarray(83, 115).toString('hex'), id(2))
  })

  it('parseHeader() round-trips encodeHeader() with offsets as a running sum', () => {
    assert.deepEqual(parseHeader(encodeHeader(BLOBS)), BLOBS)
  })

  it('parseHeader() reads a header that is a view into a larger buffer', () => {
    const h = encodeHeader(BLOBS)
    const big = Buffer.alloc(h.length + 10, 0xee)
    h.copy(big, 7)
    assert.deepEqual(parseHeader(big.subarray(7, 7 + h.length)), BLOBS)
  })

  it('parseHeader() of an empty header is an empty list', () => {
    assert.deepEqual(parseHeader(Buffer.alloc(0)), [])
  })

  it('parseHeader() rejects a truncated header', () => {
    const h = encodeHeader(BLOBS)
    for (const cut of [1, 36, 37 + 40, h.length - 1]) {
      assert.throws(
        () => parseHeader(h.subarray(0, cut), 'p1'),
        (err) => isAppError(err, 'INVALID_DATA') && /Pack "p1".*truncated/.test(err.message),
        `cut at ${cut}`,
      )
    }
  })

  it('parseHeader() rejects an unknown type byte', () => {
    const h = encodeHeader(BLOBS)
    h[37] = 4
    assert.throws(
      () => parseHeader(h, 'p2'),
      (err) => isAppError(err, 'INVALID_DATA') && /Pack "p2".*unknown blob type 4/.test(err.message),
    )
  })

  it('packSize() is 36 plus each blob length and entry size', () => {
    assert.equal(packSize([]), 36)
    const expected = 36 + (100 + 37) + (53 + 37) + (100044 + 41) + (247 + 41)
    assert.equal(packSize(BLOBS), expected)
    // the same as blobs + sealed header (32 bytes overhead) + 4-byte length
    const last = BLOBS[BLOBS.length - 1]
    assert.equal(packSize(BLOBS), last.offset + last.length + encodeHeader(BLOBS).length + 32 + 4)
  })
})
