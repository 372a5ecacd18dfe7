import { AppError, type Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import { selectSnapshots, unreadableSnapshot } from './snapshot-selection.js'
import { decodeTree, goStringFromBytes, loadSnapshots, matchesFilter, findSnapshot, sortSnapshots, type Node, type SnapshotEntry, type SnapshotFilter } from '../snapshots/index.js'
import { cleanSnapshotPath, resolveTreePath, splitSnapshotPath, subfolderTree } from './tree-path.js'

/** Snapshots matching the filter, oldest first; `latest` keeps the newest N per host and paths. */
export async function listSnapshots(repo: Repository, filter: SnapshotFilter = {}, latest?: number, ids?: string[], onWarning?: (message: string) => void): Promise<SnapshotEntry[]> {
  // Named snapshots (IDs, prefixes, "latest") are chosen as every command chooses them.
  // An unreadable snapshot file is reported and skipped, as restic does, when there is someone to tell.
  const unreadable = onWarning && ((id: Id, err: unknown) => onWarning(unreadableSnapshot(id, err)))
  const list = ids !== undefined && ids.length > 0 ? sortSnapshots(await selectSnapshots(repo, { ids, filter }, onWarning)) : (await loadSnapshots(repo, unreadable)).filter((e) => matchesFilter(e.snapshot, filter))
  return latest !== undefined ? newestPerHostAndPaths(list, latest) : list
}

/**
 * The newest `n` snapshots of each host and set of paths in `list` (oldest first), in its order;
 * all of them for n = 0. `snapshots --group-by` applies it within each group, as restic does.
 */
export function newestPerHostAndPaths(list: SnapshotEntry[], n: number): SnapshotEntry[] {
  if (n <= 0) return list
  const groups = new Map<string, SnapshotEntry[]>()
  for (const e of list) {
    const k = `${e.snapshot.hostname ?? ''}\0${[...e.snapshot.paths].sort().join('\0')}`
    const g = groups.get(k) ?? []
    g.push(e)
    groups.set(k, g)
  }
  const keep = new Set<Id>()
  for (const g of groups.values()) for (const e of g.slice(-n)) keep.add(e.id)
  return list.filter((e) => keep.has(e.id))
}

export interface ListedNode {
  /** Absolute path inside the snapshot, e.g. "/home/me/a.txt". */
  path: string
  node: Node
}

/**
 * Walks a snapshot (or the sub-folder of "SNAPSHOT:/sub/dir" as its root; `dirs` as restic's ls takes them) and
 * calls `visit` for each node in tree order. Without `recursive`, only the named directory's
 * entries are listed (and with no directory, the whole snapshot, as restic does).
 */
export async function listSnapshotTree(
  repo: Repository,
  spec: string,
  options: {
    dirs?: string[]
    recursive?: boolean
    filter?: SnapshotFilter
    /** Told which snapshot is listed, before its first entry. */
    onSnapshot?: (entry: SnapshotEntry) => void
    /** A folder whose contents cannot be read is reported here and skipped; without it, the listing stops there. */
    onError?: (path: string, err: unknown) => void
  },
  visit: (item: ListedNode) => void,
): Promise<SnapshotEntry> {
  const { snapshot: id, path } = splitSnapshotPath(spec)
  const entry = await findSnapshot(repo, id, options.filter)
  await repo.loadIndex()
  options.onSnapshot?.(entry)
  const walk = (tree: Id, prefix: string, recursive: boolean, see: (item: ListedNode) => void) => walkTree(repo, tree, prefix, recursive, see, options.onError)
  // SNAPSHOT:/sub lists the sub-folder as if it were the snapshot's root, as restic (0.16 and
  // later) does: its paths start at the sub-folder, and `dirs` are inside it.
  const root = await subfolderTree(repo, entry, path)
  const dirs = (options.dirs ?? []).map(cleanSnapshotPath)
  if (dirs.length === 0) {
    await walk(root, '', true, visit)
    return entry
  }
  // Folders named twice, or one inside another, list each entry once.
  const seen = new Set<string>()
  const once = (item: ListedNode) => {
    if (seen.has(item.path)) return
    seen.add(item.path)
    visit(item)
  }
  for (const dir of dirs) {
    const found = await resolveTreePath(repo, root, dir)
    if (found.node && found.node.type !== 'dir') {
      once({ path: dir, node: found.node })
      continue
    }
    // The folder itself first, then what is in it, as restic lists a folder named on the command line.
    if (found.node !== undefined && dir !== '/') once({ path: dir, node: found.node })
    if (found.tree) await walk(found.tree, dir === '/' ? '' : dir, options.recursive === true, once)
  }
  return entry
}

async function walkTree(repo: Repository, tree: Id, prefix: string, recursive: boolean, visit: (item: ListedNode) => void, onError?: (path: string, err: unknown) => void): Promise<void> {
  let nodes: Node[]
  try {
    nodes = decodeTree(await repo.loadBlob('tree', tree))
  } catch (err) {
    if (onError === undefined) throw err
    onError(prefix === '' ? '/' : prefix, err)
    return
  }
  for (const node of nodes) {
    const path = `${prefix}/${goStringFromBytes(node.name)}`
    visit({ path, node })
    if (recursive && node.type === 'dir' && node.subtree) await walkTree(repo, node.subtree, path, recursive, visit, onError)
  }
}

/** What `list` lists, as restic names them. */
export const LIST_TYPES = ['blobs', 'packs', 'index', 'snapshots', 'keys', 'locks'] as const
export type ListType = (typeof LIST_TYPES)[number]

const FILE_TYPE_OF = { packs: 'data', index: 'index', snapshots: 'snapshots', keys: 'keys', locks: 'locks' } as const

/** `type` as a ListType; throws INVALID_ARGUMENT naming the types when it is none (before the repository is opened). */
export function listType(type: string): ListType {
  if (!(LIST_TYPES as readonly string[]).includes(type)) {
    throw new AppError('INVALID_ARGUMENT', `Cannot list "${type}"`, { hint: `Use one of: ${LIST_TYPES.join(', ')}` })
  }
  return type as ListType
}

/**
 * The lines `restic list TYPE` prints: the IDs of the repository's files of a type (`packs` are
 * its data files), or for `blobs` each index entry as "data <id>" or "tree <id>" (a blob stored
 * in two packs, twice). Files come one by one as the backend lists them, in its order, so that
 * a repository of millions of packs is never held as a list.
 */
export async function* listObjects(repo: Repository, type: ListType): AsyncGenerator<string> {
  if (type === 'blobs') {
    await repo.loadIndex()
    for (const b of repo.index.blobs()) yield `${b.type} ${b.id}`
    return
  }
  for await (const f of repo.backend.list(FILE_TYPE_OF[type], { namesOnly: true })) yield f.name
}
