import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hashId } from '../../base/index.js'
import { newMasterKey, open, seal } from '../../crypto/index.js'
import { seededBytes } from '../testing.js'
import { packSize, parseHeader } from './pack-format.js'
import { Packer } from './packer.js'

const key = newMasterKey()

/** Sealed blobs of the given plaintext sizes, with their IDs. */
function blobs(sizes: number[]) {
  return sizes.map((n, i) => {
    const plain = seededBytes(i + 1, n)
    return { id: hashId(plain), plain, sealed: seal(key, plain) }
  })
}

/** Checks a finished pack the way a reader would: name, trailer, header, every blob. */
function checkPack(pack: ReturnType<Packer['finish']>, expected: ReturnType<typeof blobs>) {
  assert.equal(pack.id, hashId(pack.bytes), 'the pack is named by the SHA-256 of its bytes')
  const headerLen = pack.bytes.readUInt32LE(pack.bytes.length - 4)
  const header = parseHeader(open(key, pack.bytes.subarray(pack.bytes.length - 4 - headerLen, pack.bytes.length - 4)))
  assert.deepEqual(header, pack.blobs)
  assert.equal(packSize(header), pack.bytes.length)
  header.forEach((b, i) => {
    assert.equal(b.id, expected[i].id)
    assert.deepEqual(open(key, pack.bytes.subarray(b.offset, b.offset + b.length)), expected[i].plain)
  })
}

describe('Packer', () => {
  it('assembles blobs, header and trailer in the buffer it is given, hashing as it goes', () => {
    const buffer = Buffer.alloc(1 << 20)
    const packer = new Packer('data', buffer)
    const bs = blobs([1000, 70_000, 5])
    for (const b of bs) packer.add(b.id, b.sealed, 0)
    assert.equal(packer.count, 3)
    assert.equal(packer.size, 1000 + 70_000 + 5 + 3 * 32)
    const pack = packer.finish(key)
    assert.equal(pack.buffer, buffer, 'no copy: the pack is a view of the given buffer')
    assert.equal(pack.bytes.buffer, buffer.buffer)
    checkPack(pack, bs)
  })

  it('grows past a buffer that is too small, keeping what was added', () => {
    const buffer = Buffer.alloc(4096)
    const packer = new Packer('tree', buffer)
    const bs = blobs([3000, 200_000, 100])
    for (const b of bs) packer.add(b.id, b.sealed, 0)
    const pack = packer.finish(key)
    assert.notEqual(pack.buffer, buffer)
    assert.ok(pack.buffer.length >= pack.bytes.length)
    checkPack(pack, bs)
  })

  it('writes over what a reused buffer held before', () => {
    const buffer = Buffer.alloc(1 << 20, 0xee)
    const first = new Packer('data', buffer)
    const a = blobs([50_000])
    first.add(a[0].id, a[0].sealed, 0)
    const p1 = first.finish(key)
    checkPack(p1, a)
    const second = new Packer('data', p1.buffer)
    const b = blobs([10, 20])
    for (const x of b) second.add(x.id, x.sealed, 0)
    checkPack(second.finish(key), b)
  })
})
