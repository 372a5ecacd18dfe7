import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import * as fsp from 'node:fs/promises'
import { mkdir, mkdtemp, readdir, rm, stat, symlink, utimes, writeFile, chmod } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { hashId } from '../../base/index.js'
import type { FileInfo, FileType, Handle } from '../backend.js'
import { runConformanceSuite } from '../testing/conformance.js'
import { fsWithFiles, withMembers } from '../testing/overrides.js'
import { FileExistsError, NotFoundError } from '../errors.js'
import { LocalBackend } from './local-backend.js'

let root = ''
let counter = 0
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cairn-local-backend-'))
})
after(async () => {
  await rm(root, { recursive: true, force: true })
})

/** A path for a repository that does not exist yet. */
function repoPath(): string {
  return join(root, `repo-${++counter}`)
}

function file(type: FileType, size: number): { h: Handle; data: Buffer } {
  const data = randomBytes(size)
  return { h: { type, name: hashId(data) }, data }
}

function sortByName(list: FileInfo[]): FileInfo[] {
  return [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

async function collect(be: LocalBackend, type: FileType): Promise<FileInfo[]> {
  const out: FileInfo[] = []
  for await (const fi of be.list(type)) out.push(fi)
  return out
}

async function created(): Promise<{ be: LocalBackend; path: string }> {
  const path = repoPath()
  const be = new LocalBackend(path)
  await be.create()
  return { be, path }
}

const modeOf = async (p: string) => (await stat(p)).mode & 0o777

runConformanceSuite('LocalBackend', async () => new LocalBackend(repoPath()))

describe('LocalBackend layout', () => {
  it('create() makes the five directories and data/00..ff, mode 0700', async () => {
    const { path } = await created()
    assert.deepEqual((await readdir(path)).sort(), ['data', 'index', 'keys', 'locks', 'snapshots'])
    const sub = (await readdir(join(path, 'data'))).sort()
    assert.equal(sub.length, 256)
    assert.equal(sub[0], '00')
    assert.equal(sub[255], 'ff')
    for (const d of [path, join(path, 'keys'), join(path, 'data'), join(path, 'data', '7f')]) {
      assert.equal(await modeOf(d), 0o700, d)
    }
  })

  it('save() puts packs under data/<first two hex>/ and other files under their type', async () => {
    const { be, path } = await created()
    const pack = file('data', 100)
    const snap = file('snapshots', 100)
    await be.save(pack.h, pack.data)
    await be.save(snap.h, snap.data)
    await be.save({ type: 'config', name: '' }, Buffer.from('cfg'))
    assert.equal((await stat(join(path, 'data', pack.h.name.slice(0, 2), pack.h.name))).size, 100)
    assert.equal((await stat(join(path, 'snapshots', snap.h.name))).size, 100)
    assert.equal((await stat(join(path, 'config'))).size, 3)
  })

  it('save() leaves no temp file behind and makes the file read-only (0400)', async () => {
    const { be, path } = await created()
    const { h, data } = file('keys', 64)
    await be.save(h, data)
    assert.deepEqual(await readdir(join(path, 'keys')), [h.name])
    assert.equal(await modeOf(join(path, 'keys', h.name)), 0o400)
    await be.save({ type: 'config', name: '' }, Buffer.from('cfg'))
    assert.equal(await modeOf(join(path, 'config')), 0o400)
  })

  it('removeTemporaryFiles() removes what killed writes left a while ago, and nothing else; a dry run only counts', async () => {
    const { be, path } = await created()
    const pack = file('data', 100)
    await be.save(pack.h, pack.data)
    const id = 'ab'.repeat(32)
    const left = [
      join(path, 'data', 'e7', 'pack-2ca37e1d2f8fa4b10aacd863-tmp'),
      join(path, 'data', id.slice(0, 2), `${id}-tmp-0123456789ab`),
      join(path, 'snapshots', `${id}-tmp-a1b2c3d4e5f6`),
      join(path, 'config-tmp-00112233aabb'),
    ]
    const old = new Date(Date.now() - 3600_000)
    for (const f of left) {
      await writeFile(f, Buffer.alloc(1000))
      await utimes(f, old, old)
    }
    // An old lock's temp file goes too (it stayed before); a write that may still be under way
    // (young), a lock being written, and files not ours: kept.
    await writeFile(join(path, 'locks', `${id}-tmp-777777777777`), Buffer.alloc(1000))
    await utimes(join(path, 'locks', `${id}-tmp-777777777777`), old, old)
    left.push(join(path, 'locks', `${id}-tmp-777777777777`))
    await writeFile(join(path, 'index', `${id}-tmp-999999999999`), 'young')
    await writeFile(join(path, 'locks', `${id}-tmp-888888888888`), 'lock')
    await writeFile(join(path, 'data', 'e7', 'notes-tmp'), 'x')
    await writeFile(join(path, 'snapshots', 'README'), 'x')
    assert.deepEqual(await be.removeTemporaryFiles({ dryRun: true }), { files: 5, bytes: 5000 })
    for (const f of left) await stat(f)
    assert.deepEqual(await be.removeTemporaryFiles(), { files: 5, bytes: 5000 })
    for (const f of left) await assert.rejects(stat(f), /ENOENT/)
    await stat(join(path, 'data', 'e7', 'notes-tmp'))
    await stat(join(path, 'snapshots', 'README'))
    await stat(join(path, 'index', `${id}-tmp-999999999999`))
    await stat(join(path, 'locks', `${id}-tmp-888888888888`))
    assert.deepEqual((await collect(be, 'data')).map((f) => f.name), [pack.h.name])
    assert.deepEqual(await be.removeTemporaryFiles(), { files: 0, bytes: 0 })
  })

  it('replaceConfig() replaces the read-only config in one rename, leaving no temp file', async () => {
    const { be, path } = await created()
    await be.save({ type: 'config', name: '' }, Buffer.from('version 1'))
    await be.replaceConfig(Buffer.from('version 2'))
    assert.deepEqual(await be.load({ type: 'config', name: '' }), Buffer.from('version 2'))
    assert.equal(await modeOf(join(path, 'config')), 0o400)
    assert.deepEqual((await readdir(path)).filter((n) => n.startsWith('config')), ['config'])
  })

  it('remove() deletes a read-only file', async () => {
    const { be, path } = await created()
    const { h, data } = file('locks', 10)
    await be.save(h, data)
    assert.equal(await modeOf(join(path, 'locks', h.name)), 0o400)
    await be.remove(h)
    assert.deepEqual(await readdir(join(path, 'locks')), [])
  })

  it('save() uses 0440 files and 0770 directories when config is group-readable', async () => {
    const { be, path } = await created()
    await be.save({ type: 'config', name: '' }, Buffer.from('cfg'))
    await chmod(join(path, 'config'), 0o440)
    await rm(join(path, 'data', 'ab'), { recursive: true })
    const reopened = new LocalBackend(path)
    const data = Buffer.from('group pack')
    const h: Handle = { type: 'data', name: 'ab' + hashId(data).slice(2) }
    await reopened.save(h, data)
    assert.equal(await modeOf(join(path, 'data', 'ab', h.name)), 0o440)
    assert.equal(await modeOf(join(path, 'data', 'ab')), 0o770 & ~process.umask())
  })

  it('save() recreates a missing data/xx directory (rclone makes them lazily)', async () => {
    const { be, path } = await created()
    const { h, data } = file('data', 10)
    await rm(join(path, 'data', h.name.slice(0, 2)), { recursive: true })
    await be.save(h, data)
    assert.deepEqual(await be.load(h), data)
  })

  it('loadInto() reads a whole file into the memory it is given', async () => {
    const { be } = await created()
    const { h, data } = file('data', 70_000)
    await be.save(h, data)
    const pool = Buffer.from(new SharedArrayBuffer(100_000))
    const sizes: number[] = []
    const got = await be.loadInto(h, (n) => (sizes.push(n), pool.subarray(1000)))
    assert.deepEqual(sizes, [70_000])
    assert.deepEqual(got, data)
    assert.equal(got.buffer, pool.buffer)
    assert.equal(got.byteOffset, 1000)
    await assert.rejects(be.loadInto(h, () => Buffer.alloc(10)), RangeError)
    await assert.rejects(be.loadInto({ type: 'data', name: hashId(Buffer.from('none')) }, () => pool), NotFoundError)
  })

  it('loadInto() reads a range into the memory it is given, sized to the range', async () => {
    const { be } = await created()
    const { h, data } = file('data', 70_000)
    await be.save(h, data)
    const pool = Buffer.from(new SharedArrayBuffer(100_000))
    const sizes: number[] = []
    const got = await be.loadInto(h, (n) => (sizes.push(n), pool), 5000, 1234)
    assert.deepEqual(sizes, [1234])
    assert.deepEqual(got, data.subarray(5000, 6234))
    assert.equal(got.buffer, pool.buffer)
    assert.deepEqual(await be.loadInto(h, (n) => pool.subarray(0, n), 69_000), data.subarray(69_000), 'to the end without a length')
    await assert.rejects(be.loadInto(h, () => pool, 69_990, 20), /too short/)
    await assert.rejects(be.loadInto(h, () => pool, -1, 10), RangeError)
  })

  it('stage() writes a pack piece by piece, in any order, and publishes it read-only under its name', async () => {
    const { be, path } = await created()
    const data = randomBytes(300_000)
    const name = hashId(data)
    const staged = be.stage('data')
    // The second half first, and both halves at once.
    await Promise.all([staged.write(data.subarray(150_000), 150_000), staged.write(data.subarray(0, 150_000), 0)])
    const temps = (await readdir(join(path, 'data'), { recursive: true })).filter((f) => f.endsWith('-tmp'))
    assert.equal(temps.length, 1, 'one temp file while writing')
    assert.deepEqual(await collect(be, 'data'), [], 'listing skips it')
    await staged.commit(name)
    assert.deepEqual(await be.load({ type: 'data', name }), data)
    assert.equal(await modeOf(join(path, 'data', name.slice(0, 2), name)), 0o400)
    assert.deepEqual(await collect(be, 'data'), [{ name, size: data.length }])
    assert.deepEqual((await readdir(join(path, 'data'), { recursive: true })).filter((f) => f.endsWith('-tmp')), [])
  })

  it('stage(): commit() never replaces a pack, abort() drops the temp file, a missing data/xx is made', async () => {
    const { be, path } = await created()
    const { h, data } = file('data', 1000)
    await be.save(h, data)
    const again = be.stage('data')
    await again.write(Buffer.from('other bytes'), 0)
    await assert.rejects(again.commit(h.name), FileExistsError)
    assert.deepEqual(await be.load(h), data)

    const dropped = be.stage('data')
    await dropped.write(Buffer.from('never published'), 0)
    await dropped.abort()
    await assert.rejects(dropped.write(Buffer.from('late'), 0), /committed or dropped/)

    const other = file('data', 2000)
    await rm(join(path, 'data', other.h.name.slice(0, 2)), { recursive: true })
    const staged = be.stage('data')
    await staged.write(other.data, 0)
    await staged.commit(other.h.name)
    assert.deepEqual(await be.load(other.h), other.data)
    assert.deepEqual((await readdir(join(path, 'data'), { recursive: true })).filter((f) => f.endsWith('-tmp')), [])
  })

  it('save() of a non-data file into a repository without that directory fails with IO naming the file', async () => {
    const { be, path } = await created()
    await rm(join(path, 'snapshots'), { recursive: true })
    const { h, data } = file('snapshots', 10)
    await assert.rejects(be.save(h, data), (err: any) => {
      assert.equal(err.code, 'IO')
      assert.ok(err.message.includes(join(path, 'snapshots', h.name)), err.message)
      assert.match(err.hint, /init/)
      return true
    })
  })

  it('create() fails with REPOSITORY_EXISTS when config exists, and with IO when the path is a file', async () => {
    const { be } = await created()
    await be.save({ type: 'config', name: '' }, Buffer.from('cfg'))
    await assert.rejects(new LocalBackend(be.location).create(), { code: 'REPOSITORY_EXISTS' })
    const plain = join(root, `plain-file-${++counter}`)
    await writeFile(plain, 'x')
    await assert.rejects(new LocalBackend(join(plain, 'repo')).create(), (err: any) => {
      assert.equal(err.code, 'IO')
      assert.ok(err.message.includes(plain), err.message)
      return true
    })
  })

  it('list() of a missing repository directory yields nothing', async () => {
    const be = new LocalBackend(repoPath())
    assert.deepEqual(await collect(be, 'data'), [])
    assert.deepEqual(await collect(be, 'keys'), [])
  })
})

describe('LocalBackend listing tolerance', () => {
  it('list() skips temp files, junk names and misplaced packs', async () => {
    const { be, path } = await created()
    const snap = file('snapshots', 10)
    const pack = file('data', 10)
    await be.save(snap.h, snap.data)
    await be.save(pack.h, pack.data)
    const id = hashId(Buffer.from('junk'))
    const wrongDir = id.startsWith('00') ? '01' : '00'
    await Promise.all([
      writeFile(join(path, 'snapshots', `${id}-tmp-123456`), 'partial'),
      writeFile(join(path, 'snapshots', 'README'), 'hello'),
      writeFile(join(path, 'snapshots', id.toUpperCase()), 'upper'),
      writeFile(join(path, 'snapshots', id.slice(1)), '63 chars'),
      mkdir(join(path, 'keys', id)),
      writeFile(join(path, 'data', id), 'loose pack'),
      writeFile(join(path, 'data', wrongDir, id), 'misplaced pack'),
      mkdir(join(path, 'data', 'zz')).then(() => writeFile(join(path, 'data', 'zz', id), 'bad subdir')),
      writeFile(join(path, 'README'), 'top-level junk'),
    ])
    assert.deepEqual(await collect(be, 'snapshots'), [{ name: snap.h.name, size: 10 }])
    assert.deepEqual(await collect(be, 'data'), [{ name: pack.h.name, size: 10 }])
    assert.deepEqual(await collect(be, 'keys'), [])
  })

  it('list() asked for names only makes no stat for regular files; a symlink is still followed', async () => {
    const path = repoPath()
    let stats = 0
    const be = new LocalBackend(path, { fs: { ...fsp, stat: ((...a: Parameters<typeof fsp.stat>) => (stats++, fsp.stat(...a))) as typeof fsp.stat } })
    await be.create()
    const files = Array.from({ length: 20 }, (_, i) => file('snapshots', 10 + i))
    for (const f of files) await be.save(f.h, f.data)
    const elsewhere = await mkdtemp(join(tmpdir(), 'cairn-local-link-'))
    const linked = file('snapshots', 7)
    await writeFile(join(elsewhere, 'f'), linked.data)
    await symlink(join(elsewhere, 'f'), join(path, 'snapshots', linked.h.name))
    const toDir = hashId(Buffer.from('a folder'))
    await symlink(elsewhere, join(path, 'snapshots', toDir))
    stats = 0
    const listed: FileInfo[] = []
    for await (const f of be.list('snapshots', { namesOnly: true })) listed.push(f)
    assert.equal(stats, 2, 'only the two symlinks are looked at')
    const want = [...files.map((f) => ({ name: f.h.name, size: -1 })), { name: linked.h.name, size: 7 }]
    assert.deepEqual(sortByName(listed), sortByName(want))
    await rm(elsewhere, { recursive: true })
  })

  it('list() of data walks all 256 subdirectories', async () => {
    const { be } = await created()
    const want = new Set<string>()
    for (let i = 0; i < 256; i++) {
      const data = Buffer.from(`x${i}`)
      const name = i.toString(16).padStart(2, '0') + hashId(data).slice(2)
      await be.save({ type: 'data', name }, data)
      want.add(name)
    }
    const got = await collect(be, 'data')
    assert.equal(got.length, 256)
    assert.deepEqual(new Set(got.map((f) => f.name)), want)
  })
})

describe('LocalBackend load', () => {
  it('a ranged load reads only the range, with positional reads', async () => {
    let bytesRead = 0
    const fs = fsWithFiles((fd) =>
      withMembers(fd, {
        read: (async (buf: Buffer, off: number, len: number, pos: number) => {
          assert.equal(typeof pos, 'number', 'reads are positional')
          const r = await fd.read(buf, off, len, pos)
          bytesRead += r.bytesRead
          return r
        }) as FileHandle['read'],
      }),
    )
    const path = repoPath()
    const be = new LocalBackend(path, { fs })
    await be.create()
    const { h, data } = file('data', 8 * 1024 * 1024)
    await be.save(h, data)
    const part = await be.load(h, 5_000_000, 1234)
    assert.deepEqual(part, data.subarray(5_000_000, 5_001_234))
    assert.equal(bytesRead, 1234)
  })
})
