import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { after, before, describe, test } from 'node:test'
import { setTimesNs } from './byte-path-shell.js'
import { compareTrees, showPath } from './compare-trees.js'
import { makeFixtureTree } from './fixture.js'
import type { FixtureInfo } from './fixture.js'
import { makeTempRoot } from './restic.js'
import type { TempRoot } from './restic.js'
import { setXattr } from './xattr.js'

const execFileP = promisify(execFile)

describe('compareTrees()', () => {
  let tmp: TempRoot
  let info: FixtureInfo
  let copies = 0

  before(async () => {
    tmp = await makeTempRoot('compare')
    info = await makeFixtureTree(join(tmp.path, 'src'))
  })
  after(() => tmp?.cleanup())

  /** A fresh `cp -a` copy of the fixture (cp keeps ns times, owners, xattrs and hard links). */
  async function copy(): Promise<string> {
    const dest = join(tmp.path, `copy-${copies++}`)
    await execFileP('cp', ['-a', info.root, dest])
    return dest
  }
  const abs = (root: string, rel: string | Buffer) =>
    Buffer.concat([Buffer.from(root + '/'), typeof rel === 'string' ? Buffer.from(rel) : rel])
  /** Runs a change, then puts back the mtimes of the given paths so only the change remains. */
  async function keepingTimes(root: string, rels: (string | Buffer)[], change: () => Promise<void>) {
    const saved = await Promise.all(rels.map(async (r) => ({ path: abs(root, r), ns: (await fs.lstat(abs(root, r), { bigint: true })).mtimeNs })))
    await change()
    await setTimesNs(saved)
  }

  test('finds no difference between the fixture and an exact copy', async () => {
    assert.deepEqual(await compareTrees(info.root, await copy(), { mtimeToleranceNs: 0 }), [])
  })

  test('reports a changed byte in a file of the same size', async () => {
    const dest = await copy()
    await keepingTimes(dest, [info.samples.bigRandom], async () => {
      const fh = await fs.open(join(dest, info.samples.bigRandom), 'r+')
      await fh.write(Buffer.from([0x42]), 0, 1, 8 * 1024 * 1024 + 3)
      await fh.close()
    })
    assert.deepEqual(await compareTrees(info.root, dest), ['"big-random.bin": content differs'])
  })

  test('reports lost permission and setgid bits', async () => {
    const dest = await copy()
    await fs.chmod(join(dest, 'modes/private-0600'), 0o640)
    await fs.chmod(join(dest, 'modes/setgid-2755'), 0o755)
    assert.deepEqual(await compareTrees(info.root, dest), [
      '"modes/private-0600": mode 100600 != 100640',
      '"modes/setgid-2755": mode 42755 != 40755',
    ])
  })

  test('reports an mtime off by more than the tolerance, also for directories', async () => {
    const dest = await copy()
    const file = (await fs.lstat(join(dest, 'data/text-10.txt'), { bigint: true })).mtimeNs
    const dir = (await fs.lstat(join(dest, 'empty-single'), { bigint: true })).mtimeNs
    await setTimesNs([
      { path: abs(dest, 'data/text-10.txt'), ns: file + 1001n },
      { path: abs(dest, 'empty-single'), ns: dir + 400n },
    ])
    assert.deepEqual(await compareTrees(info.root, dest), [`"data/text-10.txt": mtime ${file}ns != ${file + 1001n}ns`])
    assert.deepEqual(await compareTrees(info.root, dest, { mtimeToleranceNs: 0 }), [
      `"data/text-10.txt": mtime ${file}ns != ${file + 1001n}ns`,
      `"empty-single": mtime ${dir}ns != ${dir + 400n}ns`,
    ])
    assert.deepEqual(await compareTrees(info.root, dest, { mtimes: false }), [])
  })

  test('reports a changed symlink target and a changed symlink mtime', async () => {
    const dest = await copy()
    await keepingTimes(dest, ['links'], async () => {
      await fs.unlink(join(dest, 'links/dangling'))
      await fs.symlink('elsewhere', join(dest, 'links/dangling'))
    })
    const diffs = await compareTrees(info.root, dest)
    assert.equal(diffs.length, 2, diffs.join('\n'))
    assert.match(diffs[0], /^"links\/dangling": mtime \d+ns != \d+ns$/)
    assert.equal(diffs[1], '"links/dangling": link target "does/not/exist" != "elsewhere"')
    assert.deepEqual(await compareTrees(info.root, dest, { symlinkMtimes: false }), [diffs[1]])
  })

  test('reports changed and missing extended attributes, also on a non-UTF-8 name', async (t) => {
    if (!info.xattrs) return t.skip('the temporary file system does not support user xattrs')
    const dest = await copy()
    await setXattr(abs(dest, 'xattr-file.txt'), 'user.comment', 'changed')
    await setXattr(abs(dest, info.samples.nonUtf8), 'user.extra', Buffer.from([0xff]))
    await execFileP('setfattr', ['-x', 'user.dir-note', join(dest, 'xattr-dir')])
    assert.deepEqual(await compareTrees(info.root, dest), [
      '"names/bad\\xff": xattr user.extra only in second tree',
      '"xattr-dir": xattr user.dir-note missing in second tree',
      '"xattr-file.txt": xattr user.comment "hello from cairn" != "changed"',
    ])
  })

  test('reports a hard link that became a separate file', async () => {
    const dest = await copy()
    const b = join(dest, info.samples.hardLinkB)
    await keepingTimes(dest, ['hardlinks'], async () => {
      const data = await fs.readFile(b)
      const st = await fs.lstat(b, { bigint: true })
      await fs.unlink(b)
      await fs.writeFile(b, data, { mode: 0o644 })
      await setTimesNs([{ path: Buffer.from(b), ns: st.mtimeNs }])
    })
    assert.deepEqual(await compareTrees(info.root, dest), [
      '"hardlinks/pair-a": hard links ["hardlinks/pair-a", "hardlinks/pair-b"] != ["hardlinks/pair-a"]',
      '"hardlinks/pair-b": hard links ["hardlinks/pair-a", "hardlinks/pair-b"] != ["hardlinks/pair-b"]',
    ])
  })

  test('reports missing, extra and retyped entries by their raw names', async () => {
    const dest = await copy()
    await keepingTimes(dest, ['names', '.'], async () => {
      await fs.unlink(abs(dest, info.samples.nonUtf8))
      await fs.writeFile(abs(dest, Buffer.from('names/extra\n')), 'x')
      await fs.unlink(join(dest, 'fifo'))
      await fs.writeFile(join(dest, 'fifo'), '')
    })
    assert.deepEqual(await compareTrees(info.root, dest), [
      '"fifo": type fifo != file',
      '"names/bad\\xff": missing in second tree',
      '"names/extra\\n": only in second tree',
    ])
  })

  test('reports a changed owner when running as root', async (t) => {
    if (!info.owners) return t.skip('not running as root')
    const dest = await copy()
    await fs.lchown(join(dest, 'owners/other-link'), 0, 0)
    assert.deepEqual(await compareTrees(info.root, dest), ['"owners/other-link": owner 1234:5678 != 0:0'])
    assert.deepEqual(await compareTrees(info.root, dest, { owners: false }), [])
  })

  test('showPath() escapes bytes that are not UTF-8 and quotes the rest as JSON', () => {
    assert.equal(showPath(Buffer.from([0x61, 0xff, 0x22])), '"a\\xff\\x22"')
    assert.equal(showPath(Buffer.from('tab\tü')), '"tab\\tü"')
    assert.equal(showPath(Buffer.alloc(0)), '.')
  })
})
