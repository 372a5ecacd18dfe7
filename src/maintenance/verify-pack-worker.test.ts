import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { hashId, WorkerPool } from '../base/index.js'
import { masterKeyToJSON, newMasterKey } from '../crypto/index.js'
import { encodeBlob } from '../repository/blob-encoder.js'
import { seededBytes } from '../repository/testing.js'
import type { VerifyRequest, VerifyResult } from './verify-pack-worker.js'

describe('verify-pack worker', () => {
  const key = newMasterKey()
  let pool: WorkerPool
  before(() => {
    pool = new WorkerPool(new URL('./verify-pack-worker.js', import.meta.url), 1, { key: masterKeyToJSON(key) })
  })
  after(() => pool.close())

  /** Two blobs (one compressed, one not) sealed one after the other in shared memory. */
  function part(): { bytes: Buffer; blobs: VerifyRequest['blobs'] } {
    const texts = [Buffer.alloc(300_000, 'cairn '), seededBytes(5, 200_000)]
    const sealed = texts.map((t) => ({ id: hashId(t), ...encodeBlob(key, 'data', t, 3) }))
    assert.ok(sealed[0].uncompressedLength > 0 && sealed[1].uncompressedLength === 0, 'one compressed blob, one stored as it is')
    const bytes = Buffer.from(new SharedArrayBuffer(sealed.reduce((n, s) => n + s.sealed.length, 0)))
    let at = 0
    const blobs = sealed.map((s) => {
      const b = { id: s.id, offset: at, length: s.sealed.length, uncompressedLength: s.uncompressedLength }
      at += s.sealed.copy(bytes, at)
      return b
    })
    return { bytes, blobs }
  }

  it('verifies the blobs of a part without touching its bytes, or in place when told the caller is done with them', async () => {
    const { bytes, blobs } = part()
    const before = Buffer.from(bytes)
    const copied = await pool.call<VerifyResult>({ bytes, blobs, hash: true } satisfies VerifyRequest, bytes.length)
    assert.deepEqual(copied, { hash: hashId(before), damaged: [] })
    assert.ok(bytes.equals(before), 'the bytes are as they were')

    const inPlace = await pool.call<VerifyResult>({ bytes, blobs, hash: false, inPlace: true } satisfies VerifyRequest, bytes.length)
    assert.deepEqual(inPlace, { damaged: [] })
    assert.ok(!bytes.equals(before), 'the blobs were decrypted where they lay')
  })

  it('names a damaged blob in place as it does otherwise', async () => {
    const { bytes, blobs } = part()
    bytes[blobs[1].offset + 40] ^= 0x01
    const copy = Buffer.from(new SharedArrayBuffer(bytes.length))
    bytes.copy(copy)
    assert.deepEqual(await pool.call<VerifyResult>({ bytes: copy, blobs, hash: false } satisfies VerifyRequest, bytes.length), { damaged: [1] })
    assert.deepEqual(await pool.call<VerifyResult>({ bytes, blobs, hash: false, inPlace: true } satisfies VerifyRequest, bytes.length), { damaged: [1] })
  })
})
