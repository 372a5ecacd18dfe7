import assert from 'node:assert/strict'
import { encodeTree } from '../snapshots/index.js'
import { execFile, execFileSync } from 'node:child_process'
import { chmod, link, lstat, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { setAttribute } from '@napi-rs/xattr'
import { parseGoTime } from '../snapshots/go-time.js'
import type { Node } from '../snapshots/node.js'
import { nodeFromStat, type NodeFromStatOptions } from './fs-node.js'
import { UserNames } from './user-names.js'
import { supportsUserXattrs } from '../localfs/testing.js'

const run = promisify(execFile)
const isRoot = process.getuid?.() === 0
const users = new UserNames()
const opts: NodeFromStatOptions = { readXattrs: true, users }

let dir: string
let userXattrs = true

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-fs-node-'))
  userXattrs = await supportsUserXattrs(dir)
})
after(() => rm(dir, { recursive: true, force: true }))

async function nodeOf(name: string | Buffer, options: NodeFromStatOptions = opts): Promise<Node | null> {
  const path = typeof name === 'string' ? join(dir, name) : Buffer.concat([Buffer.from(dir + '/'), name])
  const base = typeof name === 'string' ? Buffer.from(name) : name
  return nodeFromStat(base, path, await lstat(path, { bigint: true }), options)
}

/** What coreutils `stat` reports, as an independent reference. */
async function statTool(path: string) {
  const { stdout } = await run('stat', ['--printf', '%i|%d|%h|%s|%u|%g|%U|%G|%.9Y|%.9Z', path])
  const [ino, dev, links, size, uid, gid, user, group, mtime, ctime] = stdout.split('|')
  const ns = (s: string) => BigInt(s.replace('.', ''))
  return { ino: BigInt(ino), dev: BigInt(dev), links: +links, size: +size, uid: +uid, gid: +gid, user, group, mtimeNs: ns(mtime), ctimeNs: ns(ctime) }
}

function mustNode(node: Node | null): Node {
  assert.ok(node, 'expected a node')
  return node
}

describe('nodeFromStat()', () => {
  test('builds a file node whose fields match what stat reports', async () => {
    await writeFile(join(dir, 'hello.txt'), 'hello world\n')
    await chmod(join(dir, 'hello.txt'), 0o640)
    const node = mustNode(await nodeOf('hello.txt'))
    const ref = await statTool(join(dir, 'hello.txt'))
    assert.equal(node.type, 'file')
    assert.deepEqual(node.name, Buffer.from('hello.txt'))
    assert.equal(node.mode, 0o640)
    assert.equal(node.size, 12)
    assert.equal(node.links, 1)
    assert.equal(node.inode, ref.ino)
    assert.equal(node.deviceId, ref.dev)
    assert.equal(node.uid, ref.uid)
    assert.equal(node.gid, ref.gid)
    assert.equal(node.user, ref.user)
    assert.equal(node.group, ref.group)
    assert.equal(parseGoTime(node.mtime), ref.mtimeNs)
    assert.equal(parseGoTime(node.ctime), ref.ctimeNs)
    assert.equal(node.atime, node.mtime, 'restic stores mtime as atime')
    assert.deepEqual(node.content, [])
    assert.equal(node.subtree, undefined)
    assert.equal(node.linktarget, undefined)
    assert.equal(node.device, undefined)
  })

  test('builds a dir node without links or size and with a null content', async () => {
    await mkdir(join(dir, 'sub'))
    await chmod(join(dir, 'sub'), 0o750)
    const node = mustNode(await nodeOf('sub'))
    assert.equal(node.type, 'dir')
    assert.equal(node.mode, 2 ** 31 + 0o750)
    assert.equal(node.links, 0)
    assert.equal(node.size, 0)
    assert.equal(node.content, null)
    assert.equal(node.inode, (await statTool(join(dir, 'sub'))).ino)
  })

  test('records a symlink target, also for a dangling link, and reads no xattrs from it', async () => {
    await writeFile(join(dir, 'target'), 'x')
    await symlink('target', join(dir, 'link'))
    await symlink('does/not/exist', join(dir, 'dangling'))
    const node = mustNode(await nodeOf('link'))
    assert.equal(node.type, 'symlink')
    assert.equal(node.mode, 2 ** 27 + 0o777)
    assert.equal(node.linktarget, 'target')
    assert.equal(node.links, 1)
    assert.equal(node.size, 0)
    assert.equal(node.content, null)
    assert.equal(node.xattrs, undefined)
    const dangling = mustNode(await nodeOf('dangling'))
    assert.equal(dangling.linktarget, 'does/not/exist')
  })

  test('stores a non-UTF-8 symlink target with one \\ufffd per invalid byte in the tree, as Go does', async () => {
    const path = Buffer.from(join(dir, 'badlink'))
    await symlink(Buffer.from([0x61, 0xe2, 0x82, 0x62, 0xff]), path)
    const node = mustNode(await nodeOf('badlink'))
    assert.ok(encodeTree([node]).toString('latin1').includes('"linktarget":"a\\ufffd\\ufffdb\\ufffd"'))
  })

  test('builds a fifo node without links', async () => {
    await run('mkfifo', ['-m', '644', join(dir, 'fifo')])
    const node = mustNode(await nodeOf('fifo'))
    assert.equal(node.type, 'fifo')
    assert.equal(node.mode, 33554852)
    assert.equal(node.links, 0)
    assert.equal(node.content, null)
    assert.equal(node.device, undefined)
  })

  test('returns null for a socket', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(join(dir, 'sock'), resolve))
    try {
      assert.equal(await nodeOf('sock'), null)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })

  test('stores both names of a hard link as file nodes sharing the inode, with links 2', async () => {
    await writeFile(join(dir, 'hard-a'), 'shared')
    await link(join(dir, 'hard-a'), join(dir, 'hard-b'))
    const a = mustNode(await nodeOf('hard-a'))
    const b = mustNode(await nodeOf('hard-b'))
    assert.equal(a.type, 'file')
    assert.equal(b.type, 'file')
    assert.equal(a.inode, b.inode)
    assert.equal(a.links, 2)
    assert.equal(b.links, 2)
    assert.equal(b.size, 6)
  })

  test('keeps setuid, setgid and sticky bits in the Go mode', async () => {
    await writeFile(join(dir, 'suid'), '')
    await chmod(join(dir, 'suid'), 0o4755)
    await writeFile(join(dir, 'sgid'), '')
    await chmod(join(dir, 'sgid'), 0o2750)
    await mkdir(join(dir, 'sticky'))
    await chmod(join(dir, 'sticky'), 0o1777)
    assert.equal(mustNode(await nodeOf('suid')).mode, 2 ** 23 + 0o755)
    assert.equal(mustNode(await nodeOf('sgid')).mode, 2 ** 22 + 0o750)
    assert.equal(mustNode(await nodeOf('sticky')).mode, 2148532735)
  })

  test('reads extended attributes of files and dirs, in the order the kernel lists them', async (t) => {
    if (!userXattrs) return t.skip('the temp file system refuses user.* extended attributes')
    const file = join(dir, 'tagged')
    await writeFile(file, 'x')
    await setAttribute(file, 'user.comment', Buffer.from('xattr-value'))
    await setAttribute(file, 'user.empty', Buffer.alloc(0))
    await mkdir(join(dir, 'tagged-dir'))
    await setAttribute(join(dir, 'tagged-dir'), 'user.dir', Buffer.from([0, 1, 255]))

    const node = mustNode(await nodeOf('tagged'))
    const byName = new Map(node.xattrs?.map((x) => [x.name, x.value]))
    assert.deepEqual(byName.get('user.comment'), Buffer.from('xattr-value'))
    assert.deepEqual(byName.get('user.empty'), Buffer.alloc(0))
    const dirNode = mustNode(await nodeOf('tagged-dir'))
    assert.deepEqual(dirNode.xattrs, [{ name: 'user.dir', value: Buffer.from([0, 1, 255]) }])
    const plain = mustNode(await nodeOf('hello.txt'))
    assert.equal(plain.xattrs, undefined, 'no attributes gives no field')
    const off = mustNode(await nodeOf('tagged', { ...opts, readXattrs: false }))
    assert.equal(off.xattrs, undefined)
  })

  test('keeps the other extended attributes when one has a name that is not UTF-8, with a warning for it', async (t) => {
    // The whole listing failed, and every attribute (ACLs, security.*) was dropped.
    if (!userXattrs) return t.skip('the temp file system refuses user.* extended attributes')
    try {
      execFileSync('setfattr', ['--version'])
    } catch {
      return t.skip('setfattr (attr) is not installed')
    }
    for (const name of ['odd-xattr-file', 'odd-xattr-dir']) {
      const path = join(dir, name)
      if (name.endsWith('dir')) await mkdir(path)
      else await writeFile(path, 'x')
      await setAttribute(path, 'user.good', Buffer.from('1'))
      // Arguments from Node are UTF-8: the shell's printf makes the 0xff byte.
      execFileSync('sh', ['-c', 'setfattr -n "$(printf \'user.bad\\377\')" -v 2 "$1"', 'sh', path])
      const warnings: string[] = []
      const node = mustNode(await nodeOf(name, { ...opts, warn: (m) => warnings.push(m) }))
      assert.deepEqual(node.xattrs, [{ name: 'user.good', value: Buffer.from('1') }], name)
      assert.equal(warnings.length, 1)
      assert.match(warnings[0], /its name is not valid UTF-8/)
    }
  })

  test('takes the parent node\'s extended attributes while inode, ctime and mtime are unchanged, and reads them again after a change', async (t) => {
    if (!userXattrs) return t.skip('the temp file system refuses user.* extended attributes')
    const file = join(dir, 'kept')
    await writeFile(file, 'x')
    await setAttribute(file, 'user.a', Buffer.from('1'))
    const first = mustNode(await nodeOf('kept'))
    assert.deepEqual(first.xattrs, [{ name: 'user.a', value: Buffer.from('1') }])
    // Same ctime: the previous node's attributes are used as they are (a marker proves it).
    const marked: Node = { ...first, xattrs: [{ name: 'user.marker', value: Buffer.from('from parent') }] }
    assert.deepEqual(mustNode(await nodeOf('kept', { ...opts, previous: marked })).xattrs, marked.xattrs)
    assert.equal(mustNode(await nodeOf('kept', { ...opts, previous: { ...first, xattrs: undefined } })).xattrs, undefined)
    // Another inode with the same times: read.
    assert.deepEqual(mustNode(await nodeOf('kept', { ...opts, previous: { ...marked, inode: first.inode + 1n } })).xattrs, first.xattrs)
    // Changing an attribute changes the ctime: read again.
    await new Promise((r) => setTimeout(r, 10))
    await setAttribute(file, 'user.a', Buffer.from('2'))
    const after = mustNode(await nodeOf('kept', { ...opts, previous: marked }))
    assert.notEqual(after.ctime, first.ctime)
    assert.deepEqual(after.xattrs, [{ name: 'user.a', value: Buffer.from('2') }])
  })

  test('handles non-UTF-8 names given as Buffer paths, xattrs included', async (t) => {
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]) // "café" in Latin-1
    const filePath = Buffer.concat([Buffer.from(dir + '/'), latin1])
    await writeFile(filePath, 'bytes')
    const dirName = Buffer.from([0x64, 0xff])
    const dirPath = Buffer.concat([Buffer.from(dir + '/'), dirName])
    await mkdir(dirPath)
    const inner = Buffer.concat([dirPath, Buffer.from('/inner.txt')])
    await writeFile(inner, 'in')

    const node = mustNode(await nodeOf(latin1))
    assert.deepEqual(node.name, latin1)
    assert.equal(node.type, 'file')
    assert.equal(node.size, 5)
    if (!userXattrs) return t.skip('the temp file system refuses user.* extended attributes')

    // Three routes: a file whose own name is not UTF-8, such a directory, and a UTF-8 name below one.
    const innerUtf8 = Buffer.concat([dirName, Buffer.from('/inner.txt')])
    await execSetfattr(filePath, 'user.a', 'file')
    await execSetfattr(dirPath, 'user.b', 'dir')
    await execSetfattr(inner, 'user.c', 'inner')
    assert.deepEqual(mustNode(await nodeOf(latin1)).xattrs, [{ name: 'user.a', value: Buffer.from('file') }])
    assert.deepEqual(mustNode(await nodeOf(dirName)).xattrs, [{ name: 'user.b', value: Buffer.from('dir') }])
    assert.deepEqual(mustNode(await nodeOf(innerUtf8)).xattrs, [{ name: 'user.c', value: Buffer.from('inner') }])
  })

  test('skips attributes the process may not read and reports them, keeping the node', async (t) => {
    if (!isRoot) return t.skip('needs root to run a child as another user')
    if (!userXattrs) return t.skip('the temp file system refuses user.* extended attributes')
    const file = join(dir, 'secret')
    await writeFile(file, 'x')
    await setAttribute(file, 'user.secret', Buffer.from('s'))
    await chmod(file, 0o600)
    await chmod(dir, 0o755)
    const script = `
      import { lstat } from 'node:fs/promises'
      const { nodeFromStat } = await import(${JSON.stringify(new URL('./fs-node.js', import.meta.url).href)})
      const { UserNames } = await import(${JSON.stringify(new URL('./user-names.js', import.meta.url).href)})
      const warnings = []
      const st = await lstat(${JSON.stringify(file)}, { bigint: true })
      const node = await nodeFromStat(Buffer.from('secret'), ${JSON.stringify(file)}, st,
        { readXattrs: true, users: new UserNames(), warn: (m) => warnings.push(m) })
      console.log(JSON.stringify({ type: node.type, size: node.size, xattrs: node.xattrs ?? null, warnings }))`
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534 })
    const result = JSON.parse(stdout)
    assert.equal(result.type, 'file')
    assert.equal(result.size, 1)
    assert.equal(result.xattrs, null)
    assert.equal(result.warnings.length, 1)
    assert.match(result.warnings[0], /user\.secret/)
  })

  test('builds a chardev node with the Linux st_rdev as device', async (t) => {
    if (!isRoot) return t.skip('mknod needs root')
    await run('mknod', ['-m', '644', join(dir, 'null'), 'c', '1', '3'])
    await run('mknod', ['-m', '600', join(dir, 'loop'), 'b', '7', '200'])
    const node = mustNode(await nodeOf('null'))
    assert.equal(node.type, 'chardev')
    assert.equal(node.device, 259n)
    assert.equal(node.mode, 69206436)
    assert.equal(node.links, 1)
    assert.equal(node.content, null)
    const block = mustNode(await nodeOf('loop'))
    assert.equal(block.type, 'dev')
    assert.equal(block.device, 1992n)
    assert.equal(block.mode, 2 ** 26 + 0o600)
  })
})

/** Sets an attribute with setfattr; a shell spells the raw path bytes from octal escapes. */
async function execSetfattr(path: Buffer, name: string, value: string): Promise<void> {
  const octal = [...path].map((b) => '\\' + b.toString(8).padStart(3, '0')).join('')
  await run('sh', ['-c', `setfattr -n "$1" -v "$2" -- "$(printf '${octal}')"`, 'sh', name, value])
}

describe('UserNames', () => {
  test('maps ids to the first matching name and skips comments and malformed lines', async () => {
    const passwd = join(dir, 'passwd')
    const group = join(dir, 'group')
    await writeFile(passwd, '# comment\nroot:x:0:0:root:/root:/bin/sh\nbroken line\nalice:x:1000:1000::/home/alice:/bin/sh\nalias:x:1000:1000::/:/bin/sh\n')
    await writeFile(group, 'wheel:x:10:alice\nstaff:x:50:\n')
    const names = new UserNames({ passwdFile: passwd, groupFile: group })
    assert.equal(names.user(0), 'root')
    assert.equal(names.user(1000), 'alice')
    assert.equal(names.user(4242), undefined)
    assert.equal(names.group(50), 'staff')
    assert.equal(names.group(0), undefined)
  })

  test('gives no names when the files are missing', () => {
    const names = new UserNames({ passwdFile: join(dir, 'nope'), groupFile: join(dir, 'nope') })
    assert.equal(names.user(0), undefined)
    assert.equal(names.group(0), undefined)
  })

  test('agrees with getent on this machine for uid 0', (t) => {
    let expected: string
    try {
      expected = execFileSync('getent', ['passwd', '0'], { encoding: 'utf8' }).split(':')[0]
    } catch {
      return t.skip('getent is not available')
    }
    assert.equal(new UserNames().user(0), expected)
  })
})

describe('nodeFromStat() compared with restic 0.14', () => {
  const hasRestic = (() => {
    try {
      execFileSync('restic', ['version'], { stdio: 'ignore' })
      return true
    } catch {
      return false
    }
  })()

  test('gives every entry the fields restic stores in its tree', { skip: hasRestic ? false : 'restic is not installed' }, async () => {
    const src = join(dir, 'restic-src')
    await mkdir(join(src, 'sub'), { recursive: true })
    await writeFile(join(src, 'sub', 'inner.txt'), 'inner')
    await writeFile(join(src, 'file.txt'), 'some content\n')
    await writeFile(join(src, 'empty'), '')
    await writeFile(join(src, 'suid'), '#!/bin/sh\n')
    await chmod(join(src, 'suid'), 0o4755)
    await mkdir(join(src, 'sticky'))
    await chmod(join(src, 'sticky'), 0o1777)
    await link(join(src, 'file.txt'), join(src, 'hardlink'))
    await symlink('file.txt', join(src, 'link'))
    await symlink('nowhere', join(src, 'dangling'))
    await run('mkfifo', ['-m', '640', join(src, 'fifo')])
    if (userXattrs) {
      await writeFile(join(src, 'xattrs'), 'x')
      for (const name of ['user.zeta', 'user.alpha', 'user.comment']) await setAttribute(join(src, 'xattrs'), name, Buffer.from(name.slice(5)))
    }
    if (isRoot) {
      await run('mknod', ['-m', '644', join(src, 'chardev'), 'c', '1', '3'])
      await run('mknod', ['-m', '644', join(src, 'blockdev'), 'b', '7', '200'])
    }
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(join(src, 'sock'), resolve))

    try {
      const env = { ...process.env, RESTIC_PASSWORD: 'test', RESTIC_REPOSITORY: join(dir, 'restic-repo') }
      await run('restic', ['init', '--no-cache', '-q'], { env })
      // Backing up "." makes the snapshot's root tree the listing of src itself.
      await run('restic', ['backup', '--no-cache', '-q', '.'], { env, cwd: src })
      const snapshots = JSON.parse((await run('restic', ['snapshots', '--json', '--no-cache'], { env })).stdout)
      // `restic ls --json` omits inode, links, device_id and device, so compare the stored tree.
      const catTree = async (id: string) =>
        JSON.parse((await run('restic', ['cat', 'blob', id, '--no-cache'], { env, maxBuffer: 1 << 24 })).stdout).nodes as ResticNode[]

      const root = await catTree(snapshots[0].tree)
      const sub = root.find((n) => n.name === 'sub')
      assert.ok(sub?.subtree)
      const listings: Array<[string, ResticNode[]]> = [[src, root], [join(src, 'sub'), await catTree(sub.subtree)]]
      let compared = 0
      for (const [parent, nodes] of listings) {
        for (const r of nodes) {
          const path = join(parent, r.name)
          const ours = mustNode(await nodeFromStat(Buffer.from(r.name), path, await lstat(path, { bigint: true }), opts))
          assert.deepEqual(comparable(ours), fromRestic(r), `node "${r.name}"`)
          compared++
        }
      }
      assert.equal(compared, root.length + 1)
      assert.equal(root.some((n) => n.name === 'sock'), false, 'restic skips sockets')
      assert.equal(await nodeFromStat(Buffer.from('sock'), join(src, 'sock'), await lstat(join(src, 'sock'), { bigint: true }), opts), null)
      if (userXattrs) {
        const x = root.find((n) => n.name === 'xattrs')
        assert.equal(x?.extended_attributes?.length, 3, 'restic stored the attributes we compared')
      }
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

interface ResticNode {
  name: string
  type: string
  mode?: number
  mtime: string
  atime: string
  ctime: string
  uid: number
  gid: number
  user?: string
  group?: string
  inode?: number
  device_id?: number
  size?: number
  links?: number
  linktarget?: string
  extended_attributes?: Array<{ name: string; value: string }>
  device?: number
  content: string[] | null
  subtree?: string
}

// The fields both sides have, with restic's omit-when-empty rules applied to ours.
function comparable(n: Node) {
  return {
    type: n.type,
    mode: n.mode,
    mtime: n.mtime,
    atime: n.atime,
    ctime: n.ctime,
    uid: n.uid,
    gid: n.gid,
    user: n.user,
    group: n.group,
    inode: Number(n.inode),
    device_id: Number(n.deviceId),
    size: n.size,
    links: n.links,
    linktarget: n.linktarget,
    extended_attributes: n.xattrs?.map((x) => ({ name: x.name, value: x.value.toString('base64') })),
    device: n.device === undefined ? undefined : Number(n.device),
    content: n.content === null ? null : 'list',
  }
}

function fromRestic(r: ResticNode) {
  return {
    type: r.type,
    mode: r.mode ?? 0,
    mtime: r.mtime,
    atime: r.atime,
    ctime: r.ctime,
    uid: r.uid,
    gid: r.gid,
    user: r.user,
    group: r.group,
    inode: r.inode ?? 0,
    device_id: r.device_id ?? 0,
    size: r.size ?? 0,
    links: r.links ?? 0,
    linktarget: r.linktarget,
    extended_attributes: r.extended_attributes,
    device: r.device,
    content: r.content === null ? null : 'list',
  }
}
