import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bytesFromGoString } from '../snapshots/index.js'
import { goJson } from './output/terminal.js'
import { withRawBytes } from './raw-argv.js'

const cmdline = (...args: Buffer[]) => () => Buffer.concat(args.flatMap((a) => [a, Buffer.of(0)]))

describe('withRawBytes()', () => {
  const odd = Buffer.from([0x2f, 0x62, 0x61, 0x64, 0xff]) // "/bad\xff"
  const argv = ['/usr/bin/node', '/opt/cairn/bin/cairn.js', 'dump', 'latest', odd.toString('utf8')]

  it("takes an argument's bytes from the kernel's copy of the command line when Node lost them", () => {
    const line = cmdline(Buffer.from('node'), Buffer.from('--heap-growing-percent=50'), Buffer.from('/opt/cairn/bin/cairn.js'), Buffer.from('dump'), Buffer.from('latest'), odd)
    const out = withRawBytes(argv, line)
    assert.deepEqual(out.slice(0, 4), argv.slice(0, 4))
    assert.deepEqual(bytesFromGoString(out[4]), odd)
  })

  it('leaves the arguments alone when all are UTF-8, when the lists do not line up, or when there is no such copy', () => {
    const plain = ['node', 'cairn.js', 'ls', 'latest']
    assert.equal(withRawBytes(plain, () => assert.fail('not read')), plain)
    assert.equal(withRawBytes(argv, cmdline(Buffer.from('other'), Buffer.from('things'), Buffer.from('x'))), argv)
    assert.equal(
      withRawBytes(argv, () => {
        throw new Error('ENOENT')
      }),
      argv,
    )
  })
})

describe('goJson()', () => {
  it('writes a byte that is not UTF-8 as Go does (\\ufffd), and leaves a literal backslash-u alone', () => {
    assert.equal(goJson(JSON.stringify({ name: 'bad\udcffname' })), '{"name":"bad\\ufffdname"}')
    assert.equal(goJson(JSON.stringify({ name: 'a\\udc80' })), '{"name":"a\\\\udc80"}')
    assert.equal(goJson(JSON.stringify({ name: '😀' })), '{"name":"😀"}')
  })

  it("escapes <, >, &, U+2028 and U+2029 as Go's encoding/json does (snapshots --json wrote them raw)", () => {
    assert.equal(goJson(JSON.stringify({ host: 'h<&>\u2028\u2029' })), '{"host":"h\\u003c\\u0026\\u003e\\u2028\\u2029"}')
  })
})
