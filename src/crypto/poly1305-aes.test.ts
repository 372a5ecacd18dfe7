import { test } from 'node:test'
import assert from 'node:assert/strict'
import { clampR, Poly1305Aes } from './poly1305-aes.js'

// Poly1305-AES vectors from Bernstein's paper, as restic's own crypto tests list them.
const vectors = [
  {
    msg: 'f3f6',
    r: '851fc40c3467ac0be05cc20404f3f700',
    k: 'ec074c835580741701425b623235add6',
    nonce: 'fb447350c4e868c52ac3275cf9d4327e',
    mac: 'f4c633c3044fc145f84f335cb81953de',
  },
  {
    msg: '',
    r: 'a0f3080000f46400d0c7e9076c834403',
    k: '75deaa25c09f208e1dc4ce6b5cad3fbf',
    nonce: '61ee09218d29b0aaed7e154a2c5509cc',
    mac: 'dd3fab2251f11ac759f0887129cc2ee7',
  },
  {
    msg: '663cea190ffb83d89593f3f476b6bc24d7e679107ea26adb8caf6652d0656136',
    r: '48443d0bb0d21109c89a100b5ce2c208',
    k: '6acb5f61a7176dd320c5c1eb2edcdc74',
    nonce: 'ae212a55399729595dea458bc621ff0e',
    mac: '0ee1c16bb73f0f4fd19881753c01cdbe',
  },
  {
    msg:
      'ab0812724a7f1e342742cbed374d94d136c6b8795d45b3819830f2c04491faf0' +
      '990c62e48b8018b2c3e4a0fa3134cb67fa83e158c994d961c4cb21095c1bf9',
    r: '12976a08c4426d0ce8a82407c4f48207',
    k: 'e1a5668a4d5b66a5f68cc5424ed5982d',
    nonce: '9ae831e743978d3a23527c7128149e3a',
    mac: '5154ad0d2cb26e01274fc51148491f1b',
  },
]

const hex = (s: string) => Buffer.from(s, 'hex')

test('Poly1305Aes.tag() reproduces the Poly1305-AES reference vectors', () => {
  for (const v of vectors) {
    const out = Buffer.alloc(16)
    new Poly1305Aes(hex(v.k), hex(v.r)).tag(hex(v.msg), hex(v.nonce), out)
    assert.equal(out.toString('hex'), v.mac, `message ${v.msg || '(empty)'}`)
  }
})

test('Poly1305Aes.verify() accepts the reference tags and rejects a changed message, nonce or tag', () => {
  for (const v of vectors) {
    const mac = new Poly1305Aes(hex(v.k), hex(v.r))
    assert.equal(mac.verify(hex(v.msg), hex(v.nonce), hex(v.mac)), true)
    const badTag = hex(v.mac)
    badTag[15] ^= 1
    assert.equal(mac.verify(hex(v.msg), hex(v.nonce), badTag), false)
    const badNonce = hex(v.nonce)
    badNonce[0] ^= 0x80
    assert.equal(mac.verify(hex(v.msg), badNonce, hex(v.mac)), false)
    if (v.msg.length > 0) {
      const badMsg = hex(v.msg)
      badMsg[badMsg.length - 1] ^= 4
      assert.equal(mac.verify(badMsg, hex(v.nonce), hex(v.mac)), false)
    }
  }
})

test('Poly1305Aes streaming tag equals the one-shot tag', () => {
  const v = vectors[3]
  const mac = new Poly1305Aes(hex(v.k), hex(v.r))
  const msg = hex(v.msg)
  const masks = mac.nonceMasks(hex(v.nonce))
  mac.startWithMask(masks, 0)
  mac.update(msg.subarray(0, 5))
  mac.update(msg.subarray(5, 40))
  mac.update(msg.subarray(40))
  const out = Buffer.alloc(16)
  mac.finish(out)
  assert.equal(out.toString('hex'), v.mac)
})

test('Poly1305Aes.nonceMasks() encrypts many nonces in one call, each like a single one', () => {
  const v = vectors[0]
  const mac = new Poly1305Aes(hex(v.k), hex(v.r))
  const nonces = Buffer.concat([hex(vectors[1].nonce), hex(v.nonce)])
  const masks = mac.nonceMasks(nonces)
  const out = Buffer.alloc(16)
  mac.tagWithMask(hex(v.msg), masks, 16, out)
  assert.equal(out.toString('hex'), v.mac)
})

test('Poly1305Aes rejects a nonce that is not 16 bytes', () => {
  const mac = new Poly1305Aes(Buffer.alloc(16, 1), Buffer.alloc(16, 1))
  assert.throws(() => mac.tag(Buffer.alloc(3), Buffer.alloc(15, 1), Buffer.alloc(16)), RangeError)
  assert.throws(() => mac.verify(Buffer.alloc(3), Buffer.alloc(17, 1), Buffer.alloc(16)), RangeError)
})

test('clampR() clears the Poly1305 clamp bits and is idempotent', () => {
  const r = clampR(Buffer.alloc(16, 0xff))
  assert.equal(r.toString('hex'), 'ffffff0ffcffff0ffcffff0ffcffff0f')
  assert.deepEqual(clampR(r), r)
  assert.equal(clampR(hex('cc8d4b948ee0ebfe1d415de921d10353')).toString('hex'), 'cc8d4b048ce0eb0e1c415d0920d10303')
})
