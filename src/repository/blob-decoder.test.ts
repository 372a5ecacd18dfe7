import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hashId, isAppError } from '../base/index.js'
import { newMasterKey } from '../crypto/index.js'
import { decodeSealedBlob, Scratch } from './blob-decoder.js'
import { encodeBlob } from './blob-encoder.js'
import { seededBytes } from './testing.js'

const key = newMasterKey()

const CASES: Array<[string, Buffer]> = [
  ['compressed', Buffer.from('a line of text that repeats\n'.repeat(40_000))],
  ['stored uncompressed', seededBytes(7, 300_000)],
]

/** A piece of a pack: the sealed blob between other bytes. */
function pieceWith(data: Buffer): { piece: Buffer; sealed: Buffer; uncompressedLength: number } {
  const enc = encodeBlob(key, 'data', data, 3)
  const piece = Buffer.concat([seededBytes(1, 11), enc.sealed, seededBytes(2, 13)])
  return { piece, sealed: piece.subarray(11, 11 + enc.sealed.length), uncompressedLength: enc.uncompressedLength }
}

describe('decodeSealedBlob()', () => {
  for (const [what, data] of CASES) {
    it(`decodes a blob ${what} in place as it does into scratch buffers, touching nothing around it`, () => {
      const { piece, sealed, uncompressedLength } = pieceWith(data)
      const blob = { type: 'data' as const, id: hashId(data), uncompressedLength }
      const copy = Buffer.from(piece)
      const copied = decodeSealedBlob(key, blob, copy.subarray(11, 11 + sealed.length), 'p', new Scratch())
      assert.deepEqual(copied, data)
      assert.deepEqual(copy, piece, 'decoding by copy leaves the sealed bytes as they were')

      const before = Buffer.from(piece)
      const inPlace = decodeSealedBlob(key, blob, sealed, 'p', new Scratch(), 'in-place')
      assert.deepEqual(inPlace, data)
      assert.deepEqual(piece.subarray(0, 11), before.subarray(0, 11), 'bytes before the blob untouched')
      assert.deepEqual(piece.subarray(11 + sealed.length), before.subarray(11 + sealed.length), 'bytes after the blob untouched')
      assert.notDeepEqual(sealed, before.subarray(11, 11 + sealed.length), 'the ciphertext was decrypted where it lay')
      if (uncompressedLength === 0) assert.equal(inPlace.buffer, piece.buffer, 'an uncompressed blob is a view of the piece itself')
    })
  }

  it('decodes nothing in place when the MAC does not match, and says which blob is damaged', () => {
    const data = CASES[0][1]
    const { sealed, uncompressedLength } = pieceWith(data)
    sealed[100] ^= 1
    const before = Buffer.from(sealed)
    assert.throws(
      () => decodeSealedBlob(key, { type: 'data', id: hashId(data), uncompressedLength }, sealed, 'pack1', new Scratch(), 'in-place'),
      (err: unknown) => isAppError(err) && err.code === 'INVALID_DATA' && err.message.includes(hashId(data)) && err.message.includes('pack1'),
    )
    assert.deepEqual(sealed, before, 'a blob that fails its MAC is left as it was')
  })
})
