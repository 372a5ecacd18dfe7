import assert from 'node:assert/strict'
import { lstat, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { setAttribute } from '@napi-rs/xattr'
import { supportsUserXattrs } from '../localfs/testing.js'
import { encodeNode, encodeTreeJson, nodeJsonHead, nodeJsonTail, type Node } from '../snapshots/index.js'
import { listNames, parentNodes, sameNodes, scanEntries, type ParentNodes, type ScanEntry, type ScanItem } from './dir-scan.js'
import { nodeFromStat } from './fs-node.js'
import { UserNames } from './user-names.js'

const users = new UserNames()
const ID_A = 'a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447'
const ID_B = '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881'
const ID_T = 'ac08ce34ba4f8123618661bef2425f7028ffb9ac740578a3ee88684d2523fee8'

let root: string
let userXattrs = true

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cairn-dir-scan-'))
  userXattrs = await supportsUserXattrs(root)
})
after(() => rm(root, { recursive: true, force: true }))

interface DirScan {
  items: ScanItem[]
}

async function scanDirectory(dir: string, parent: ParentNodes | undefined): Promise<DirScan> {
  return { items: scanEntries(dir, listNames(dir), parent, users) }
}

function entries(scan: DirScan): ScanEntry[] {
  return scan.items.filter((it): it is ScanEntry => it.kind === 'file' || it.kind === 'dir' || it.kind === 'other')
}

function byName(scan: DirScan, name: string): ScanEntry {
  const e = entries(scan).find((it) => it.name === name)
  assert.ok(e, `no entry ${name}`)
  return e
}

/** The parent tree a backup would have stored for `scan`: content and subtree per entry. */
function treeOf(scan: DirScan, content: (e: ScanEntry) => string[]): Buffer {
  return encodeTreeJson(entries(scan).map((e) => e.head + (e.kind === 'file' ? nodeJsonTail(content(e)) : e.kind === 'dir' ? nodeJsonTail(null, ID_T) : nodeJsonTail(null))))
}

describe('scanEntries()', () => {
  test('lists entries in byte order, each encoded as nodeFromStat builds it', async () => {
    const dir = join(root, 'order')
    await mkdir(join(dir, 'sub'), { recursive: true })
    for (const name of ['b.txt', 'a.txt', 'Z', '\u{1F600}', '\uFF5E']) await writeFile(join(dir, name), name)
    const scan = await scanDirectory(dir, undefined)
    assert.deepEqual(scan.items.map((it) => it.name), ['Z', 'a.txt', 'b.txt', 'sub', '\uFF5E', '\u{1F600}'])
    for (const e of entries(scan)) {
      const path = join(dir, e.name as string)
      const node = await nodeFromStat(Buffer.from(e.name as string), path, await lstat(path, { bigint: true }), { readXattrs: true, users })
      assert.equal(e.head, nodeJsonHead(node!))
      assert.equal(e.previous, undefined)
    }
    assert.equal(byName(scan, 'sub').kind, 'dir')
    assert.equal(byName(scan, 'a.txt').size, 5)
  })

  test('matches the parent tree: unchanged files keep their content, changed ones get it as their earlier content, new ones nothing, directories their subtree', async () => {
    const dir = join(root, 'parent')
    await mkdir(join(dir, 'sub'), { recursive: true })
    await writeFile(join(dir, 'same.txt'), 'same')
    await writeFile(join(dir, 'touched.txt'), 'touched')
    const first = await scanDirectory(dir, undefined)
    const parent = parentNodes(treeOf(first, (e) => (e.name === 'same.txt' ? [ID_A, ID_B] : [ID_B])))
    await utimes(join(dir, 'touched.txt'), new Date('2030-01-01'), new Date('2030-01-01'))
    await writeFile(join(dir, 'new.txt'), 'new')

    const second = await scanDirectory(dir, parent)
    assert.deepEqual(byName(second, 'same.txt').previous, { wasFile: true, content: [ID_A, ID_B] })
    assert.equal(byName(second, 'same.txt').head, byName(first, 'same.txt').head)
    assert.deepEqual(byName(second, 'touched.txt').previous, { wasFile: true, earlier: [ID_B] })
    assert.equal(byName(second, 'new.txt').previous, undefined)
    assert.equal(byName(second, 'sub').previous?.subtree, ID_T)
  })

  test('gives a matched entry its parent node\'s text, so an unchanged directory is known by its nodes alone', async () => {
    const dir = join(root, 'same-nodes')
    await mkdir(join(dir, 'sub'), { recursive: true })
    await writeFile(join(dir, 'a.txt'), 'a')
    await writeFile(join(dir, 'b.txt'), 'b')
    const first = await scanDirectory(dir, undefined)
    const parent = parentNodes(treeOf(first, () => [ID_A]))
    const second = await scanDirectory(dir, parent)
    // The node each entry would have, as the walk makes it: the parent's text where it matched.
    const nodes = entries(second).map((e) => e.previousJson ?? assert.fail(`${String(e.name)} not matched`))
    assert.deepEqual(nodes, parent.texts)
    assert.ok(sameNodes(nodes, parent))
    // One node different, one missing or one more, and the directory is not the parent's.
    assert.ok(!sameNodes([nodes[0], nodes[1].replace('"size":1', '"size":2'), nodes[2]], parent))
    assert.ok(!sameNodes(nodes.slice(1), parent))
    assert.ok(!sameNodes([...nodes, nodes[2]], parent))
    await utimes(join(dir, 'b.txt'), new Date('2030-01-01'), new Date('2030-01-01'))
    const third = await scanDirectory(dir, parent)
    assert.equal(byName(third, 'b.txt').previousJson, undefined)
    assert.equal(byName(third, 'a.txt').previousJson, parent.texts[0])
  })

  test('finds the parent node of every kind of name: plain, escaped in JSON, not ASCII, and not UTF-8', async () => {
    const names = ['plain.c', 'a&b<c>', 'quo"te\\back', 'caf\u00e9', 'tab\there', '\u2028line']
    for (const [label, bytes] of [['strings', false], ['bytes', true]] as const) {
      const dir = join(root, `names-${label}`)
      await mkdir(dir, { recursive: true })
      for (const name of names) await writeFile(join(dir, name), name)
      // One name that is not UTF-8 makes the listing give every name as bytes.
      if (bytes) await writeFile(Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0x61, 0xff])]), 'y')
      const first = await scanDirectory(dir, undefined)
      assert.equal(first.items.length, names.length + (bytes ? 1 : 0))
      const parent = parentNodes(treeOf(first, () => [ID_A]))
      const second = await scanDirectory(dir, parent)
      for (const e of entries(second)) {
        const label = Buffer.isBuffer(e.name) ? e.name.toString('latin1') : e.name
        assert.deepEqual(e.previous, { wasFile: true, content: [ID_A] }, label)
        assert.ok(e.previousJson !== undefined && parent.texts.includes(e.previousJson), label)
      }
      assert.ok(sameNodes(entries(second).map((e) => e.previousJson!), parent))
    }
  })

  test('decodes a parent node written differently and compares as restic does (size, times, inode)', async () => {
    const dir = join(root, 'restic-shape')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'f.txt'), 'data')
    const first = await scanDirectory(dir, undefined)
    // The same node with another owner name: its text differs, restic's change detection does not.
    const other = first.items.length === 1 ? (first.items[0] as ScanEntry) : assert.fail('one entry')
    const head = other.head.replace(/"user":"[^"]*"/, '"user":"someone-else"')
    assert.notEqual(head, other.head)
    const parent = parentNodes(Buffer.from('{ "nodes": [' + head + nodeJsonTail([ID_A]) + '] }'))
    assert.deepEqual(byName(await scanDirectory(dir, parent), 'f.txt').previous, { wasFile: true, content: [ID_A] })
  })

  test('takes an unchanged entry\'s extended attributes from the parent tree, and reads those of a changed one', async (t) => {
    if (!userXattrs) return t.skip('no user xattrs here')
    const dir = join(root, 'xattrs')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'kept.txt'), 'k')
    await writeFile(join(dir, 'changed.txt'), 'c')
    await setAttribute(join(dir, 'kept.txt'), 'user.on-disk', Buffer.from('1'))
    await setAttribute(join(dir, 'changed.txt'), 'user.on-disk', Buffer.from('2'))
    const first = await scanDirectory(dir, undefined)
    assert.match(byName(first, 'kept.txt').head, /"extended_attributes":\[\{"name":"user.on-disk","value":"MQ=="\}\]/)
    // A parent that recorded other attributes for both: the unchanged file takes them as recorded.
    const tree = encodeTreeJson(
      entries(first).map((e) => e.head.replace(/,"extended_attributes":\[.*\]$/, ',"extended_attributes":[{"name":"user.recorded","value":"eA=="}]') + nodeJsonTail([ID_A])),
    )
    await utimes(join(dir, 'changed.txt'), new Date('2030-01-01'), new Date('2030-01-01'))
    const second = await scanDirectory(dir, parentNodes(tree))
    assert.match(byName(second, 'kept.txt').head, /"user.recorded"/)
    assert.deepEqual(byName(second, 'kept.txt').previous, { wasFile: true, content: [ID_A] })
    assert.match(byName(second, 'changed.txt').head, /"user.on-disk","value":"Mg=="/)
    assert.deepEqual(byName(second, 'changed.txt').previous, { wasFile: true, earlier: [ID_A] })
  })

  test('reports an entry it cannot stat as an error item, and goes on', async () => {
    const dir = join(root, 'vanished')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'here.txt'), 'x')
    const items = scanEntries(dir, ['gone.txt', 'here.txt'], undefined, users)
    assert.equal(items.length, 2)
    assert.equal(items[0].kind, 'error')
    assert.equal(items[0].kind === 'error' && (items[0].error as NodeJS.ErrnoException).code, 'ENOENT')
    assert.equal(items[1].kind, 'file')
  })

  test('lists names as strings, or all as bytes when one is not UTF-8', async () => {
    const dir = join(root, 'bytes')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'plain'), 'x')
    assert.deepEqual(listNames(dir), ['plain'])
    await writeFile(Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0x61, 0xff])]), 'y')
    const names = listNames(dir)
    assert.ok(names.every((n) => Buffer.isBuffer(n)))
    assert.deepEqual(names.map((n) => (n as Buffer).toString('latin1')).sort(), ['a\xff', 'plain'])
    assert.throws(() => listNames(join(root, 'missing')), { code: 'ENOENT' })
  })
})
