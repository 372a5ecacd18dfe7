/**
 * Test helpers for code that builds or reads trees. Imported by tests only.
 */
import type { Node } from './node.js'

/**
 * A plain 0644 file node owned by root with fixed times; override any field.
 *
 * @example
 * const dir = testNode({ name: Buffer.from('sub'), type: 'dir', mode: 2147484141, content: null, subtree: id })
 */
export function testNode(fields: Partial<Node> = {}): Node {
  return {
    name: Buffer.from('file.txt'),
    type: 'file',
    mode: 0o644,
    mtime: '2020-01-02T03:04:05.123456789Z',
    atime: '2020-01-02T03:04:05.123456789Z',
    ctime: '2020-01-02T03:04:05.123456789Z',
    uid: 0,
    gid: 0,
    user: 'root',
    group: 'root',
    inode: 1234n,
    deviceId: 65024n,
    size: 0,
    links: 1,
    content: [],
    ...fields,
  }
}
