import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hashId, isAppError } from '../base/index.js'
import { newMasterKey } from '../crypto/index.js'
import { decodeSealedBlob, decodeSealedBlobInPieces, Scratch, verifySealedBlob } from './blob-decoder.js'
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

describe('verifySealedBlob()', () => {
  for (const [what, data] of CASES) {
    it(`accepts a good blob ${what}, and names a damaged one or one whose plaintext is not its ID`, () => {
      const { piece, sealed, uncompressedLength } = pieceWith(data)
      const blob = { type: 'data' as const, id: hashId(data), uncompressedLength }
      const before = Buffer.from(piece)
      verifySealedBlob(key, blob, sealed, 'p', new Scratch())
      assert.deepEqual(piece, before, 'verifying by copy leaves the sealed bytes as they were')
      verifySealedBlob(key, blob, Buffer.from(sealed), 'p', new Scratch(), 'in-place')

      const other = { ...blob, id: hashId(Buffer.from('something else')) }
      assert.throws(
        () => verifySealedBlob(key, other, sealed, 'pack2', new Scratch()),
        (err: unknown) => isAppError(err) && err.code === 'INVALID_DATA' && err.message.includes(other.id) && err.message.includes('does not match its ID'),
      )
      const damaged = Buffer.from(sealed)
      damaged[damaged.length >> 1] ^= 1
      assert.throws(
        () => verifySealedBlob(key, blob, damaged, 'pack3', new Scratch()),
        (err: unknown) => isAppError(err) && err.code === 'INVALID_DATA' && err.message.includes('MAC') && err.message.includes('pack3'),
      )
      assert.throws(() => verifySealedBlob(key, blob, sealed.subarray(0, 20), 'p', new Scratch()), (err: unknown) => isAppError(err) && err.code === 'INVALID_DATA')
    })
  }
})

describe('decodeSealedBlobInPieces()', () => {
  const data = Buffer.from(Array.from({ length: 60_000 }, (_, i) => `line ${i}\n`).join(''))

  function decodeAll(sealed: Buffer, id: string, uncompressedLength: number, partSize: number): Array<[number, Buffer]> {
    const parts: Array<[number, Buffer]> = []
    decodeSealedBlobInPieces(key, { type: 'data', id, uncompressedLength }, sealed, 'pack1', Buffer.alloc(partSize), (bytes, offset) => {
      assert.ok(bytes.length <= partSize)
      parts.push([offset, Buffer.from(bytes)])
    })
    return parts
  }

  it('gives the plaintext in parts at their offsets', () => {
    const { sealed, uncompressedLength } = pieceWith(data)
    const parts = decodeAll(sealed, hashId(data), uncompressedLength, 64 * 1024)
    assert.ok(parts.length > 3, `${parts.length} parts`)
    let at = 0
    for (const [offset, bytes] of parts) {
      assert.equal(offset, at)
      at += bytes.length
    }
    assert.deepEqual(Buffer.concat(parts.map((p) => p[1])), data)
  })

  it('throws INVALID_DATA after the last part when the plaintext does not match the ID', () => {
    const { sealed, uncompressedLength } = pieceWith(data)
    const parts: Buffer[] = []
    assert.throws(
      () => decodeSealedBlobInPieces(key, { type: 'data', id: hashId(Buffer.from('other')), uncompressedLength }, sealed, 'pack1', Buffer.alloc(64 * 1024), (b) => parts.push(Buffer.from(b))),
      (err: unknown) => isAppError(err) && err.code === 'INVALID_DATA' && /does not match its ID/.test(err.message),
    )
    assert.deepEqual(Buffer.concat(parts), data, 'every part was given before the check')
  })

  it('gives no part when the MAC does not match, and refuses a wrong length', () => {
    const { sealed, uncompressedLength } = pieceWith(data)
    const damaged = Buffer.from(sealed)
    damaged[50] ^= 1
    let calls = 0
    const count = () => void calls++
    assert.throws(
      () => decodeSealedBlobInPieces(key, { type: 'data', id: hashId(data), uncompressedLength }, damaged, 'pack1', Buffer.alloc(1024), count),
      (err: unknown) => isAppError(err) && err.code === 'INVALID_DATA' && err.message.includes('pack1'),
    )
    assert.equal(calls, 0)
    for (const wrong of [uncompressedLength - 1, uncompressedLength + 1]) {
      const { sealed: again } = pieceWith(data)
      assert.throws(
        () => decodeSealedBlobInPieces(key, { type: 'data', id: hashId(data), uncompressedLength: wrong }, again, 'pack1', Buffer.alloc(64 * 1024), () => {}),
        (err: unknown) => isAppError(err) && err.code === 'INVALID_DATA' && /damaged/.test(err.message),
        `expected length ${wrong}`,
      )
    }
  })
})
