import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hashId, isAppError, youngCollector } from '../base/index.js'
import type { Node } from './node.js'
import { testNode } from './testing.js'
import { compareNames, decodeNodeJson, decodeTree, decodeTreeInPieces, encodeNode, encodeTree, encodeTreeJson, nodeJsonHead, nodeJsonTail, nodeRanges, plainNameJson, splitBigTreeJson, splitTreeJson } from './tree.js'
import { bytesFromGoString, goStringFromBytes } from './go-utf8.js'

/**
 * A tree restic 0.14 wrote (TZ=Asia/Kolkata) for a directory holding every node type: block and
 * character devices, an empty file, a fifo, a file with an xattr and its hard link, a symlink,
 * a sticky and a setgid directory, a setuid file. One node per entry.
 */
const RESTIC_NODES = [
  '{"name":"blockdev","type":"dev","mode":67109284,"mtime":"2020-01-02T08:34:05.123456789+05:30","atime":"2020-01-02T08:34:05.123456789+05:30","ctime":"2026-11-22T10:54:36.325346187+05:30","uid":0,"gid":0,"user":"root","group":"root","inode":2154309,"device_id":65024,"links":1,"device":1992,"content":null}',
  '{"name":"chardev","type":"chardev","mode":69206436,"mtime":"2020-01-02T08:34:05.123456789+05:30","atime":"2020-01-02T08:34:05.123456789+05:30","ctime":"2026-11-22T10:54:36.325346187+05:30","uid":0,"gid":0,"user":"root","group":"root","inode":2154304,"device_id":65024,"links":1,"device":259,"content":null}',
  '{"name":"empty.txt","type":"file","mode":420,"mtime":"2020-01-02T08:34:05.123456789+05:30","atime":"2020-01-02T08:34:05.123456789+05:30","ctime":"2026-11-22T10:54:36.325346187+05:30","uid":0,"gid":0,"user":"root","group":"root","inode":2154272,"device_id":65024,"links":1,"content":[]}',
  '{"name":"fifo","type":"fifo","mode":33554852,"mtime":"2020-01-02T08:34:05.123456789+05:30","atime":"2020-01-02T08:34:05.123456789+05:30","ctime":"2026-11-22T10:54:36.325346187+05:30","uid":0,"gid":0,"user":"root","group":"root","inode":2154297,"device_id":65024,"content":null}',
  '{"name":"hardlink.txt","type":"file","mode":420,"mtime":"2020-01-02T08:34:05.123456789+05:30","atime":"2020-01-02T08:34:05.123456789+05:30","ctime":"2026-11-22T10:54:36.325346187+05:30","uid":0,"gid":0,"user":"root","group":"root","inode":2154266,"device_id":65024,"size":12,"links":2,"extended_attributes":[{"name":"user.comment","value":"eGF0dHItdmFsdWU="}],"content":["a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"]}',
  '{"name":"hello.txt","type":"file","mode":420,"mtime":"2020-01-02T08:34:05.123456789+05:30","atime":"2020-01-02T08:34:05.123456789+05:30","ctime":"2026-11-22T10:54:36.325346187+05:30","uid":0,"gid":0,"user":"root","group":"root","inode":2154266,"device_id":65024,"size":12,"links":2,"extended_attributes":[{"name":"user.comment","value":"eGF0dHItdmFsdWU="}],"content":["a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"]}',
  '{"name":"link","type":"symlink","mode":134218239,"mtime":"2020-01-02T08:34:05.123456789+05:30","atime":"2020-01-02T08:34:05.123456789+05:30","ctime":"2026-11-22T10:54:36.325346187+05:30","uid":0,"gid":0,"user":"root","group":"root","inode":2154295,"device_id":65024,"links":1,"linktarget":"hello.txt","content":null}',
  '{"name":"sticky","type":"dir","mode":2148532735,"mtime":"2020-01-02T08:34:05.123456789+05:30","atime":"2020-01-02T08:34:05.123456789+05:30","ctime":"2026-11-22T10:54:36.325346187+05:30","uid":0,"gid":0,"user":"root","group":"root","inode":2154289,"device_id":65024,"content":null,"subtree":"ac08ce34ba4f8123618661bef2425f7028ffb9ac740578a3ee88684d2523fee8"}',
  '{"name":"sub","type":"dir","mode":2151678440,"mtime":"2020-01-02T08:34:05.123456789+05:30","atime":"2020-01-02T08:34:05.123456789+05:30","ctime":"2026-11-22T10:54:36.325346187+05:30","uid":0,"gid":0,"user":"root","group":"root","inode":2154282,"device_id":65024,"content":null,"subtree":"ac08ce34ba4f8123618661bef2425f7028ffb9ac740578a3ee88684d2523fee8"}',
  '{"name":"suid","type":"file","mode":8389101,"mtime":"2020-01-02T08:34:05.123456789+05:30","atime":"2020-01-02T08:34:05.123456789+05:30","ctime":"2026-11-22T10:54:36.325346187+05:30","uid":0,"gid":0,"user":"root","group":"root","inode":2154314,"device_id":65024,"size":1,"links":1,"content":["2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"]}',
]
const RESTIC_TREE = Buffer.from('{"nodes":[' + RESTIC_NODES.join(',') + ']}\n')
const RESTIC_TREE_ID = '3b9357156fb6bf95fe83ddf7008d0c5596c9eef0a95d8d4f49805048f7d8423d'

const ID_A = 'a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447'
const ID_B = '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881'

function reencode(bytes: Uint8Array): Buffer {
  return encodeTree(decodeTree(bytes))
}

describe('encodeTree()', () => {
  it('reproduces a tree restic wrote, byte for byte (same tree ID)', () => {
    assert.equal(hashId(RESTIC_TREE), RESTIC_TREE_ID)
    assert.ok(reencode(RESTIC_TREE).equals(RESTIC_TREE))
  })

  it('writes a full file node with fields in restic order', () => {
    const node = testNode({
      name: Buffer.from('hello.txt'),
      mtime: '2020-01-02T08:34:05.123456789+05:30',
      atime: '2020-01-02T08:34:05.123456789+05:30',
      ctime: '2026-11-22T10:54:36.325346187+05:30',
      inode: 2154266n,
      deviceId: 65024n,
      size: 12,
      links: 2,
      xattrs: [{ name: 'user.comment', value: Buffer.from('xattr-value') }],
      content: [ID_A],
    })
    assert.equal(encodeTree([node]).toString(), '{"nodes":[' + RESTIC_NODES[5] + ']}\n')
  })

  it('writes an empty tree as an empty list with the trailing newline', () => {
    assert.equal(encodeTree([]).toString(), '{"nodes":[]}\n')
  })

  it('always writes uid, gid and content, and omits zero or empty optional fields', () => {
    const node = testNode({
      name: Buffer.from('d'),
      type: 'dir',
      mode: 0,
      user: '',
      inode: 0n,
      deviceId: 0n,
      size: 0,
      links: 0,
      xattrs: [],
      device: 0n,
      linktarget: '',
      error: '',
      content: null,
    })
    assert.equal(
      encodeTree([node]).toString(),
      '{"nodes":[{"name":"d","type":"dir","mtime":"2020-01-02T03:04:05.123456789Z",' +
        '"atime":"2020-01-02T03:04:05.123456789Z","ctime":"2020-01-02T03:04:05.123456789Z",' +
        '"uid":0,"gid":0,"group":"root","content":null}]}\n',
    )
  })

  it('leaves out size, links and device for node types restic does not record them for', () => {
    const dir = testNode({ name: Buffer.from('d'), type: 'dir', size: 4096, links: 3, device: 5n, content: null, subtree: ID_B })
    const fifo = testNode({ name: Buffer.from('f'), type: 'fifo', size: 7, links: 1, content: null })
    const link = testNode({ name: Buffer.from('l'), type: 'symlink', size: 9, links: 1, content: null, linktarget: 'x' })
    const text = encodeTree([dir, fifo, link]).toString()
    const [dirJson, fifoJson, linkJson] = text.split('},{')
    assert.doesNotMatch(dirJson, /"size"|"links"|"device"/)
    assert.doesNotMatch(fifoJson, /"size"|"links"/)
    assert.doesNotMatch(linkJson, /"size"/)
    assert.match(linkJson, /"links":1,"linktarget":"x"/)
  })

  it('writes [] for an empty file and null for other types', () => {
    const text = encodeTree([
      testNode({ name: Buffer.from('empty'), content: [] }),
      testNode({ name: Buffer.from('fifo'), type: 'fifo', content: null }),
    ]).toString()
    assert.match(text, /"name":"empty".*"content":\[\]\}/)
    assert.match(text, /"name":"fifo".*"content":null\}/)
  })

  it('writes subtree and error after content', () => {
    const text = encodeTree([
      testNode({ type: 'dir', content: null, subtree: ID_B, error: 'read <failed>', links: 0, user: undefined, group: undefined }),
    ]).toString()
    assert.match(text, /"content":null,"subtree":"2d711642[0-9a-f]{56}","error":"read \\u003cfailed\\u003e"\}\]\}\n$/)
  })

  it('writes 64-bit inode, device_id and device exactly', () => {
    const big = 2n ** 63n + 5n
    const text = encodeTree([testNode({ type: 'chardev', content: null, inode: big, deviceId: 2n ** 64n - 1n, device: big })]).toString()
    assert.match(text, /"inode":9223372036854775813,"device_id":18446744073709551615,.*"device":9223372036854775813,/)
  })

  it('sorts nodes by raw name bytes, not UTF-16 units', () => {
    const names = ['b', 'a', '\u{1f600}', '\ufffd', 'B'].map((s) => Buffer.from(s))
    const nodes = names.map((name) => testNode({ name }))
    const order = decodeTree(encodeTree(nodes)).map((n) => n.name.toString())
    assert.deepEqual(order, ['B', 'a', 'b', '\ufffd', '\u{1f600}'])
  })

  it('does not reorder the caller\'s array', () => {
    const nodes = [testNode({ name: Buffer.from('b') }), testNode({ name: Buffer.from('a') })]
    encodeTree(nodes)
    assert.equal(nodes[0].name.toString(), 'b')
  })

  it('rejects two nodes with the same name', () => {
    const nodes = [testNode(), testNode()]
    assert.throws(() => encodeTree(nodes), (err) => isAppError(err, 'INVALID_ARGUMENT'))
  })

  it('round-trips awkward names and strings byte for byte', () => {
    const names = [
      'quote"back\\slash',
      'new\nline',
      'tab\there',
      'line\u2028sep',
      'emoji 😀 \u{1fae0}',
      'e\u0301',
      '<a>&b',
      '\u00a0nbsp\u00ad',
    ].map((s) => Buffer.from(s))
    names.push(Buffer.from([0x62, 0xff, 0x61, 0x64]))
    const nodes: Node[] = names.map((name) =>
      testNode({ name, type: 'symlink', content: null, linktarget: 'to <' + name.toString() + '>\u0001', user: 'ü\b' }),
    )
    const first = encodeTree(nodes)
    const decoded = decodeTree(first)
    assert.deepEqual(
      decoded.map((n) => n.name.toString('hex')).sort(),
      names.map((n) => n.toString('hex')).sort(),
    )
    assert.ok(encodeTree(decoded).equals(first))
  })
})

describe('decodeTree()', () => {
  it('decodes every field of a restic tree', () => {
    const nodes = decodeTree(RESTIC_TREE)
    assert.equal(nodes.length, 10)
    const [blockdev, , empty, , , hello, link, sticky] = nodes
    assert.deepEqual(blockdev, {
      name: Buffer.from('blockdev'),
      type: 'dev',
      mode: 67109284,
      mtime: '2020-01-02T08:34:05.123456789+05:30',
      atime: '2020-01-02T08:34:05.123456789+05:30',
      ctime: '2026-11-22T10:54:36.325346187+05:30',
      uid: 0,
      gid: 0,
      user: 'root',
      group: 'root',
      inode: 2154309n,
      deviceId: 65024n,
      size: 0,
      links: 1,
      device: 1992n,
      content: null,
    })
    assert.deepEqual(empty.content, [])
    assert.equal(hello.size, 12)
    assert.equal(hello.links, 2)
    assert.deepEqual(hello.xattrs, [{ name: 'user.comment', value: Buffer.from('xattr-value') }])
    assert.deepEqual(hello.content, [ID_A])
    assert.equal(link.linktarget, 'hello.txt')
    assert.equal(sticky.subtree, 'ac08ce34ba4f8123618661bef2425f7028ffb9ac740578a3ee88684d2523fee8')
  })

  it('keeps a symlink target that is not UTF-8 as restic 0.16 and later do: its bytes in linktarget_raw', () => {
    // The bytes were lost: only "linktarget", where each bad byte is \ufffd, was written, and a
    // restic 0.16 node's linktarget_raw was ignored, so the link came back pointing elsewhere.
    const target = goStringFromBytes(Buffer.from([0x62, 0xff, 0x2f, 0x78]))
    const json = encodeNode(testNode({ name: Buffer.from('l'), type: 'symlink', linktarget: target, content: null }))
    assert.match(json, /,"linktarget":"b\\ufffd\/x","linktarget_raw":"Yv8veA==",/)
    const [back] = decodeTree(encodeTree([decodeTree(Buffer.from(`{"nodes":[${json}]}`))[0]]))
    assert.deepEqual(bytesFromGoString(back.linktarget!), Buffer.from([0x62, 0xff, 0x2f, 0x78]))
    assert.equal(encodeNode(back), json, 'encodes back byte for byte')
    // A valid target has no raw copy; a restic 0.14 node (text only, \ufffd) stays as it was.
    assert.doesNotMatch(encodeNode(testNode({ name: Buffer.from('l'), type: 'symlink', linktarget: 'b\ufffd', content: null })), /linktarget_raw/)
    const old = '{"name":"l","type":"symlink","mtime":"0001-01-01T00:00:00Z","atime":"0001-01-01T00:00:00Z","ctime":"0001-01-01T00:00:00Z","uid":0,"gid":0,"linktarget":"b\\ufffd","content":null}'
    assert.equal(encodeNode(decodeTree(Buffer.from(`{"nodes":[${old}]}`))[0]), old)
  })

  it('accepts a tree without the trailing newline, with unknown fields, any order and whitespace', () => {
    const text =
      ' { "future": {"x": [1, 2]}, "nodes" : [ { "content": null, "generic_attributes": {"y": 1}, "type": "symlink", ' +
      '"name": "l", "linktarget": "t", "uid": 5, "gid": 6 } ] } '
    const [node] = decodeTree(Buffer.from(text))
    assert.equal(node.name.toString(), 'l')
    assert.equal(node.type, 'symlink')
    assert.equal(node.linktarget, 't')
    assert.equal(node.uid, 5)
    assert.equal(node.mode, 0)
    assert.equal(node.mtime, '0001-01-01T00:00:00Z')
  })

  it('keeps all 64 bits of inode, device_id and device', () => {
    const text =
      '{"nodes":[{"name":"x","type":"chardev","inode":9223372036854775813,"device_id" : 18446744073709551615,' +
      '"device":12345678901234567,"content":null}]}'
    const [node] = decodeTree(Buffer.from(text))
    assert.equal(node.inode, 2n ** 63n + 5n)
    assert.equal(node.deviceId, 2n ** 64n - 1n)
    assert.equal(node.device, 12345678901234567n)
  })

  it('leaves number-like text inside names alone', () => {
    const name = '"inode":18446744073709551615'
    const bytes = encodeTree([testNode({ name: Buffer.from(name), inode: 7n })])
    const [node] = decodeTree(bytes)
    assert.equal(node.name.toString(), name)
    assert.equal(node.inode, 7n)
  })

  it('reads Go-quoted names back to raw bytes', () => {
    const [node] = decodeTree(Buffer.from('{"nodes":[{"name":"bad\\\\xffname\\\\u2028","type":"file","content":[]}]}'))
    assert.deepEqual(node.name, Buffer.concat([Buffer.from('bad'), Buffer.from([0xff]), Buffer.from('name\u2028')]))
  })

  it('lower-cases upper-case IDs, as Go would write them back', () => {
    const [node] = decodeTree(Buffer.from(`{"nodes":[{"name":"f","type":"file","content":["${ID_A.toUpperCase()}"]}]}`))
    assert.deepEqual(node.content, [ID_A])
  })

  it('keeps Go\'s \\ufffd escapes apart from real U+FFFD, so they survive re-encoding', () => {
    const target = '"1\\ufffd 2\ufffd 3\\\\ufffd 4\\\\\\uFFFD"'
    const [node] = decodeTree(Buffer.from(`{"nodes":[{"name":"l","type":"symlink","linktarget":${target},"content":null}]}`))
    assert.equal(node.linktarget, '1\udc00 2\ufffd 3\\ufffd 4\\\udc00')
    assert.equal(Buffer.from(node.linktarget ?? '').toString(), '1\ufffd 2\ufffd 3\\ufffd 4\\\ufffd')
    assert.ok(encodeTree([node]).toString().includes(`"linktarget":${target.replace('uFFFD', 'ufffd')},`))
  })

  it('reads "nodes": null as an empty tree', () => {
    assert.deepEqual(decodeTree(Buffer.from('{"nodes":null}')), [])
  })

  it('rejects damaged trees with INVALID_DATA', () => {
    const bad = [
      '{"nodes":[',
      '[]',
      '{"nodes":{}}',
      '{"nodes":[{"name":"a\\"b","type":"file"}]}',
      '{"nodes":[{"name":"a\\\\q","type":"file"}]}',
      '{"nodes":[{"name":"a","type":"file","inode":18446744073709551616}]}',
      '{"nodes":[{"name":"a","type":"file","inode":-1}]}',
      '{"nodes":[{"name":"a","type":"file","size":"12"}]}',
      '{"nodes":[{"name":"a","type":"file","content":["abc"]}]}',
      '{"nodes":[{"name":"a","type":"dir","subtree":42}]}',
    ]
    for (const text of bad) {
      assert.throws(() => decodeTree(Buffer.from(text)), (err) => isAppError(err, 'INVALID_DATA'), text)
    }
  })
})

describe('node JSON in parts (nodeJsonHead, nodeJsonTail, encodeTreeJson, splitTreeJson)', () => {
  it('head plus tail is encodeNode, and encodeTreeJson of the nodes is encodeTree', () => {
    const nodes = decodeTree(RESTIC_TREE)
    for (const n of nodes) {
      assert.equal(nodeJsonHead(n) + nodeJsonTail(n.content, n.subtree, n.error), encodeNode(n))
      assert.ok(!nodeJsonHead(n).includes('"content"'))
    }
    assert.ok(encodeTreeJson(nodes.map(encodeNode)).equals(RESTIC_TREE))
  })

  it('encodeTreeJson of a big folder (written node by node) is encodeTree, names beyond ASCII included', () => {
    const nodes = Array.from({ length: 3000 }, (_, i) => testNode({ name: Buffer.from(`f${String(i).padStart(5, '0')}${i % 7 === 0 ? '-é😀' : ''}`), content: [ID_A] }))
    const tree = encodeTreeJson(nodes.map(encodeNode))
    assert.ok(tree.equals(encodeTree(nodes)))
    assert.deepEqual(decodeTree(tree).map((n) => n.name.toString()), nodes.map((n) => n.name.toString()))
  })

  it('nodeJsonHead() gives a flat string, not a rope of its pieces (a backup holds one per entry of a folder)', () => {
    // Built piece by piece with +=, a head of 250 bytes held about 1 KiB: 600 MiB for a folder
    // of 600,000 files.
    const collect = youngCollector()
    if (collect === undefined) return
    const gc = () => collect(true)
    const n = testNode({ name: Buffer.from('some-file-name.txt'), size: 12345, inode: 987654321n, deviceId: 2049n, links: 1, uid: 1000, gid: 1000, user: 'someone', group: 'users' })
    const count = 20_000
    gc()
    const before = process.memoryUsage().heapUsed
    const heads = Array.from({ length: count }, (_, i) => nodeJsonHead({ ...n, inode: BigInt(i), mtime: `2026-11-24T20:${String(i % 60).padStart(2, '0')}:00.123456789Z` }))
    gc()
    const perHead = (process.memoryUsage().heapUsed - before) / count
    const text = heads[0].length
    assert.ok(perHead < 2 * text, `${perHead.toFixed(0)} bytes held per head of ${text} characters`)
  })

  it('reads a tree node by node (as it does a tree too big for one string) as it reads it whole', () => {
    // A tree over 2^29 characters (a folder of about 1.7 million entries, which restic backs
    // up) could not be read: "Cannot create a string longer than 0x1fffffe8 characters".
    const odd = [
      '{"name":"big {[,]}","type":"file","mode":420,"mtime":"2020-01-02T08:34:05Z","atime":"2020-01-02T08:34:05Z","ctime":"2020-01-02T08:34:05Z","uid":0,"gid":0,"inode":18446744073709551615,"device_id":18446744073709551610,"content":[]}',
      '{"name":"bad\\ufffd\\\\ufffd-é😀","type":"symlink","mtime":"2020-01-02T08:34:05Z","atime":"2020-01-02T08:34:05Z","ctime":"2020-01-02T08:34:05Z","uid":0,"gid":0,"linktarget":"x\\ufffdy \\"q\\" {]\\\\","content":null}',
    ]
    const trees = [
      RESTIC_TREE,
      Buffer.from('{"nodes":[' + [...RESTIC_NODES, ...odd].join(',') + ']}\n'),
      Buffer.from(JSON.stringify({ nodes: JSON.parse('[' + RESTIC_NODES.join(',') + ']') }, null, 2) + '\n'),
      Buffer.from(' {\n "nodes" : [ ' + odd.join(' ,\n ') + ' ] } \n'),
      Buffer.from('{"nodes":[]}\n'),
      Buffer.from('{"nodes":null}'),
    ]
    for (const tree of trees) {
      for (const batch of [1, 700, 1 << 20]) assert.deepEqual(decodeTreeInPieces(tree, batch), decodeTree(tree), `${tree.toString().slice(0, 40)} / ${batch}`)
      assert.deepEqual(splitBigTreeJson(tree), splitTreeJson(tree))
    }
    assert.deepEqual(splitBigTreeJson(trees[1]), [...RESTIC_NODES, ...odd])
    // Any other shape is left to the whole-tree reader, which says what is wrong.
    for (const other of ['{"nodes":[],"x":1}', '{"x":1,"nodes":[]}', '{"nodes":[{}', '{"nodes":[{}]}x', '{"nodes":[{"a":"}]}', '[]', '{"nodes":[1]}']) {
      assert.equal(nodeRanges(Buffer.from(other)), undefined, other)
      assert.equal(decodeTreeInPieces(Buffer.from(other)), undefined, other)
    }
  })

  it('splits a tree restic wrote into its nodes as written, and decodeNodeJson reads each', () => {
    assert.deepEqual(splitTreeJson(RESTIC_TREE), RESTIC_NODES)
    const nodes = decodeTree(RESTIC_TREE)
    RESTIC_NODES.forEach((json, i) => assert.deepEqual(decodeNodeJson(json), nodes[i]))
    assert.deepEqual(splitTreeJson(Buffer.from('{"nodes":[]}\n')), [])
  })

  it('keeps braces, brackets, quotes and backslashes inside strings within their node', () => {
    const tricky = [
      testNode({ name: Buffer.from('a}{"]['), type: 'symlink', linktarget: 'x\\"}]', content: null }),
      testNode({ name: Buffer.from('b\\'), xattrs: [{ name: 'user.}\\', value: Buffer.from('{[') }], content: [ID_A, ID_B] }),
    ]
    const texts = tricky.map(encodeNode)
    assert.deepEqual(splitTreeJson(encodeTreeJson(texts)), texts)
  })

  it('plainNameJson() gives the name JSON the bytes would give, and undefined for any name that needs escaping', () => {
    const names = [...Array.from({ length: 128 }, (_, c) => String.fromCharCode(c)), '', 'a.txt', 'with space', "it's", 'a&b', '<x>', 'q"q', 'b\\s', 'tab\t', '\u00e9t\u00e9', '\u{1F600}', '\u007f']
    let plain = 0
    for (const name of names) {
      const quoted = plainNameJson(name)
      if (quoted === undefined) continue
      plain++
      const node = testNode({ name: Buffer.from(name) })
      assert.equal(nodeJsonHead(node, quoted), nodeJsonHead(node), JSON.stringify(name))
    }
    // printable ASCII but for " & < > \\, the empty name, and a.txt, 'with space' and it's
    assert.equal(plain, 95 - 5 + 1 + 3)
  })

  it('ends a node after its extended attributes, whose entries are objects with a name too', () => {
    const two = [{ name: 'user.a', value: Buffer.from('1') }, { name: 'user.b', value: Buffer.from('2') }]
    const nodes = [
      testNode({ name: Buffer.from('a'), xattrs: two, content: [ID_A] }),
      testNode({ name: Buffer.from('b},{"name":'), content: [ID_B] }),
      testNode({ name: Buffer.from('c[{'), xattrs: two, content: [] }),
      testNode({ name: Buffer.from('d'), content: [ID_A, ID_B] }),
      testNode({ name: Buffer.from('e'), xattrs: two, content: [ID_B] }),
    ]
    const texts = nodes.map(encodeNode)
    assert.deepEqual(splitTreeJson(encodeTreeJson(texts)), texts)
    assert.deepEqual(splitTreeJson(encodeTreeJson(texts.slice(1, 2))), texts.slice(1, 2))
  })

  it('gives undefined for a tree of another shape (whitespace, other key order), which decodeTree still reads', () => {
    const spaced = Buffer.from('{ "nodes": [' + RESTIC_NODES[2] + '] }')
    assert.equal(splitTreeJson(spaced), undefined)
    assert.equal(decodeTree(spaced).length, 1)
    assert.equal(splitTreeJson(Buffer.from('{"nodes":[' + RESTIC_NODES[2] + ']}\nx')), undefined)
    assert.equal(splitTreeJson(Buffer.from('{"nodes":[{"name":"x"')), undefined)
  })

  it('compareNames orders by UTF-8 bytes, also where UTF-16 order differs', () => {
    // U+FF5E is one UTF-16 unit above the surrogates of U+1F600, but its UTF-8 bytes come first.
    const names = ['\u{1F600}', '\uFF5E', 'b', 'a', 'ab']
    const byBytes = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    assert.deepEqual([...names].sort(compareNames), byBytes)
    assert.deepEqual(byBytes, ['a', 'ab', 'b', '\uFF5E', '\u{1F600}'])
    assert.equal(compareNames(Buffer.from([0xff]), 'z'), 1)
  })
})

