import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { seededBytes } from '../repository/testing.js'
import { runDump } from './dump.js'
import { cairn, initRepo, interopSkipReason, restic, resticBackup, run, tempDir, withRepo, type TempDir } from './interop-testing.js'

const skip = await interopSkipReason()
const unzipMissing = (await run('unzip', ['-v']).catch(() => undefined))?.code !== 0
const isRoot = process.getuid?.() === 0

/** One line per entry below `dir` (names as bytes): type, permissions, mtime in seconds, size or target, owner, content hash, hard-link group. */
async function describeTree(dir: string): Promise<string[]> {
  const lines: string[] = []
  const inodes = new Map<bigint, string>()
  const walk = async (abs: Buffer, rel: string) => {
    const names = (await fs.readdir(abs, { encoding: 'buffer' })).sort(Buffer.compare)
    for (const name of names) {
      const path = Buffer.concat([abs, Buffer.from('/'), name])
      const relName = `${rel}/${name.toString('hex')}`
      const st = await fs.lstat(path, { bigint: true })
      const perm = (Number(st.mode) & 0o7777).toString(8)
      const mtime = st.mtimeNs / 1_000_000_000n
      const owner = `${st.uid}:${st.gid}`
      if (st.isSymbolicLink()) lines.push(`${relName} link ${(await fs.readlink(path, { encoding: 'buffer' })).toString('hex')} ${owner}`)
      else if (st.isDirectory()) {
        lines.push(`${relName} dir ${perm} ${mtime} ${owner}`)
        await walk(path, relName)
      } else {
        const hash = createHash('sha256').update(await fs.readFile(path)).digest('hex').slice(0, 16)
        let group = ''
        if (st.nlink > 1n) {
          group = inodes.get(st.ino) ?? relName
          inodes.set(st.ino, group)
        }
        lines.push(`${relName} file ${perm} ${mtime} ${st.size} ${owner} ${hash} ${group}`)
      }
    }
  }
  await walk(Buffer.from(dir), '')
  return lines
}

describe('runDump()', { skip }, () => {
  let tmp: TempDir
  let repo: string
  let src: string
  let snapshot: string
  const big = seededBytes(3, 5_000_000)

  before(async () => {
    tmp = await tempDir('dump')
    src = join(tmp.path, 'src')
    const deep = join(src, 'a-rather-long-directory-name-to-need-more-than-one-hundred-bytes', 'and-another-level-of-long-names-here', 'third')
    await fs.mkdir(deep, { recursive: true })
    await fs.writeFile(join(deep, 'a-file-whose-full-path-is-well-over-one-hundred-bytes-long-for-ustar.txt'), 'deep\n')
    await fs.mkdir(join(src, 'private'), { mode: 0o750 })
    await fs.writeFile(join(src, 'private', 'secret'), 'secret\n', { mode: 0o600 })
    await fs.writeFile(join(src, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 })
    await fs.chmod(join(src, 'run.sh'), 0o4755)
    await fs.writeFile(join(src, 'big.bin'), big)
    await fs.writeFile(join(src, 'empty'), '')
    await fs.writeFile(join(src, 'ünïcödé-näme.txt'), 'utf-8 name\n')
    await fs.writeFile(Buffer.from(`${src}/latin1-\xe9.txt`, 'latin1'), 'not utf-8 name\n')
    await fs.writeFile(join(src, 'linked-1'), 'hard linked\n')
    await fs.link(join(src, 'linked-1'), join(src, 'private', 'linked-2'))
    await fs.symlink('run.sh', join(src, 'relative-link'))
    await fs.symlink('/etc/hostname', join(src, 'absolute-link'))
    if (isRoot) await fs.chown(join(src, 'empty'), 1234, 5678)
    // fixed times, with a fraction that the tar keeps as whole seconds
    const t = new Date('2021-03-04T05:06:07.891Z')
    for (const p of ['private/secret', 'run.sh', 'big.bin', 'empty', 'private']) await fs.utimes(join(src, p), t, t)
    repo = join(tmp.path, 'repo')
    await initRepo(repo)
    snapshot = await resticBackup(repo, src)
  })
  after(() => tmp.remove())

  it('dumps a directory as a tar that tar -x turns into the same tree', async () => {
    const tar = join(tmp.path, 'dump.tar')
    const r = await cairn(repo, ['dump', '--target', tar, snapshot.slice(0, 8), src])
    assert.equal(r.code, 0, r.stderr)
    const out = join(tmp.path, 'from-tar')
    await fs.mkdir(out)
    const x = await run('tar', ['-x', '--numeric-owner', '-f', tar, '-C', out])
    assert.equal(x.code, 0, x.stderr)
    assert.equal(x.stderr, '', 'tar has nothing to complain about')
    // the archive holds the directory's contents under their snapshot paths
    const ours = await describeTree(join(out, src))
    const want = await describeTree(src)
    assert.deepEqual(ours, want)
    assert.ok(ours.some((l) => / file 4755 /.test(l)), 'the setuid bit survives')
    assert.equal(ours.filter((l) => l.includes(' file ') && !l.endsWith(' ')).length, 2, 'the two hard links are one file again')
  })

  it('dumps a directory as a zip that unzip lists and extracts with the same contents', { skip: unzipMissing ? 'unzip is not installed' : false }, async () => {
    const zip = join(tmp.path, 'dump.zip')
    const r = await cairn(repo, ['dump', '--archive', 'zip', '--zip-method', 'deflate', snapshot, `${src}/private`])
    assert.equal(r.code, 0, r.stderr)
    await fs.writeFile(zip, r.bytes)
    const list = await run('unzip', ['-l', zip])
    assert.equal(list.code, 0, list.stderr)
    const rel = src.slice(1)
    assert.match(list.stdout, new RegExp(`\\s7\\s.*${rel}/private/secret\\n`))
    assert.match(list.stdout, new RegExp(`${rel}/private/linked-2\\n`))
    assert.equal((await run('unzip', ['-t', zip])).code, 0)
    const out = join(tmp.path, 'from-zip')
    assert.equal((await run('unzip', ['-q', zip, '-d', out])).code, 0)
    assert.equal(await fs.readFile(join(out, src, 'private', 'secret'), 'utf8'), 'secret\n')
    assert.equal(((await fs.stat(join(out, src, 'private', 'secret'))).mode & 0o777).toString(8), '600')
  })

  it('writes a single file\'s content, byte for byte, as restic does', async () => {
    const [ours, theirs] = await Promise.all([cairn(repo, ['dump', snapshot, `${src}/big.bin`]), restic(repo, ['dump', snapshot, `${src}/big.bin`])])
    assert.equal(ours.code, 0, ours.stderr)
    assert.ok(ours.bytes.equals(big), 'the dumped file equals the original')
    assert.ok(theirs.bytes.equals(ours.bytes))
  })

  it('names what is wrong: a missing path, a symlink, an unknown format', async () => {
    const missing = await cairn(repo, ['dump', snapshot, `${src}/nope`])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /not found in the snapshot/)
    await assert.rejects(
      withRepo(repo, (r) => runDump(r, { snapshot, path: `${src}/relative-link` })),
      /is a symlink, not a file or directory/,
    )
    await assert.rejects(
      withRepo(repo, (r) => runDump(r, { snapshot, path: src, archive: 'rar' as 'tar' })),
      /Unknown archive format "rar"/,
    )
    // SNAPSHOT:PATH is cleaned as restic cleans it.
    const viaParent = await cairn(repo, ['dump', `${snapshot}:${src}/private/..`, 'run.sh'])
    assert.equal(viaParent.code, 0, viaParent.stderr)
    assert.equal(viaParent.bytes.toString(), '#!/bin/sh\n')
    const target = join(tmp.path, 'not-left-behind.tar')
    await assert.rejects(withRepo(repo, (r) => runDump(r, { snapshot, path: `${src}/nope`, target })))
    await assert.rejects(fs.stat(target), 'no file is created for a dump that fails before writing')
  })

  it('removes the incomplete file a failed dump wrote, but never a device or a symlink given as --target', async () => {
    // A failed dump to -t /dev/null or -t /dev/stdout removed them.
    const stopped = () => AbortSignal.abort(new Error('stopped'))
    const file = join(tmp.path, 'incomplete.tar')
    await assert.rejects(withRepo(repo, (r) => runDump(r, { snapshot, path: src, target: file, signal: stopped() })))
    await assert.rejects(fs.stat(file), 'the incomplete archive is removed')
    const real = join(tmp.path, 'real.tar')
    const link = join(tmp.path, 'link.tar')
    await fs.writeFile(real, 'x')
    await fs.symlink(real, link)
    await assert.rejects(withRepo(repo, (r) => runDump(r, { snapshot, path: src, target: link, signal: stopped() })))
    assert.ok((await fs.lstat(link)).isSymbolicLink(), 'the symlink is kept')
    assert.ok((await fs.lstat(real)).isFile(), 'and so is what it leads to')
    if (isRoot) {
      const device = join(tmp.path, 'null')
      assert.equal((await run('mknod', ['-m', '666', device, 'c', '1', '3'])).code, 0)
      await assert.rejects(withRepo(repo, (r) => runDump(r, { snapshot, path: src, target: device, signal: stopped() })))
      assert.ok((await fs.lstat(device)).isCharacterDevice(), 'the device node is kept')
    }
  })
})
