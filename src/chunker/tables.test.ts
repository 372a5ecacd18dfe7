import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isAppError } from '../base/index.js'
import { createChunker } from './chunker.js'
import { polyMod } from './polynomial.js'
import { joinDigest, tablesFor } from './tables.js'
import { wasmScanner } from './wasm-scanner.js'

const P = 0x3da3358b4dc173n

test('tables match the spot values of the format notes', () => {
  const t = tablesFor(P)
  const out = (b: number) => joinDigest(t.outHi[b], t.outLo[b])
  const mod = (b: number) => joinDigest(t.modHi[b], t.modLo[b])
  assert.equal(out(0), 0n)
  assert.equal(out(1), 0x17eb4232e19216n)
  assert.equal(out(255), 0xb80b98cecc39an)
  assert.equal(mod(0), 0n)
  assert.equal(mod(1), P)
  assert.equal(mod(255), 0x1ff7ac8a5af476a7n)
})

test('every out-table entry is the fingerprint of b followed by 63 zero bytes', () => {
  // Straight from the definition, with BigInt division instead of the mod table.
  const t = tablesFor(P)
  for (let b = 0; b < 256; b++) {
    let h = 0n
    for (let i = 0; i < 64; i++) h = polyMod((h << 8n) | (i === 0 ? BigInt(b) : 0n), P)
    assert.equal(joinDigest(t.outHi[b], t.outLo[b]), h, `out[${b}]`)
  }
})

test('every mod-table entry is (b·x^53 mod P) | b·x^53', () => {
  const t = tablesFor(P)
  for (let b = 0; b < 256; b++) {
    const shifted = BigInt(b) << 53n
    assert.equal(joinDigest(t.modHi[b], t.modLo[b]), polyMod(shifted, P) | shifted, `mod[${b}]`)
  }
})

test('tablesFor() builds the tables once per polynomial', () => {
  assert.equal(tablesFor(P), tablesFor(P))
  assert.notEqual(tablesFor(P), tablesFor(0x2482734cacca49n))
})

test('createChunker() rejects a polynomial whose degree is not 53', () => {
  for (const pol of [0x13n, 0x7da3358b4dc173n]) {
    assert.throws(() => createChunker(pol), (err: unknown) => isAppError(err, 'INVALID_ARGUMENT'))
  }
})

test('the WebAssembly scan loop assembles and instantiates', () => {
  // Without it the chunker silently falls back to JS, which is correct but half as fast.
  assert.notEqual(wasmScanner(), null)
})
