import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { seededBytes } from '../repository/testing.js'
import { memorySink } from './byte-sink.js'
import { ZipWriter, type ZipWriterOptions } from './zip-writer.js'

const unzipMissing = spawnSync('unzip', ['-v']).status !== 0 ? 'unzip is not installed' : false
const T = 1_600_000_000_000_000_000n
const random = seededBytes(9, 300_000)
const text = Buffer.from('zip me, I repeat myself\n'.repeat(10_000))

async function sample(options: ZipWriterOptions): Promise<Buffer> {
  const sink = memorySink()
  const zip = new ZipWriter(sink, options)
  await zip.add({ name: 'dir/', type: 'dir', mode: 0o750, mtimeNs: T, uid: 1000, gid: 100 })
  await zip.add({ name: 'dir/random.bin', type: 'file', mode: 0o640, mtimeNs: T, size: random.length }, [random.subarray(0, 1000), random.subarray(1000)])
  await zip.add({ name: 'dir/text.txt', type: 'file', mode: 0o644, mtimeNs: T, size: text.length }, [text])
  await zip.add({ name: 'dir/empty', type: 'file', mode: 0o600, mtimeNs: T, size: 0 }, [])
  await zip.add({ name: 'dir/ünï.txt', type: 'file', mode: 0o644, mtimeNs: T, size: 3 }, [Buffer.from('abc')])
  await zip.add({ name: 'dir/link', type: 'symlink', mode: 0o777, mtimeNs: T, linkname: 'text.txt' })
  await zip.close()
  return sink.bytes()
}

function unzip(args: string[]): string {
  const r = spawnSync('unzip', args, { env: { ...process.env, TZ: 'UTC' }, maxBuffer: 64 << 20 })
  assert.equal(r.status, 0, r.stderr.toString() + r.stdout.toString())
  return r.stdout.toString()
}

describe('ZipWriter', { skip: unzipMissing }, () => {
  let dir: string
  before(async () => {
    dir = await fs.mkdtemp(join(tmpdir(), 'cairn-zip-'))
  })
  after(() => fs.rm(dir, { recursive: true, force: true }))

  for (const options of [{ method: 'store' }, { method: 'deflate' }, { method: 'deflate', forceZip64: true }] as ZipWriterOptions[]) {
    const label = `${options.method}${options.forceZip64 ? ' with Zip64 records' : ''}`
    it(`writes archives that unzip tests, lists and extracts with modes and times (${label})`, async () => {
      const file = join(dir, `${label.replace(/\W+/g, '-')}.zip`)
      const bytes = await sample(options)
      await fs.writeFile(file, bytes)
      assert.match(unzip(['-t', file]), /No errors detected/)
      const info = unzip(['-Z', '-l', file])
      const method = options.method === 'deflate' ? 'defN' : 'stor'
      assert.match(info, new RegExp(`-rw-r-----\\s+\\S+ unx\\s+300000 \\S+\\s+\\d+ ${method} `))
      assert.match(info, new RegExp(`-rw-r--r--\\s+\\S+ unx\\s+240000 \\S+\\s+\\d+ ${method} `))
      assert.match(info, /lrwxrwxrwx\s+\S+ unx\s+8 /)
      assert.match(info, /drwxr-x---\s+\S+ unx\s+0 /)
      if (options.method === 'deflate') assert.ok(bytes.length < random.length + 20_000, 'the text was compressed')
      const out = join(dir, label.replace(/\W+/g, '-'))
      unzip(['-q', file, '-d', out])
      assert.ok((await fs.readFile(join(out, 'dir', 'random.bin'))).equals(random))
      assert.equal(await fs.readFile(join(out, 'dir', 'ünï.txt'), 'utf8'), 'abc')
      assert.equal(await fs.readlink(join(out, 'dir', 'link')), 'text.txt')
      const st = await fs.stat(join(out, 'dir', 'text.txt'))
      assert.equal(st.mtimeMs, 1_600_000_000_000)
      assert.equal(st.mode & 0o777, 0o644)
    })
  }

  it('switches to Zip64 end records beyond 65535 entries', async () => {
    const sink = memorySink()
    const zip = new ZipWriter(sink)
    const n = 65_540
    for (let i = 0; i < n; i++) await zip.add({ name: `f${i}`, type: 'file', mode: 0o644, mtimeNs: T, size: 0 }, [])
    await zip.close()
    const bytes = sink.bytes()
    assert.ok(bytes.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06])), 'a Zip64 end of central directory record')
    const file = join(dir, 'many.zip')
    await fs.writeFile(file, bytes)
    assert.match(unzip(['-l', file]), new RegExp(`\\s${n} files\\n`))
  })

  it('rejects content that does not match the announced size', async () => {
    const zip = new ZipWriter(memorySink())
    await assert.rejects(zip.add({ name: 'a', type: 'file', mode: 0o644, mtimeNs: T, size: 5 }, [Buffer.from('abc')]), /3 bytes, not the 5 bytes announced/)
  })
})
