import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { memorySink } from './byte-sink.js'
import { TarWriter, type TarEntry } from './tar-writer.js'

const tarMissing = spawnSync('tar', ['--version']).status !== 0 ? 'GNU tar is not installed' : false
const T = 1_600_000_000_000_000_000n
const base = { mode: 0o644, uid: 0, gid: 0, mtimeNs: T } as const

async function build(entries: Array<[TarEntry, Buffer?]>): Promise<Buffer> {
  const sink = memorySink()
  const tar = new TarWriter(sink)
  for (const [e, content] of entries) await tar.add(e, content === undefined ? undefined : [content])
  await tar.close()
  return sink.bytes()
}

/** Header fields of every entry as GNU tar lists them: "type mode uid/gid size mtime name[ -> target]". */
function list(archive: string): string[] {
  const r = spawnSync('tar', ['--list', '--verbose', '--numeric-owner', '--full-time', '--quoting-style=literal', '-f', archive], { env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' } })
  assert.equal(r.status, 0, r.stderr.toString())
  assert.equal(r.stderr.toString(), '')
  return r.stdout
    .toString('latin1')
    .trim()
    .split('\n')
    .map((l) => l.replace(/\s+/g, ' '))
}

describe('TarWriter', { skip: tarMissing }, () => {
  let dir: string
  before(async () => {
    dir = await fs.mkdtemp(join(tmpdir(), 'cairn-tar-'))
  })
  after(() => fs.rm(dir, { recursive: true, force: true }))

  it('writes ustar entries of every type that GNU tar reads back field for field', async () => {
    const file = join(dir, 'types.tar')
    await fs.writeFile(
      file,
      await build([
        [{ ...base, name: 'd/', type: 'dir', mode: 0o2750, uid: 1000, gid: 100 }],
        [{ ...base, name: 'd/f.txt', type: 'file', mode: 0o4755, size: 5, uname: 'ann', gname: 'staff' }, Buffer.from('hello')],
        [{ ...base, name: 'd/link', type: 'symlink', mode: 0o777, linkname: 'f.txt' }],
        [{ ...base, name: 'd/hard', type: 'hardlink', linkname: 'd/f.txt' }],
        [{ ...base, name: 'd/pipe', type: 'fifo' }],
        [{ ...base, name: 'd/null', type: 'chardev', mode: 0o666, devMajor: 1, devMinor: 3 }],
        [{ ...base, name: 'd/empty', type: 'file', size: 0 }],
      ]),
    )
    assert.deepEqual(list(file), [
      'drwxr-s--- 1000/100 0 2020-09-13 12:26:40 d/',
      '-rwsr-xr-x 0/0 5 2020-09-13 12:26:40 d/f.txt',
      'lrwxrwxrwx 0/0 0 2020-09-13 12:26:40 d/link -> f.txt',
      'hrw-r--r-- 0/0 0 2020-09-13 12:26:40 d/hard link to d/f.txt',
      'prw-r--r-- 0/0 0 2020-09-13 12:26:40 d/pipe',
      'crw-rw-rw- 0/0 1,3 2020-09-13 12:26:40 d/null',
      '-rw-r--r-- 0/0 0 2020-09-13 12:26:40 d/empty',
    ])
    const out = join(dir, 'types')
    await fs.mkdir(out)
    assert.equal(spawnSync('tar', ['-x', '-f', file, '-C', out, '--exclude', 'd/null']).status, 0)
    assert.equal(await fs.readFile(join(out, 'd', 'hard'), 'utf8'), 'hello')
    assert.equal((await fs.stat(join(out, 'd', 'f.txt'))).nlink, 2)
  })

  it('uses the ustar prefix, PAX records or GNU long names only when a field is too small', async () => {
    const prefixed = `${'p'.repeat(120)}/${'n'.repeat(90)}`
    const tooLong = 'x'.repeat(300)
    const utf8 = 'ünïcödé/ファイル.txt'
    const binary = Buffer.concat([Buffer.from('b'.repeat(150)), Buffer.from([0xff, 0xfe])])
    const file = join(dir, 'names.tar')
    const bytes = await build([
      [{ ...base, name: prefixed, type: 'file', size: 0 }],
      [{ ...base, name: tooLong, type: 'file', size: 0 }],
      [{ ...base, name: utf8, type: 'file', size: 0 }],
      [{ ...base, name: binary, type: 'file', size: 0 }],
      [{ ...base, name: 'long-link', type: 'symlink', linkname: 't/'.repeat(100) }],
      [{ ...base, name: 'big-ids', type: 'file', size: 0, uid: 3_000_000, gid: 2_097_152, uname: 'u'.repeat(40) }],
      [{ ...base, name: 'old', type: 'file', size: 0, mtimeNs: -86_400_500_000_000n }],
    ])
    await fs.writeFile(file, bytes)
    // ustar prefix: no extension header before the first entry
    assert.equal(bytes[156], 0x30)
    assert.equal(bytes.subarray(345, 345 + 120).toString(), 'p'.repeat(120))
    const lines = list(file)
    assert.equal(lines[0].endsWith(` ${prefixed}`), true)
    assert.equal(lines[1].endsWith(` ${tooLong}`), true)
    assert.equal(Buffer.from(lines[2], 'latin1').toString('utf8').endsWith(` ${utf8}`), true)
    assert.ok(Buffer.from(lines[3], 'latin1').includes(binary), 'non-UTF-8 long names keep their bytes')
    assert.equal(lines[4].endsWith(` -> ${'t/'.repeat(100)}`), true)
    assert.match(lines[5], /^-rw-r--r-- 3000000\/2097152 0 /)
    assert.match(lines[6], /1969-12-30 23:59:59/)
  })

  it('writes PAX record lengths right across a change in their number of digits', async () => {
    // "NN path=<v>\n": a 91-byte value makes the record exactly 100 bytes long (3 digits)
    const names = [89, 90, 91, 92].map((n) => 'é'.repeat(Math.floor(n / 2)) + 'a'.repeat(n % 2))
    const file = join(dir, 'digits.tar')
    await fs.writeFile(file, await build(names.map((name) => [{ ...base, name, type: 'file', size: 0 }])))
    assert.deepEqual(
      list(file).map((l) => Buffer.from(l, 'latin1').toString('utf8').split(' ').at(-1)),
      names,
    )
  })

  it('carries xattrs as SCHILY PAX records', async () => {
    const file = join(dir, 'xattr.tar')
    await fs.writeFile(file, await build([[{ ...base, name: 'x', type: 'file', size: 1, pax: [['SCHILY.xattr.user.note', Buffer.from([1, 2, 0, 3])]] }, Buffer.from('x')]]))
    const raw = await fs.readFile(file)
    assert.ok(raw.includes(Buffer.concat([Buffer.from('31 SCHILY.xattr.user.note='), Buffer.from([1, 2, 0, 3, 0x0a])])))
    assert.equal(list(file).length, 1)
  })

  it('rejects content that is shorter or longer than the size in the header', async () => {
    const tar = new TarWriter(memorySink())
    await assert.rejects(tar.add({ ...base, name: 'a', type: 'file', size: 10 }, [Buffer.from('short')]), (err) => isAppError(err, 'INVALID_DATA') && /shorter/.test(err.message))
    await assert.rejects(tar.add({ ...base, name: 'b', type: 'file', size: 2 }, [Buffer.from('long')]), (err) => isAppError(err, 'INVALID_DATA') && /longer/.test(err.message))
  })
})
