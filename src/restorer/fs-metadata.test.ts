import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { lstat, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { getAttribute } from '@napi-rs/xattr'
import { isAppError } from '../base/index.js'
import { formatGoTime, parseGoTime } from '../snapshots/go-time.js'
import type { Node, NodeType } from '../snapshots/node.js'
import { applyMetadata, applyMetadataToFd } from './fs-metadata.js'
import { createSpecialFile, splitDevice } from './special-files.js'
import { supportsUserXattrs } from '../localfs/testing.js'

const run = promisify(execFile)
const isRoot = process.getuid?.() === 0
const GO_DIR = 2 ** 31
const GO_SYMLINK = 2 ** 27
const GO_SETUID = 2 ** 23
const GO_SETGID = 2 ** 22
const GO_STICKY = 2 ** 20
const GO_DEVICE = 2 ** 26
const GO_CHAR_DEVICE = 2 ** 21
const GO_NAMED_PIPE = 2 ** 25

let dir: string
let userXattrs = true

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-fs-metadata-'))
  userXattrs = await supportsUserXattrs(dir)
})
after(() => rm(dir, { recursive: true, force: true }))

function makeNode(type: NodeType, mode: number, fields: Partial<Node> = {}): Node {
  const mtime = '2023-11-14T22:13:20.123456789Z'
  return {
    name: Buffer.from('x'),
    type,
    mode,
    mtime,
    atime: mtime,
    ctime: mtime,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    inode: 0n,
    deviceId: 0n,
    size: 0,
    links: 0,
    content: type === 'file' ? [] : null,
    ...fields,
  }
}

const noOwner = { owner: false, xattrs: true }

describe('applyMetadata()', () => {
  test('sets mtime and atime from the Go time text to within one microsecond', async () => {
    const cases = [
      '2023-11-14T22:13:20.123456789Z',
      '2023-11-14T23:13:20.999999999+01:00',
      '2023-11-14T22:13:20.000000001Z',
      '2023-11-14T22:13:20Z',
      '2038-01-19T03:14:08.5000005Z',
      '1969-12-31T23:59:58.750000001Z',
    ]
    for (const [i, mtime] of cases.entries()) {
      const path = join(dir, `times-${i}`)
      await writeFile(path, 'x')
      const atime = formatGoTime(parseGoTime(mtime) - 86_400_123_456_789n, 0)
      assert.deepEqual(await applyMetadata(path, makeNode('file', 0o644, { mtime, atime }), noOwner), [])
      const st = await lstat(path, { bigint: true })
      for (const [got, text] of [[st.mtimeNs, mtime], [st.atimeNs, atime]] as const) {
        const want = parseGoTime(text)
        const diff = want - got
        assert.ok(diff >= 0n && diff < 1000n, `${text}: got ${got}, want ${want} truncated to the microsecond`)
      }
    }
  })

  test('sets setuid, setgid and sticky bits along with the permissions', async () => {
    const file = join(dir, 'suid')
    await writeFile(file, '')
    await applyMetadata(file, makeNode('file', GO_SETUID + GO_SETGID + 0o750), noOwner)
    assert.equal((await stat(file)).mode & 0o7777, 0o6750)
    const sticky = join(dir, 'sticky')
    await mkdir(sticky)
    await applyMetadata(sticky, makeNode('dir', GO_DIR + GO_STICKY + 0o777), noOwner)
    assert.equal((await stat(sticky)).mode & 0o7777, 0o1777)
  })

  test('keeps setuid after changing the owner, which clears it', async (t) => {
    if (!isRoot) return t.skip('chown to another user needs root')
    const file = join(dir, 'owned')
    await writeFile(file, '')
    const warnings = await applyMetadata(file, makeNode('file', GO_SETUID + 0o755, { uid: 1234, gid: 5678 }), {
      owner: true,
      xattrs: true,
    })
    assert.deepEqual(warnings, [])
    const st = await stat(file)
    assert.equal(st.uid, 1234)
    assert.equal(st.gid, 5678)
    assert.equal(st.mode & 0o7777, 0o4755)
  })

  test('applyMetadataToFd() sets owner, mode (setuid kept) and times through the open descriptor', async (t) => {
    const file = join(dir, 'by-fd')
    const fd = openSync(file, 'w', 0o600)
    let warnings: string[]
    try {
      const mtime = '2001-02-03T04:05:06.789012345Z'
      const owner = isRoot ? { uid: 1234, gid: 5678 } : {}
      warnings = applyMetadataToFd(fd, file, makeNode('file', GO_SETUID + 0o750, { mtime, atime: mtime, ...owner }), isRoot)
    } finally {
      closeSync(fd)
    }
    assert.deepEqual(warnings, [])
    const st = await stat(file, { bigint: true })
    assert.equal(Number(st.mode & 0o7777n), 0o4750)
    assert.equal(st.mtimeNs, 981173106789012000n)
    assert.equal(st.atimeNs, 981173106789012000n)
    if (!isRoot) return t.skip('chown to another user needs root')
    assert.equal(st.uid, 1234n)
    assert.equal(st.gid, 5678n)
  })

  test('applyMetadataToFd() warns of a step that fails and goes on with the others', async (t) => {
    if (isRoot) return t.skip('root may give files away')
    const file = join(dir, 'by-fd-warn')
    const fd = openSync(file, 'w', 0o600)
    let warnings: string[]
    try {
      warnings = applyMetadataToFd(fd, file, makeNode('file', 0o640, { uid: 0, gid: 0 }), true)
    } finally {
      closeSync(fd)
    }
    assert.equal(warnings.length, 1)
    assert.match(warnings[0], /Cannot set owner 0:0 of ".*by-fd-warn"/)
    assert.equal((await stat(file)).mode & 0o7777, 0o640)
  })

  test('leaves the owner alone when owner is false', async () => {
    const file = join(dir, 'not-owned')
    await writeFile(file, '')
    await applyMetadata(file, makeNode('file', 0o644, { uid: 4321, gid: 4321 }), noOwner)
    assert.equal((await stat(file)).uid, process.getuid?.())
  })

  test('sets a symlink\'s own times and leaves its target untouched', async () => {
    const target = join(dir, 'link-target')
    await writeFile(target, 'x')
    const before = await stat(target, { bigint: true })
    const link = join(dir, 'link')
    await symlink('link-target', link)
    const warnings = await applyMetadata(link, makeNode('symlink', GO_SYMLINK + 0o777, { mtime: '2001-02-03T04:05:06.789Z' }), noOwner)
    assert.deepEqual(warnings, [])
    assert.equal((await lstat(link, { bigint: true })).mtimeNs, parseGoTime('2001-02-03T04:05:06.789Z'))
    const afterward = await stat(target, { bigint: true })
    assert.equal(afterward.mtimeNs, before.mtimeNs)
    assert.equal(afterward.mode, before.mode)
  })

  test('writes extended attributes, even on a file whose mode is read-only', async (t) => {
    if (!userXattrs) return t.skip('the temp file system refuses user.* extended attributes')
    const file = join(dir, 'tagged')
    await writeFile(file, 'x')
    const xattrs = [
      { name: 'user.comment', value: Buffer.from('xattr-value') },
      { name: 'user.empty', value: Buffer.alloc(0) },
    ]
    assert.deepEqual(await applyMetadata(file, makeNode('file', 0o444, { xattrs }), noOwner), [])
    assert.deepEqual(await getAttribute(file, 'user.comment'), Buffer.from('xattr-value'))
    assert.deepEqual(await getAttribute(file, 'user.empty'), Buffer.alloc(0))
    assert.equal((await stat(file)).mode & 0o777, 0o444)

    const skipped = join(dir, 'untagged')
    await writeFile(skipped, 'x')
    await applyMetadata(skipped, makeNode('file', 0o644, { xattrs }), { owner: false, xattrs: false })
    assert.equal(await getAttribute(skipped, 'user.comment'), null)
  })

  test('returns a warning for an attribute the file system refuses and still sets the rest', async () => {
    const file = join(dir, 'refused')
    await writeFile(file, 'x')
    const mtime = '2020-01-02T03:04:05.678Z'
    const node = makeNode('file', 0o600, { mtime, xattrs: [{ name: 'bogus.namespace', value: Buffer.from('v') }] })
    const warnings = await applyMetadata(file, node, noOwner)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0], /^Cannot set extended attribute "bogus\.namespace" of ".*refused"/)
    const st = await lstat(file, { bigint: true })
    assert.equal(st.mtimeNs, parseGoTime(mtime))
    assert.equal(Number(st.mode) & 0o777, 0o600)
  })

  test('works on non-UTF-8 Buffer paths, xattrs included', async (t) => {
    const prefix = Buffer.from(dir + '/')
    const file = Buffer.concat([prefix, Buffer.from([0x63, 0x61, 0x66, 0xe9])])
    const subdir = Buffer.concat([prefix, Buffer.from([0x64, 0xff])])
    await writeFile(file, 'x')
    await mkdir(subdir)
    const inner = Buffer.concat([subdir, Buffer.from('/inner')])
    await writeFile(inner, 'x')
    const xattrs = userXattrs ? [{ name: 'user.comment', value: Buffer.from([1, 2, 3]) }] : undefined
    const mtime = '2019-05-06T07:08:09.123456Z'
    for (const [path, node] of [
      [file, makeNode('file', 0o640, { mtime, xattrs })],
      [subdir, makeNode('dir', GO_DIR + 0o750, { mtime, xattrs })],
      [inner, makeNode('file', 0o604, { mtime, xattrs })],
    ] as const) {
      assert.deepEqual(await applyMetadata(path, node, noOwner), [], String(path))
      const st = await lstat(path, { bigint: true })
      assert.equal(st.mtimeNs, parseGoTime(mtime))
      assert.equal(Number(st.mode) & 0o777, node.mode & 0o777)
    }
    if (!userXattrs) return t.skip('the temp file system refuses user.* extended attributes')
    for (const path of [file, subdir, inner]) {
      const octal = [...path].map((b) => '\\' + b.toString(8).padStart(3, '0')).join('')
      const { stdout } = await run('sh', ['-c', `getfattr --only-values -n user.comment -- "$(printf '${octal}')" | od -An -tu1`])
      assert.equal(stdout.trim().split(/\s+/).join(','), '1,2,3', String(path))
    }
  })

  test('rejects with an IO error when the entry does not exist', async () => {
    await assert.rejects(applyMetadata(join(dir, 'missing'), makeNode('file', 0o644), noOwner), (err) => isAppError(err, 'IO'))
  })
})

describe('createSpecialFile()', () => {
  test('creates a fifo with the node\'s permissions', async () => {
    const path = join(dir, 'fifo')
    await createSpecialFile(path, makeNode('fifo', GO_NAMED_PIPE + 0o640))
    const st = await lstat(path)
    assert.ok(st.isFIFO())
    assert.equal(st.mode & 0o777, 0o640)
  })

  test('creates a fifo under a non-UTF-8 name without leaving a temporary entry', async () => {
    const sub = join(dir, 'raw-names')
    await mkdir(sub)
    const name = Buffer.from([0x66, 0x69, 0xff])
    const path = Buffer.concat([Buffer.from(sub + '/'), name])
    await createSpecialFile(path, makeNode('fifo', GO_NAMED_PIPE + 0o600))
    assert.ok((await lstat(path)).isFIFO())
    assert.deepEqual(await readdir(sub, { encoding: 'buffer' }), [name])

    const rawDir = Buffer.concat([Buffer.from(sub + '/'), Buffer.from([0xfe])])
    await mkdir(rawDir)
    const inRawDir = Buffer.concat([rawDir, Buffer.from('/pipe')])
    await createSpecialFile(inRawDir, makeNode('fifo', GO_NAMED_PIPE + 0o600))
    assert.ok((await lstat(inRawDir)).isFIFO())
  })

  test('rejects with an IO error when the path exists', async () => {
    const path = join(dir, 'exists')
    await writeFile(path, '')
    await assert.rejects(createSpecialFile(path, makeNode('fifo', GO_NAMED_PIPE + 0o644)), (err) => isAppError(err, 'IO'))
  })

  test('rejects node types that are not special files', async () => {
    await assert.rejects(createSpecialFile(join(dir, 'plain'), makeNode('file', 0o644)), (err) => isAppError(err, 'INVALID_ARGUMENT'))
  })

  test('creates character and block devices from the Linux st_rdev', async (t) => {
    if (!isRoot) return t.skip('mknod needs root')
    const chardev = join(dir, 'null')
    await createSpecialFile(chardev, makeNode('chardev', GO_DEVICE + GO_CHAR_DEVICE + 0o644, { device: 259n }))
    const c = await lstat(chardev, { bigint: true })
    assert.ok(c.isCharacterDevice())
    assert.equal(c.rdev, 259n)
    assert.equal(Number(c.mode) & 0o777, 0o644)
    const block = join(dir, 'loop')
    await createSpecialFile(block, makeNode('dev', GO_DEVICE + 0o600, { device: 1992n }))
    const b = await lstat(block, { bigint: true })
    assert.ok(b.isBlockDevice())
    assert.equal(b.rdev, 1992n)
    const big = join(dir, 'big')
    // makedev(0xabc, 0xdef12): the widest numbers Linux's 32-bit dev_t holds (12-bit major, 20-bit minor).
    await createSpecialFile(big, makeNode('chardev', GO_DEVICE + GO_CHAR_DEVICE + 0o600, { device: 0xdefa_bc12n }))
    assert.equal((await lstat(big, { bigint: true })).rdev, 0xdefa_bc12n)
  })
})

describe('splitDevice()', () => {
  test('decodes glibc makedev numbers, including ones above 8 bits of minor and 12 of major', () => {
    assert.deepEqual(splitDevice(259n), [1n, 3n])
    assert.deepEqual(splitDevice(1992n), [7n, 200n])
    assert.deepEqual(splitDevice(0n), [0n, 0n])
    // makedev(0x1234, 0x56789): minor low byte, major low 12 bits, minor high bits, major high bits.
    assert.deepEqual(splitDevice(0x1000_5672_3489n), [0x1234n, 0x56789n])
    assert.deepEqual(splitDevice(0xdefa_bc12n), [0xabcn, 0xdef12n])
  })
})
