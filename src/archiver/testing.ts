/**
 * Test helpers for backups: read back what the archiver stored. Imported by tests only.
 */
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import { decodeTree, type Node } from '../snapshots/index.js'

type TreeRepo = Pick<Repository, 'loadBlob'>

/** The nodes of the directory at `absPath` ("/" for the root) inside a snapshot's tree. */
export async function nodesAt(repo: TreeRepo, rootTree: Id, absPath: string): Promise<Node[]> {
  let nodes = decodeTree(await repo.loadBlob('tree', rootTree))
  for (const part of absPath.split('/').filter((p) => p !== '')) {
    const node = nodes.find((n) => n.name.toString() === part)
    if (!node || node.type !== 'dir' || !node.subtree) throw new Error(`no directory "${part}" on the way to "${absPath}"`)
    nodes = decodeTree(await repo.loadBlob('tree', node.subtree))
  }
  return nodes
}

/** The node at `absPath` inside a snapshot's tree. */
export async function nodeAt(repo: TreeRepo, rootTree: Id, absPath: string): Promise<Node> {
  const i = absPath.lastIndexOf('/')
  const name = absPath.slice(i + 1)
  const node = (await nodesAt(repo, rootTree, absPath.slice(0, i) || '/')).find((n) => n.name.toString() === name)
  if (!node) throw new Error(`no node "${absPath}" in the snapshot`)
  return node
}

/** The names in a directory listing, sorted. */
export function names(nodes: readonly Node[]): string[] {
  return nodes.map((n) => n.name.toString()).sort()
}

/** A file node's content, read blob by blob. */
export async function fileContent(repo: TreeRepo, node: Node): Promise<Buffer> {
  const parts: Buffer[] = []
  for (const id of node.content ?? []) parts.push(await repo.loadBlob('data', id))
  return Buffer.concat(parts)
}

/** An entry for writeFiles(): file content, `{ symlink: target }` or `{ dir: true }` (empty directory). */
export type FileSpec = string | Buffer | { symlink: string } | { dir: true }

/**
 * Creates files under `root`, parents first.
 *
 * @example
 * await writeFiles(dir, { 'a.txt': 'hello', 'sub/b.bin': bytes, 'link': { symlink: 'a.txt' }, 'empty': { dir: true } })
 */
export async function writeFiles(root: string, files: Record<string, FileSpec>): Promise<void> {
  for (const [rel, spec] of Object.entries(files)) {
    const path = join(root, rel)
    if (typeof spec === 'object' && 'dir' in spec) {
      await mkdir(path, { recursive: true })
      continue
    }
    await mkdir(dirname(path), { recursive: true })
    if (typeof spec === 'object' && 'symlink' in spec) await symlink(spec.symlink, path)
    else await writeFile(path, spec)
  }
}

/** Every path below `root` (directories with a trailing "/"), sorted: a quick picture of a tree. */
export async function listTree(root: string, rel = ''): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name
    if (e.isDirectory()) out.push(`${p}/`, ...(await listTree(root, p)))
    else out.push(p)
  }
  return out.sort()
}
