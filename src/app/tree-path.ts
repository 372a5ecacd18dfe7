import { AppError, type Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import { bytesFromGoString, decodeTree, type Node } from '../snapshots/index.js'

/** Splits "SNAPSHOT:PATH" (restic's syntax for a folder inside a snapshot). */
export function splitSnapshotPath(spec: string): { snapshot: string; path?: string } {
  const i = spec.indexOf(':')
  if (i < 0) return { snapshot: spec }
  return { snapshot: spec.slice(0, i), path: spec.slice(i + 1) }
}

/**
 * A path inside a snapshot as restic cleans it: "/a/b" from "a/b/", "/a/./b", "//a/b" or
 * "/a/c/../b"; "/" for the root.
 */
export function cleanSnapshotPath(p: string): string {
  const parts: string[] = []
  for (const s of p.split('/')) {
    if (s === '' || s === '.') continue
    if (s === '..') parts.pop()
    else parts.push(s)
  }
  return '/' + parts.join('/')
}

/**
 * Follows `path` (like "/home/me/docs") from a root tree. Returns the node found and the tree
 * to list for it (the node's subtree for a directory).
 */
export async function resolveTreePath(
  repo: Pick<Repository, 'loadBlob'>,
  rootTree: Id,
  path: string,
): Promise<{ node?: Node; tree?: Id }> {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.')
  let tree: Id | undefined = rootTree
  let node: Node | undefined
  for (let i = 0; i < parts.length; i++) {
    if (tree === undefined) throw notFound(path)
    const nodes = decodeTree(await repo.loadBlob('tree', tree))
    const want = bytesFromGoString(parts[i])
    node = nodes.find((n) => n.name.equals(want))
    if (!node) throw notFound(path)
    tree = node.type === 'dir' ? node.subtree : undefined
  }
  return { node, tree }
}

/**
 * The tree that "SNAPSHOT:PATH" names: the folder's, or the snapshot's root without a path.
 * @throws AppError NOT_FOUND when the snapshot lacks the path, INVALID_ARGUMENT when it is not a folder
 */
export async function subfolderTree(
  repo: Pick<Repository, 'loadBlob'>,
  snapshot: { id: string; snapshot: { tree: Id } },
  path: string | undefined,
  hint = 'Name a folder after the colon, as "cairn ls SNAPSHOT" shows them',
): Promise<Id> {
  const sub = path === undefined ? '/' : cleanSnapshotPath(path)
  if (sub === '/') return snapshot.snapshot.tree
  const found = await resolveTreePath(repo, snapshot.snapshot.tree, sub)
  if (found.tree === undefined) throw new AppError('INVALID_ARGUMENT', `Path "${path}" in snapshot ${snapshot.id.slice(0, 8)} is not a folder`, { hint })
  return found.tree
}

function notFound(path: string): AppError {
  return new AppError('NOT_FOUND', `Path "${path}" not found in the snapshot`, { hint: 'List the snapshot with "cairn ls SNAPSHOT" to see its paths' })
}
