/**
 * Byte-exactness against the real restic 0.14 binary: restic backs up a small directory with
 * awkward names, then every tree it wrote must decode and re-encode to the same bytes, and trees
 * built from scratch out of lstat() must equal restic's (so they get the same tree IDs).
 * Skipped when restic is not installed.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, promises as fs, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { hashId, type Id } from '../base/index.js'
import { goFileMode } from './file-mode.js'
import { formatGoTime } from './go-time.js'
import { goStringFromBytes } from './go-utf8.js'
import type { Node } from './node.js'
import { decodeTree, encodeTree } from './tree.js'

const RESTIC = '/usr/bin/restic'
// A zone with a half-hour offset and summer time, so zone handling shows in every timestamp.
const ZONE = 'America/St_Johns'
process.env.TZ = ZONE

const NAMES: Array<string | Buffer> = [
  'hello.txt',
  'empty.txt',
  'quote"back\\slash',
  'tab\there',
  'line\u2028sep',
  'a<b>&c',
  'emoji 😀 \u{1fae0}',
  'e\u0301 ünï',
  '\u00a0nbsp\u00ad\ufeff',
  Buffer.from([0x62, 0x61, 0x64, 0xff, 0x6e, 0x61, 0x6d, 0x65]),
]

function idNames(file: string): Map<number, string> {
  const names = new Map<number, string>()
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [name, , id] = line.split(':')
    if (id !== undefined && !names.has(Number(id))) names.set(Number(id), name)
  }
  return names
}

/**
 * Builds the tree of `dir` straight from lstat(), size and link count included for every type;
 * encodeTree must leave out what restic 0.14's archiver does not record.
 */
async function buildTree(dir: Buffer, users: Map<number, string>, groups: Map<number, string>): Promise<Buffer> {
  const nodes: Node[] = []
  const slash = Buffer.from('/')
  for (const name of await fs.readdir(dir, { encoding: 'buffer' })) {
    const path = Buffer.concat([dir, slash, name])
    const st = await fs.lstat(path, { bigint: true })
    const mtime = formatGoTime(st.mtimeNs)
    const node: Node = {
      name,
      type: 'file',
      mode: goFileMode(Number(st.mode)),
      mtime,
      atime: mtime,
      ctime: formatGoTime(st.ctimeNs),
      uid: Number(st.uid),
      gid: Number(st.gid),
      user: users.get(Number(st.uid)),
      group: groups.get(Number(st.gid)),
      inode: st.ino,
      deviceId: st.dev,
      size: Number(st.size),
      links: Number(st.nlink),
      content: null,
    }
    if (st.isFile()) {
      const data = await fs.readFile(path)
      // Small files are a single chunk.
      node.content = data.length === 0 ? [] : [hashId(data)]
    } else if (st.isDirectory()) {
      node.type = 'dir'
      node.subtree = hashId(await buildTree(path, users, groups))
    } else if (st.isSymbolicLink()) {
      node.type = 'symlink'
      node.linktarget = goStringFromBytes(await fs.readlink(path, { encoding: 'buffer' }))
    } else if (st.isFIFO()) {
      node.type = 'fifo'
    } else {
      continue
    }
    nodes.push(node)
  }
  return encodeTree(nodes)
}

describe('trees written by restic 0.14', { skip: existsSync(RESTIC) ? false : 'restic is not installed' }, () => {
  let tmp: string
  let src: string
  const trees = new Map<Id, Buffer>()
  const srcNames: Buffer[] = []
  let srcTreeId: Id | undefined

  before(async () => {
    tmp = await fs.mkdtemp(join(tmpdir(), 'cairn-tree-'))
    src = join(tmp, 'src')
    await fs.mkdir(join(src, 'sub', 'deeper'), { recursive: true })
    for (const name of NAMES) {
      const path = Buffer.concat([Buffer.from(src + '/'), Buffer.from(name)])
      await fs.writeFile(path, name === 'empty.txt' ? '' : `content of ${name.toString()}\n`)
    }
    await fs.writeFile(join(src, 'sub', 'deeper', 'inner.txt'), 'inner\n')
    await fs.symlink('hello.txt', join(src, 'link'))
    // A target that is not UTF-8: restic writes one \ufffd per bad byte.
    await fs.symlink(Buffer.from([0x3c, 0xff, 0x3e, 0x01, 0xf0, 0x9f, 0x98]), join(src, 'badlink'))
    await fs.link(join(src, 'hello.txt'), join(src, 'sub', 'hardlink.txt'))
    execFileSync('mkfifo', [join(src, 'fifo')])
    await fs.chmod(join(src, 'sub'), 0o2750)
    // A fraction with trailing zeros, and one in summer time.
    execFileSync('touch', ['-h', '-d', '@1577934245.120000000', join(src, 'hello.txt'), join(src, 'link')])
    execFileSync('touch', ['-d', '@1690000000.000000001', join(src, 'sub', 'deeper')])

    const repo = join(tmp, 'repo')
    const env = { ...process.env, RESTIC_PASSWORD: 'cairn-test', TZ: ZONE }
    const restic = (...args: string[]) => execFileSync(RESTIC, ['-r', repo, '--no-cache', ...args], { env, maxBuffer: 64 << 20 })
    restic('init', '-q')
    restic('backup', '-q', src)
    const [{ id: snapshotId }] = JSON.parse(restic('snapshots', '--json').toString()) as Array<{ id: string }>
    const { tree: rootId } = JSON.parse(restic('cat', 'snapshot', snapshotId).toString()) as { tree: Id }

    // Walk down from the root, collecting every tree blob restic stored.
    const pending: Id[] = [rootId]
    while (pending.length > 0) {
      const id = pending.pop() as Id
      const bytes = restic('cat', 'blob', id)
      trees.set(id, bytes)
      const nodes = decodeTree(bytes)
      if (nodes.some((n) => n.name.equals(Buffer.from('empty.txt')))) {
        srcTreeId = id
        srcNames.push(...nodes.map((n) => n.name))
      }
      for (const n of nodes) if (n.subtree !== undefined && !trees.has(n.subtree)) pending.push(n.subtree)
    }
  })

  after(async () => {
    if (tmp !== undefined) await fs.rm(tmp, { recursive: true, force: true })
  })

  it('decodes names back to the exact bytes on disk', async () => {
    const onDisk = await fs.readdir(src, { encoding: 'buffer' })
    const hex = (list: Buffer[]) => list.map((b) => b.toString('hex')).sort()
    assert.deepEqual(hex(srcNames), hex(onDisk))
  })

  it('re-encodes every tree to the identical bytes', () => {
    assert.ok(trees.size >= 4, `expected the path trees plus src, sub and deeper, got ${trees.size}`)
    for (const [id, bytes] of trees) {
      assert.equal(hashId(bytes), id)
      const again = encodeTree(decodeTree(bytes))
      assert.equal(again.toString('utf8'), bytes.toString('utf8'), id)
      assert.ok(again.equals(bytes), id)
    }
  })

  it('builds the same trees from lstat() as restic did, so tree IDs match, but for the bytes of a link target that is not UTF-8', async () => {
    const users = idNames('/etc/passwd')
    const groups = idNames('/etc/group')
    const ours = (await buildTree(Buffer.from(src), users, groups)).toString('utf8')
    // restic 0.16 and later keep those bytes in "linktarget_raw" (0.14 loses them): so does cairn.
    const raw = Buffer.from([0x3c, 0xff, 0x3e, 0x01, 0xf0, 0x9f, 0x98]).toString('base64')
    const withRaw = `"linktarget":"\\u003c\\ufffd\\u003e\\u0001\\ufffd\\ufffd\\ufffd","linktarget_raw":"${raw}",`
    assert.ok(ours.includes(withRaw), 'the bad link keeps its bytes')
    const resticTree = trees.get(srcTreeId as Id)!.toString('utf8')
    assert.equal(ours.replace(`,"linktarget_raw":"${raw}"`, ''), resticTree)
    // Every other tree is restic's to the byte.
    const sub = await buildTree(Buffer.from(join(src, 'sub')), users, groups)
    assert.ok(trees.has(hashId(sub)), 'the sub-folder\'s tree ID is restic\'s')
  })
})
