import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createDecipheriv, randomBytes } from 'node:crypto'
import { isAppError } from '../base/index.js'
import { CRYPTO_OVERHEAD, newMasterKey, open, openInOrder, openInto, Sealable, seal, sealInPlace, sealInto, type MasterKey } from './index.js'
import { Poly1305Aes } from './poly1305-aes.js'

const hex = (s: string) => Buffer.from(s, 'hex')
const isInvalidData = (err: unknown) => isAppError(err, 'INVALID_DATA')

// restic's AES-CTR + Poly1305-AES decrypt vector ("Dies ist ein Test!"); its r is not clamped.
const resticKey: MasterKey = {
  encrypt: hex('303e8687b1d7db18421bdc6bb8588ccadac4d59ee87b8ff70c44e635790cafef'),
  macK: hex('ef4d8824cb80b2bcc5fbff8a9b12a42c'),
  macR: hex('cc8d4b948ee0ebfe1d415de921d10353'),
}
const resticSealed = hex(
  '69fb41c62d12def4593bd71757138606338f621aeaeb39da0fe4f99233f8037a54ea63338a813bcf3f75d8c3cc75dddf8750',
)

/** Checks the restic layout with primitives independent of seal(): IV || AES-256-CTR(P) || tag. */
function assertResticLayout(key: MasterKey, sealed: Buffer, plaintext: Uint8Array): void {
  assert.equal(sealed.length, plaintext.length + 32)
  const iv = sealed.subarray(0, 16)
  const ciphertext = sealed.subarray(16, sealed.length - 16)
  const decrypted = createDecipheriv('aes-256-ctr', key.encrypt, iv).update(ciphertext)
  assert.ok(decrypted.equals(plaintext), 'ciphertext is AES-256-CTR of the plaintext under the IV')
  const tag = Buffer.alloc(16)
  new Poly1305Aes(key.macK, key.macR).tag(ciphertext, iv, tag)
  assert.ok(tag.equals(sealed.subarray(sealed.length - 16)), 'the last 16 bytes are Poly1305-AES of the ciphertext')
}

test('open() decrypts restic\'s "Dies ist ein Test!" vector', () => {
  assert.equal(open(resticKey, resticSealed).toString(), 'Dies ist ein Test!')
})

test('seal() output is opened by open() for sizes 0, 1, 15, 16, 17 and 1 MiB', () => {
  const key = newMasterKey()
  for (const size of [0, 1, 15, 16, 17, 1 << 20]) {
    const plaintext = randomBytes(size)
    const sealed = seal(key, plaintext)
    assert.equal(sealed.length, size + CRYPTO_OVERHEAD)
    assert.ok(open(key, sealed).equals(plaintext), `size ${size}`)
  }
})

test('seal() writes the restic layout, on both sides of the 128 KiB piece size', () => {
  const key = newMasterKey()
  for (const size of [0, 33, 128 * 1024, 128 * 1024 + 1, 3 * 128 * 1024 + 5]) {
    const plaintext = randomBytes(size)
    assertResticLayout(key, seal(key, plaintext), plaintext)
  }
})

test('seal() works with restic\'s unclamped-r test key', () => {
  const sealed = seal(resticKey, Buffer.from('Dies ist ein Test!'))
  assertResticLayout(resticKey, sealed, Buffer.from('Dies ist ein Test!'))
  assert.equal(open(resticKey, sealed).toString(), 'Dies ist ein Test!')
})

test('seal() uses a fresh non-zero IV every time, also across nonce batches', () => {
  const key = newMasterKey()
  const ivs = new Set<string>()
  for (let i = 0; i < 700; i++) {
    const iv = seal(key, Buffer.of(i & 0xff)).subarray(0, 16)
    assert.ok(iv.some((b) => b !== 0))
    ivs.add(iv.toString('hex'))
  }
  assert.equal(ivs.size, 700)
})

test('open() rejects a tampered IV, ciphertext or tag', () => {
  const key = newMasterKey()
  const sealed = seal(key, randomBytes(100))
  for (const pos of [0, 15, 16, 60, 115, 116, 131]) {
    const bad = Buffer.from(sealed)
    bad[pos] ^= 0x01
    assert.throws(() => open(key, bad), isInvalidData, `byte ${pos} flipped`)
  }
  assert.equal(open(key, sealed).length, 100)
})

test('open() rejects a tampered large (streamed-MAC) blob', () => {
  const key = newMasterKey()
  const sealed = seal(key, randomBytes(300 * 1024))
  sealed[16 + 200 * 1024] ^= 0x40
  assert.throws(() => open(key, sealed), isInvalidData)
})

test('open() rejects data sealed with another key', () => {
  const sealed = seal(newMasterKey(), Buffer.from('secret'))
  assert.throws(() => open(newMasterKey(), sealed), isInvalidData)
})

test('open() rejects input shorter than 32 bytes', () => {
  const key = newMasterKey()
  for (const size of [0, 1, 31]) assert.throws(() => open(key, randomBytes(size)), isInvalidData)
})

test('open() rejects an all-zero IV even when the tag matches', () => {
  const key = newMasterKey()
  const sealed = Buffer.alloc(32 + 5)
  // Build a correctly tagged blob under the zero IV by hand, so only the IV check can reject it.
  const ciphertext = sealed.subarray(16, 21)
  ciphertext.set([1, 2, 3, 4, 5])
  new Poly1305Aes(key.macK, key.macR).tag(ciphertext, sealed.subarray(0, 16), sealed.subarray(21))
  assert.throws(
    () => open(key, sealed),
    (err: unknown) => isInvalidData(err) && /IV is all zero/.test((err as Error).message),
  )
})

test('open() accepts a Uint8Array view at an offset inside a larger buffer', () => {
  const key = newMasterKey()
  const sealed = seal(key, Buffer.from('view'))
  const backing = new Uint8Array(sealed.length + 10)
  backing.set(sealed, 7)
  assert.equal(open(key, backing.subarray(7, 7 + sealed.length)).toString(), 'view')
})

test('sealInto() writes the same layout as seal() at the offset and nothing outside it', () => {
  const key = newMasterKey()
  for (const size of [0, 17, 200 * 1024]) {
    const plaintext = randomBytes(size)
    const out = Buffer.alloc(size + CRYPTO_OVERHEAD + 20, 0xaa)
    const n = sealInto(key, plaintext, out, 9)
    assert.equal(n, size + CRYPTO_OVERHEAD)
    assert.ok(out.subarray(0, 9).every((b) => b === 0xaa), 'bytes before the offset untouched')
    assert.ok(out.subarray(9 + n).every((b) => b === 0xaa), 'bytes after the sealed region untouched')
    const region = out.subarray(9, 9 + n)
    assertResticLayout(key, region, plaintext)
    assertResticLayout(key, seal(key, plaintext), plaintext)
    assert.ok(open(key, region).equals(plaintext))
  }
})

test('sealInto() can seal in place when the plaintext sits at offset + 16', () => {
  const key = newMasterKey()
  for (const size of [40, 300 * 1024]) {
    const plaintext = randomBytes(size)
    const out = Buffer.alloc(size + CRYPTO_OVERHEAD + 4)
    plaintext.copy(out, 4 + 16)
    sealInto(key, out.subarray(4 + 16, 4 + 16 + size), out, 4)
    assert.ok(open(key, out.subarray(4)).equals(plaintext))
  }
})

test('sealInPlace() seals a Sealable in its own buffer, which open() then reads', () => {
  const key = newMasterKey()
  for (const size of [0, 40, 300 * 1024]) {
    const plaintext = randomBytes(size)
    const s = Sealable.of(plaintext)
    assert.equal(s.buffer.length, size + CRYPTO_OVERHEAD)
    assert.ok(s.plaintext.equals(plaintext), 'the plaintext sits between the room for the IV and the tag')
    const sealed = sealInPlace(key, s)
    assert.equal(sealed.buffer, s.buffer.buffer, 'no new buffer')
    assert.ok(open(key, sealed).equals(plaintext))
  }
  assert.throws(() => new Sealable(Buffer.alloc(CRYPTO_OVERHEAD - 1)), RangeError)
})

test('sealInto() throws RangeError when the sealed bytes do not fit', () => {
  const key = newMasterKey()
  assert.throws(() => sealInto(key, Buffer.alloc(10), Buffer.alloc(41), 0), RangeError)
  assert.throws(() => sealInto(key, Buffer.alloc(10), Buffer.alloc(50), 9), RangeError)
  assert.throws(() => sealInto(key, Buffer.alloc(10), Buffer.alloc(50), -1), RangeError)
  assert.equal(sealInto(key, Buffer.alloc(10), Buffer.alloc(50), 8), 42)
})

test('seal() refuses a key with an all-zero or wrongly sized part', () => {
  const good = newMasterKey()
  assert.throws(() => seal({ ...good, encrypt: Buffer.alloc(32) }, Buffer.alloc(1)), RangeError)
  assert.throws(() => seal({ ...good, macK: Buffer.alloc(16) }, Buffer.alloc(1)), RangeError)
  assert.throws(() => seal({ ...good, macR: Buffer.alloc(16) }, Buffer.alloc(1)), RangeError)
  assert.throws(() => seal({ ...good, encrypt: Buffer.alloc(16, 1) }, Buffer.alloc(1)), RangeError)
})

test('openInto() gives what open() gives, into the caller\'s buffer, for sizes around its 64 KiB pieces', () => {
  const key = newMasterKey()
  const out = Buffer.alloc(300_000)
  for (const n of [0, 1, 65_535, 65_536, 65_537, 131_072, 300_000]) {
    const plain = randomBytes(n)
    const got = openInto(key, seal(key, plain), out)
    assert.equal(got.buffer, out.buffer, `${n} bytes: a view of the given buffer`)
    assert.deepEqual(got, plain, `${n} bytes`)
  }
  assert.deepEqual(openInto(resticKey, resticSealed, out).toString(), 'Dies ist ein Test!')
})

test('openInto() decrypts in place when given the ciphertext itself as its output', () => {
  const key = newMasterKey()
  for (const n of [0, 1, 65_535, 65_536, 65_537, 200_001]) {
    const plain = randomBytes(n)
    // Inside a larger buffer, as a blob inside a piece of a pack is.
    const piece = Buffer.concat([randomBytes(7), seal(key, plain), randomBytes(5)])
    const sealed = piece.subarray(7, 7 + n + CRYPTO_OVERHEAD)
    const got = openInto(key, sealed, sealed.subarray(16))
    assert.equal(got.byteOffset, sealed.byteOffset + 16, `${n} bytes: where the ciphertext was`)
    assert.deepEqual(got, plain, `${n} bytes`)
    assert.deepEqual(piece.subarray(7 + 16, 7 + 16 + n), plain, `${n} bytes: the piece holds the plaintext now`)
  }
})

test('openInto() rejects a wrong MAC with INVALID_DATA, and a buffer too small with RangeError', () => {
  const key = newMasterKey()
  const sealed = seal(key, randomBytes(100_000))
  assert.throws(() => openInto(key, sealed, Buffer.alloc(99_999)), RangeError)
  sealed[70_000] ^= 1
  assert.throws(() => openInto(key, sealed, Buffer.alloc(100_000)), isInvalidData)
  assert.throws(() => openInto(key, sealed.subarray(0, 20), Buffer.alloc(100_000)), isInvalidData)
})

test('openInOrder() decrypts the ciphertext front to back in ranges of any size, as open() does', () => {
  const key = newMasterKey()
  const plaintext = randomBytes(200_003)
  const sealed = seal(key, plaintext)
  const before = Buffer.from(sealed)
  for (const sizes of [[200_003], [1, 15, 16, 17, 65_536, 134_418], [7]]) {
    const reader = openInOrder(key, sealed)
    assert.equal(reader.length, plaintext.length)
    const parts: Buffer[] = []
    for (let k = 0; reader.position < reader.length; k++) {
      const at = reader.position
      const part = reader.next(sizes[k % sizes.length])
      assert.equal(reader.position, at + part.length)
      parts.push(part)
    }
    assert.equal(reader.next(10).length, 0, 'nothing past the end')
    reader.end()
    reader.end()
    assert.ok(Buffer.concat(parts).equals(plaintext))
  }
  assert.deepEqual(sealed, before, 'reading leaves the sealed bytes as they were')
})

test('openInOrder() checks the MAC before it decrypts anything', () => {
  const key = newMasterKey()
  const sealed = seal(key, randomBytes(1000))
  sealed[500] ^= 1
  assert.throws(() => openInOrder(key, sealed), isInvalidData)
  assert.throws(() => openInOrder(newMasterKey(), seal(key, randomBytes(10))), isInvalidData)
})
