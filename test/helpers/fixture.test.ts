import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { makeFixtureTree } from './fixture.js'
import type { FixtureInfo } from './fixture.js'
import { getXattrs } from './xattr.js'
import { makeTempRoot } from './restic.js'
import type { TempRoot } from './restic.js'

describe('makeFixtureTree()', () => {
  let tmp: TempRoot
  let info: FixtureInfo
  let elapsedMs: number

  before(async () => {
    tmp = await makeTempRoot('fixture')
    const start = performance.now()
    info = await makeFixtureTree(join(tmp.path, 'src'))
    elapsedMs = performance.now() - start
  })
  after(() => tmp?.cleanup())

  const entry = (rel: string | Buffer) => {
    const key = typeof rel === 'string' ? Buffer.from(rel) : rel
    const e = info.entries.find((x) => x.path.equals(key))
    assert.ok(e, `fixture has no entry ${String(rel)}`)
    return e
  }
  const lstat = (rel: string | Buffer) =>
    fs.lstat(Buffer.concat([Buffer.from(info.root + '/'), typeof rel === 'string' ? Buffer.from(rel) : rel]), {
      bigint: true,
    })

  test('is created within seconds', () => {
    // About one second on an idle 2-core machine; the margin absorbs parallel test files.
    assert.ok(elapsedMs < 5000, `took ${Math.round(elapsedMs)} ms`)
  })

  test('has empty files, a 512 KiB file and two files over 8 MiB', () => {
    assert.ok(info.entries.filter((e) => e.type === 'file' && e.size === 0).length >= 2)
    assert.equal(entry(info.samples.exact512k).size, 524288)
    assert.ok(entry(info.samples.bigRandom).size > 8 * 1024 * 1024)
    assert.ok(entry(info.samples.bigText).size > 8 * 1024 * 1024)
  })

  test('has a relative, an absolute and a dangling symlink', async () => {
    assert.equal(await fs.readlink(join(info.root, 'links/relative')), '../exact-512KiB.bin')
    assert.match(await fs.readlink(join(info.root, 'links/absolute')), /^\//)
    await assert.rejects(fs.stat(join(info.root, 'links/dangling')), { code: 'ENOENT' })
  })

  test('has a hard-link pair and a triple across directories', async () => {
    const a = await lstat(info.samples.hardLinkA)
    const b = await lstat(info.samples.hardLinkB)
    assert.equal(a.ino, b.ino)
    assert.equal(a.nlink, 2n)
    const t1 = await lstat('hardlinks/triple-1')
    const t3 = await lstat('data/triple-3')
    assert.equal(t1.ino, t3.ino)
    assert.equal(t1.nlink, 3n)
  })

  test('has a fifo, nested empty directories and special mode bits', async () => {
    assert.ok((await lstat('fifo')).isFIFO())
    assert.deepEqual(await fs.readdir(join(info.root, 'empty-nested/a/b/c')), [])
    assert.equal((await lstat('modes/setgid-2755')).mode & 0o7777n, 0o2755n)
    assert.equal((await lstat('modes/readonly-0444')).mode & 0o7777n, 0o444n)
    assert.equal((await lstat('modes/dir-0700')).mode & 0o7777n, 0o700n)
  })

  test('has names with quotes, backslashes, control characters and a non-UTF-8 byte', () => {
    for (const name of ['quote"name', 'back\\slash', 'new\nline', 'tab\there', 'ünï', 'a<b>&c']) entry(`names/${name}`)
    const bad = entry(info.samples.nonUtf8)
    assert.equal(bad.path[bad.path.length - 1], 0xff)
  })

  test('gives entries fixed mtimes with sub-microsecond parts', () => {
    const withNs = info.entries.filter((e) => e.mtimeNs % 1000n !== 0n)
    assert.ok(withNs.length > info.entries.length / 2, 'most mtimes should have nanosecond parts')
    assert.ok(info.entries.every((e) => e.mtimeNs < 1_700_000_000_000_000_000n), 'mtimes must be fixed, not now')
  })

  test('sets xattrs on a file, a directory and a non-UTF-8 name when supported', async (t) => {
    if (!info.xattrs) return t.skip('the temporary file system does not support user xattrs')
    const file = await getXattrs(Buffer.from(join(info.root, 'xattr-file.txt')))
    assert.deepEqual(file.get('user.binary'), Buffer.from([0, 1, 2, 0xff, 0xfe, 0x0a]))
    assert.deepEqual(file.get('user.empty'), Buffer.alloc(0))
    const dir = await getXattrs(Buffer.from(join(info.root, 'xattr-dir')))
    assert.equal(dir.get('user.dir-note')?.toString(), 'a directory attribute')
    const bad = await getXattrs(Buffer.concat([Buffer.from(info.root + '/'), info.samples.nonUtf8]))
    assert.equal(bad.get('user.on-bad-name')?.toString(), 'xattr on a non-utf-8 name')
  })

  test('gives files to other owners when running as root', async (t) => {
    if (!info.owners) return t.skip('not running as root')
    const st = await lstat('owners/other-file')
    assert.equal(st.uid, 1234n)
    assert.equal(st.gid, 5678n)
  })
})
