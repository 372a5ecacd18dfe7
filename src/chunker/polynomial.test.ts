import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isAppError } from '../base/index.js'
import {
  degree, formatPolynomial, isIrreducible, parsePolynomial, polyGcd, polyMod, polyMulMod, randomPolynomial,
} from './polynomial.js'

// From restic/chunker's polynomials_test.go.
const IRREDUCIBILITY: Array<[bigint, boolean]> = [
  [0x38f1e565e288dfn, false], [0x3da3358b4dc173n, true], [0x30a8295b9d5c91n, false],
  [0x255f4350b962cbn, false], [0x267f776110a235n, false], [0x2f4dae10d41227n, false],
  [0x2482734cacca49n, true], [0x312daf4b284899n, false], [0x29dfb6553d01d1n, false],
  [0x3548245eb26257n, false], [0x3199e7ef4211b3n, false], [0x362f39017dae8bn, false],
  [0x200d57aa6fdacbn, false], [0x35e0a4efa1d275n, false], [0x2ced55b026577fn, false],
  [0x260b012010893dn, false], [0x2df29cbcd59e9dn, false], [0x3f2ac7488bd429n, false],
  [0x3e5cb1711669fbn, false], [0x226d8de57a9959n, false], [0x3c8de80aaf5835n, false],
  [0x2026a59efb219bn, false], [0x39dfa4d13fb231n, false], [0x3143d0464b3299n, false],
]

test('isIrreducible() agrees with restic on its list of degree-53 polynomials', () => {
  for (const [pol, expected] of IRREDUCIBILITY) {
    assert.equal(isIrreducible(pol), expected, `0x${pol.toString(16)}`)
  }
})

test('isIrreducible() finds exactly 9 irreducible polynomials of degree 6 and 30 of degree 8', () => {
  // The number of irreducible polynomials of degree d over GF(2) is (1/d)·Σ_{k|d} μ(k)·2^(d/k).
  const count = (d: number) => {
    let n = 0
    for (let p = 1n << BigInt(d); p < 1n << BigInt(d + 1); p++) if (isIrreducible(p)) n++
    return n
  }
  assert.equal(count(6), 9)
  assert.equal(count(8), 30)
})

test('isIrreducible() handles small and degenerate polynomials', () => {
  assert.equal(isIrreducible(0n), false)
  assert.equal(isIrreducible(1n), false)
  assert.equal(isIrreducible(0b10n), true) // x
  assert.equal(isIrreducible(0b111n), true) // x² + x + 1
  assert.equal(isIrreducible(0b101n), false) // (x + 1)²
  assert.equal(isIrreducible(0x13n), true) // x⁴ + x + 1
  assert.equal(isIrreducible(0x15n), false) // (x² + x + 1)²
})

test('polynomial arithmetic matches restic’s Mod, GCD and MulMod vectors', () => {
  assert.equal(polyMod(10n, 50n), 10n)
  assert.equal(polyMod(0b101101001n, 0b1010n), 1n)
  assert.equal(polyMod(0b1100001111n, 0b10011n), 0n)
  assert.equal(polyMod(0x8000000000000000n, 0x8000000000000000n), 0n)

  assert.equal(polyGcd(10n, 50n), 2n)
  assert.equal(polyGcd(0n, 1n), 1n)
  assert.equal(polyGcd(0b1010n, 0b11n), 0b11n)
  assert.equal(polyGcd(0b1100n, 0b101n), 0b11n)
  assert.equal(polyGcd(0x3da3358b4dc173n, 0x230d2259defdn), 1n)
  assert.equal(polyGcd(0x230d2259defdn, 0x51b492b3eff2n), 0b10011n)
  assert.equal(polyGcd(0x51b492b3eff2n, 0x230d2259defdn), 0b10011n)

  assert.equal(polyMulMod(0x1230n, 0x230n, 0x55n), 0x22n)
  assert.equal(polyMulMod(0x0eae8c07dbbb3026n, 0xd5d6db9de04771den, 0xdd2bda3b77c9n), 0x425ae8595b7an)
})

test('randomPolynomial() returns distinct irreducible polynomials of degree 53', () => {
  const seen = new Set<bigint>()
  for (let i = 0; i < 8; i++) {
    const pol = randomPolynomial()
    assert.equal(degree(pol), 53, formatPolynomial(pol))
    assert.equal(pol & 1n, 1n)
    assert.ok(isIrreducible(pol), formatPolynomial(pol))
    seen.add(pol)
  }
  assert.equal(seen.size, 8)
})

test('parsePolynomial() and formatPolynomial() round-trip config values', () => {
  assert.equal(parsePolynomial('3da3358b4dc173'), 0x3da3358b4dc173n)
  assert.equal(parsePolynomial('2482734CACCA49'), 0x2482734cacca49n)
  assert.equal(formatPolynomial(0x3da3358b4dc173n), '3da3358b4dc173')
  for (let i = 0; i < 4; i++) {
    const pol = randomPolynomial()
    const hex = formatPolynomial(pol)
    assert.match(hex, /^[23][0-9a-f]{13}$/)
    assert.equal(parsePolynomial(hex), pol)
  }
})

test('parsePolynomial() rejects malformed, wrong-degree and reducible values as INVALID_DATA', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /not a hexadecimal number/],
    ['0x3da3358b4dc173', /not a hexadecimal number/],
    ['3da3358b4dc17g', /not a hexadecimal number/],
    ['13da3358b4dc173ff', /not a hexadecimal number/],
    ['1da3358b4dc173', /has degree 52, expected 53/],
    ['7da3358b4dc173', /has degree 54, expected 53/],
    ['0', /has degree -1, expected 53/],
    ['38f1e565e288df', /is reducible/],
    ['30a8295b9d5c91', /is reducible/],
  ]
  for (const [hex, message] of cases) {
    assert.throws(
      () => parsePolynomial(hex),
      (err: unknown) => isAppError(err, 'INVALID_DATA') && message.test(err.message) && err.message.includes(`"${hex}"`),
      hex,
    )
  }
})
