import assert from 'node:assert/strict'
import { test } from 'node:test'
import { chunkBuffer, createChunker, createJsChunker, MAX_SIZE, MIN_SIZE, type Chunker } from './chunker.js'
import { randomPolynomial } from './polynomial.js'
import { chunkInBlocks, counterStream, referenceChunks, seededBytes, TEST_POLYNOMIAL as P } from './testing.js'

const KiB = 1024
const MiB = 1024 * KiB

/** Random stretches (cut by content), a zero run (cut at MinSize) and an 'A' run (cut at MaxSize). */
function mixedInput(): Uint8Array {
  const parts = [
    seededBytes(2 * MiB + 17, 1),
    new Uint8Array(MiB + 333),
    new Uint8Array(9 * MiB).fill(0x41),
    seededBytes(3 * MiB + 5, 2),
    seededBytes(100, 3),
  ]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}

const mixed = mixedInput()
const mixedReference = referenceChunks(P, mixed)

test('the mixed test input exercises content cuts, MinSize cuts and MaxSize cuts', () => {
  const lengths = mixedReference.map((c) => c.length)
  assert.ok(lengths.includes(MIN_SIZE))
  assert.ok(lengths.includes(MAX_SIZE))
  assert.ok(lengths.some((n) => n > MIN_SIZE && n < MAX_SIZE))
})

test('chunkBuffer() matches the byte-by-byte restatement of restic on mixed data', () => {
  assert.deepEqual(
    [...chunkBuffer(P, mixed)],
    mixedReference.map(({ offset, length }) => ({ offset, length })),
  )
})

// Around the sizes where the chunker changes strategy: the 64-byte window, the 4 KiB threshold
// for WebAssembly, its 1 MiB slices, and MaxSize.
const BLOCK_SIZES = [4095, 4096, 4097, 65537, MiB - 1, MiB + 1, 4 * MiB, 7 * MiB, 8 * MiB, 32 * MiB]
const SMALL_BLOCK_SIZES = [1, 3, 63, 64, 65, 127]
const mixedStart = mixed.subarray(0, 4 * MiB)
const mixedStartReference = referenceChunks(P, mixedStart)

for (const [engine, create] of [['wasm', createChunker], ['js', createJsChunker]] as const) {
  test(`feeding mixed data in blocks of any size gives the same chunks and fingerprints (${engine})`, () => {
    for (const blockSize of BLOCK_SIZES) {
      const pad = blockSize % 7 === 0 ? 0 : 100
      assert.deepEqual(chunkInBlocks(P, mixed, blockSize, { pad, create }), mixedReference, `blocks of ${blockSize}`)
    }
    for (const blockSize of SMALL_BLOCK_SIZES) {
      const pad = blockSize === 64 ? 0 : 100
      assert.deepEqual(
        chunkInBlocks(P, mixedStart, blockSize, { pad, create }),
        mixedStartReference,
        `blocks of ${blockSize}`,
      )
    }
  })
}

test('chunks depend on the polynomial, and match the reference for other polynomials too', () => {
  const data = seededBytes(6 * MiB, 42)
  const known = referenceChunks(0x2482734cacca49n, data)
  assert.deepEqual(chunkInBlocks(0x2482734cacca49n, data, 1536 * KiB), known)
  assert.notDeepEqual(
    known.map((c) => c.length),
    referenceChunks(P, data).map((c) => c.length),
  )
  const pol = randomPolynomial()
  assert.deepEqual(chunkInBlocks(pol, data, 2 * MiB + 3), referenceChunks(pol, data), `polynomial ${pol.toString(16)}`)
})

test('chunkers with different polynomials can be used in turn', () => {
  // Chunkers share one WebAssembly instance, so its tables must follow the chunker that calls.
  const data = seededBytes(6 * MiB, 7)
  const pols = [P, 0x2482734cacca49n]
  const chunkers = pols.map((pol) => createChunker(pol))
  const found: number[][] = [[], []]
  const block = 256 * KiB
  for (let off = 0; off < data.length; off += block) {
    for (let k = 0; k < 2; k++) {
      let pos = off
      for (;;) {
        const split = chunkers[k].nextSplitPoint(data, pos, off + block)
        if (split < 0) break
        found[k].push(split)
        pos = split
      }
    }
  }
  for (let k = 0; k < 2; k++) {
    const expected = referenceChunks(pols[k], data)
      .map((c) => c.offset + c.length)
      .slice(0, -1)
    assert.deepEqual(found[k], expected)
  }
})

for (const [engine, create] of [['wasm', createChunker], ['js', createJsChunker]] as const) {
  test(`a chunk reaching MaxSize exactly at the end of a block is cut there (${engine})`, () => {
    const c: Chunker = create(P)
    const block = new Uint8Array(4 * MiB).fill(0x41)
    assert.equal(c.nextSplitPoint(block), -1)
    assert.equal(c.nextSplitPoint(block), block.length)
    assert.equal(c.nextSplitPoint(block, 0, 1), -1) // the next chunk has started
    const whole = create(P)
    assert.equal(whole.nextSplitPoint(new Uint8Array(MAX_SIZE).fill(0x41)), MAX_SIZE)
  })
}

test('reset() makes the next byte start a new chunk', () => {
  // Zeros are cut every MinSize bytes counted from the chunk start, so a missed reset shows.
  const file = new Uint8Array(MiB + 1000 + 3 * MiB)
  file.set(counterStream(3 * MiB), MiB + 1000)
  const fresh = chunkInBlocks(P, file, MiB).map((c) => c.length)
  assert.equal(fresh[0], MIN_SIZE)

  for (const before of [new Uint8Array(100).fill(7), new Uint8Array(3 * MiB).fill(0x41), seededBytes(600 * KiB, 6)]) {
    const c = createChunker(P)
    assert.equal(c.nextSplitPoint(before), -1)
    c.reset()
    const lengths: number[] = []
    let last = 0
    for (let pos = 0; ; ) {
      const split = c.nextSplitPoint(file, pos)
      if (split < 0) break
      lengths.push(split - last)
      last = pos = split
    }
    lengths.push(file.length - last)
    assert.deepEqual(lengths, fresh, `after ${before.length} bytes`)

    // Without the reset, the earlier bytes count towards the first chunk.
    const d = createChunker(P)
    d.nextSplitPoint(before)
    assert.notEqual(d.nextSplitPoint(file), fresh[0])
  }
})

test('small inputs: no chunk for empty data, one chunk up to MinSize', () => {
  assert.deepEqual([...chunkBuffer(P, new Uint8Array(0))], [])
  assert.deepEqual([...chunkBuffer(P, seededBytes(1, 1))], [{ offset: 0, length: 1 }])
  for (const size of [MIN_SIZE - 64, MIN_SIZE - 1, MIN_SIZE]) {
    assert.deepEqual([...chunkBuffer(P, seededBytes(size, size))], [{ offset: 0, length: size }])
  }
})

test('the fingerprint of an EOF chunk is 1 while the chunk has not been hashed', () => {
  const c = createChunker(P)
  c.nextSplitPoint(seededBytes(MIN_SIZE - 64, 9))
  assert.equal(c.currentFingerprint(), 1n)
  c.nextSplitPoint(seededBytes(10, 9))
  // Partly hashed chunks agree with restic's digest, which still holds the initial 1.
  const data = seededBytes(MIN_SIZE - 64 + 10, 9)
  data.set(seededBytes(10, 9), MIN_SIZE - 64)
  assert.equal(c.currentFingerprint(), referenceChunks(P, data)[0].cut)
})

test('an empty range changes nothing', () => {
  const data = seededBytes(3 * MiB, 11)
  const c = createChunker(P)
  const splits: number[] = []
  for (let pos = 0; ; ) {
    assert.equal(c.nextSplitPoint(data, pos, pos), -1)
    const split = c.nextSplitPoint(data, pos)
    if (split < 0) break
    splits.push(split)
    pos = split
  }
  assert.deepEqual(
    splits,
    referenceChunks(P, data)
      .map((c) => c.offset + c.length)
      .slice(0, -1),
  )
})

test('nextSplitPoint() rejects a range outside the buffer', () => {
  const c = createChunker(P)
  const buf = new Uint8Array(10)
  assert.throws(() => c.nextSplitPoint(buf, 5, 4), RangeError)
  assert.throws(() => c.nextSplitPoint(buf, 0, 11), RangeError)
  assert.throws(() => c.nextSplitPoint(buf, -1, 5), RangeError)
  assert.throws(() => c.nextSplitPoint(buf, 0.5, 5), RangeError)
})

test('a scan buffer is chunked where it lies, with the same cuts as anywhere else', async () => {
  const { createScanBuffer } = await import('./wasm-scanner.js')
  const data = Buffer.concat([seededBytes(9 * MiB + 3, 21), new Uint8Array(MAX_SIZE + 5), seededBytes(2 * MiB, 22)])
  const expected = [...chunkBuffer(P, data)].map((c) => c.offset + c.length)
  const ring = createScanBuffer(data.length)
  assert.ok(ring !== undefined && ring.buffer instanceof SharedArrayBuffer, 'a buffer in shared memory')
  ring.set(data)
  // Fed in blocks as a reader fills it: each call sees a little more of the buffer.
  const c = createChunker(P)
  const cuts: number[] = []
  let scan = 0
  for (let end = Math.min(data.length, 700 * KiB); ; end = Math.min(data.length, end + 700 * KiB)) {
    for (;;) {
      const p = scan < end ? c.nextSplitPoint(ring, scan, end) : -1
      if (p < 0) break
      cuts.push(p)
      scan = p
    }
    scan = end
    if (end === data.length) break
  }
  cuts.push(data.length)
  assert.deepEqual(cuts, expected)
})

test('a scan buffer whose bytes before the range are not the chunk so far is still chunked right', async () => {
  const { createScanBuffer } = await import('./wasm-scanner.js')
  const data = seededBytes(5 * MiB, 23)
  const expected = [...chunkBuffer(P, data)].map((c) => c.offset + c.length)
  // Every block is written at the same place, so what lies before it is not its history.
  const block = 256 * KiB
  const ring = createScanBuffer(block + 64 * KiB)!
  const c = createChunker(P)
  const cuts: number[] = []
  for (let off = 0; off < data.length; off += block) {
    ring.set(data.subarray(off, off + block), 64 * KiB)
    for (let scan = 64 * KiB; ; ) {
      const p = c.nextSplitPoint(ring, scan, 64 * KiB + block)
      if (p < 0) break
      cuts.push(off + p - 64 * KiB)
      scan = p
    }
  }
  cuts.push(data.length)
  assert.deepEqual(cuts, expected)
})

test('a chunker state carried to another chunker gives the same cuts, at any block boundary', () => {
  const data = Buffer.concat([seededBytes(4 * MiB, 31), new Uint8Array(MAX_SIZE + 9), seededBytes(MiB, 32)])
  const expected = [...chunkBuffer(P, data)].map((c) => c.offset + c.length)
  for (const block of [1000, 64 * KiB + 3, 700 * KiB, 3 * MiB]) {
    let state = createChunker(P).saveState()
    const cuts: number[] = []
    for (let off = 0; off < data.length; off += block) {
      // A fresh chunker for every block, as a worker thread that gets each block with the state.
      const c = createChunker(P)
      c.restoreState(state)
      for (let s = off; ; ) {
        const p = c.nextSplitPoint(data, s, Math.min(data.length, off + block))
        if (p < 0) break
        cuts.push(p)
        s = p
      }
      state = c.saveState()
    }
    cuts.push(data.length)
    assert.deepEqual(cuts, expected, `blocks of ${block} bytes`)
  }
})
