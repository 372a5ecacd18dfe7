import type { Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import { findSnapshot, goStringFromBytes, parseGoTime, type Node, type SnapshotEntry } from '../snapshots/index.js'
import { subtreesOf, TreeLoader } from './tree-loader.js'
import { splitSnapshotPath, subfolderTree } from './tree-path.js'

/**
 * One changed path, as restic's diff prints it: "+" added, "-" removed, "M" content modified,
 * "U" metadata only (with `metadata`), "T" type changed (possibly with "M" or "U"). Directory
 * paths end in "/".
 */
export interface DiffChange {
  path: string
  modifier: string
}

/** Counts for one side of a diff, named as restic's JSON names them. */
export interface DiffStat {
  files: number
  dirs: number
  others: number
  dataBlobs: number
  treeBlobs: number
  /** Plaintext bytes of those blobs. */
  bytes: number
}

export interface DiffRequest {
  /** The two snapshots: IDs, prefixes or "latest". */
  first: string
  second: string
  /** Report metadata-only changes ("U") too. */
  metadata?: boolean
  signal?: AbortSignal
}

export interface DiffVisitor {
  /** Both snapshots were found; changes follow. */
  onStart?(source: SnapshotEntry, target: SnapshotEntry): void
  onChange?(c: DiffChange): void
  onWarning?(message: string): void
}

export interface DiffResult {
  source: SnapshotEntry
  target: SnapshotEntry
  /** Files whose content differs. */
  changedFiles: number
  added: DiffStat
  removed: DiffStat
}

type DiffRepo = Pick<Repository, 'loadBlob' | 'loadBlobWith' | 'listIds' | 'loadUnpacked' | 'loadIndex' | 'blobSize'>

const emptyStat = (): DiffStat => ({ files: 0, dirs: 0, others: 0, dataBlobs: 0, treeBlobs: 0, bytes: 0 })

/**
 * Compares two snapshots as restic's diff does: trees are compared name by name, identical
 * subtrees (same ID) are not descended into, and each change is reported through `onChange`
 * in path order. The statistics count entries and the blobs only one side has (blobs both
 * sides use anywhere, including in unchanged subtrees, are not counted).
 *
 * @example
 * const r = await diffSnapshots(repo, { first: 'a1b2c3d4', second: 'latest' }, { onChange: (c) => console.log(c.modifier, c.path) })
 */
export async function diffSnapshots(repo: DiffRepo, req: DiffRequest, visitor: DiffVisitor = {}): Promise<DiffResult> {
  // "SNAPSHOT:/sub" compares that folder of each, as restic (0.16 and later) does.
  const first = splitSnapshotPath(req.first)
  const second = splitSnapshotPath(req.second)
  const source = await findSnapshot(repo, first.snapshot)
  const target = await findSnapshot(repo, second.snapshot)
  const onChange = visitor.onChange ?? (() => {})
  const onWarning = visitor.onWarning ?? (() => {})
  await repo.loadIndex()
  const sourceTree = await subfolderTree(repo, source, first.path)
  const targetTree = await subfolderTree(repo, target, second.path)
  visitor.onStart?.(source, target)
  const c = new Comparer(new TreeLoader(repo), req, onChange, onWarning)
  c.before.add('t' + sourceTree)
  c.after.add('t' + targetTree)
  await c.diffTree('/', sourceTree, targetTree)

  const added = c.added
  const removed = c.removed
  const count = (set: Set<string>, other: Set<string>, stat: DiffStat) => {
    for (const key of set) {
      if (other.has(key) || c.common.has(key)) continue
      const type = key[0] === 't' ? 'tree' : 'data'
      if (type === 'tree') stat.treeBlobs++
      else stat.dataBlobs++
      const size = repo.blobSize(type, key.slice(1))
      if (size === undefined) onWarning(`Unable to find the size of ${type} blob ${key.slice(1, 9)}`)
      else stat.bytes += size
    }
  }
  count(c.before, c.after, removed)
  count(c.after, c.before, added)
  return { source, target, changedFiles: c.changedFiles, added, removed }
}

class Comparer {
  readonly before = new Set<string>()
  readonly after = new Set<string>()
  readonly common = new Set<string>()
  readonly added = emptyStat()
  readonly removed = emptyStat()
  changedFiles = 0
  #trees: TreeLoader
  #metadata: boolean
  #signal: AbortSignal | undefined
  #onChange: (c: DiffChange) => void
  #warn: (message: string) => void
  #collected = new Set<Id>()

  constructor(trees: TreeLoader, req: DiffRequest, onChange: (c: DiffChange) => void, warn: (message: string) => void) {
    this.#trees = trees
    this.#metadata = req.metadata === true
    this.#signal = req.signal
    this.#onChange = onChange
    this.#warn = warn
  }

  async diffTree(prefix: string, id1: Id, id2: Id): Promise<void> {
    this.#signal?.throwIfAborted()
    const [tree1, tree2] = await Promise.all([this.#trees.load(id1), this.#trees.load(id2)])
    const nodes1 = byName(tree1)
    const nodes2 = byName(tree2)
    const names = [...new Set([...nodes1.keys(), ...nodes2.keys()])].sort()
    this.#trees.prefetch(changedSubtrees(tree1, nodes2))
    this.#trees.prefetch(changedSubtrees(tree2, nodes1))
    for (const name of names) {
      const node1 = nodes1.get(name)
      const node2 = nodes2.get(name)
      addBlobs(this.before, node1)
      addBlobs(this.after, node2)
      const path = join(prefix, name)
      if (node1 && node2) {
        let mod = ''
        if (node1.type !== node2.type) mod += 'T'
        const shown = node2.type === 'dir' ? path + '/' : path
        if (node1.type === 'file' && node2.type === 'file' && !sameContent(node1, node2)) {
          mod += 'M'
          this.changedFiles++
        } else if (this.#metadata && !nodesEqual(node1, node2)) mod += 'U'
        if (mod !== '') this.#onChange({ path: shown, modifier: mod })
        if (node1.type === 'dir' && node2.type === 'dir' && node1.subtree && node2.subtree) {
          try {
            if (node1.subtree === node2.subtree) await this.#collect(node1.subtree)
            else await this.diffTree(shown, node1.subtree, node2.subtree)
          } catch (err) {
            this.#warn(`error: ${err instanceof Error ? err.message : String(err)}`)
          }
        }
      } else if (node1) {
        await this.#printAll(node1, path, '-', this.removed, this.before)
      } else if (node2) {
        await this.#printAll(node2, path, '+', this.added, this.after)
      }
    }
  }

  /** Reports a node and, for a directory, everything below it, all with one modifier. */
  async #printAll(node: Node, path: string, mod: string, stat: DiffStat, blobs: Set<string>): Promise<void> {
    const shown = node.type === 'dir' ? path + '/' : path
    this.#onChange({ path: shown, modifier: mod })
    countNode(stat, node)
    if (node.type !== 'dir' || !node.subtree) return
    try {
      const nodes = await this.#trees.load(node.subtree)
      this.#trees.prefetch(subtreesOf(nodes))
      for (const child of nodes) {
        addBlobs(blobs, child)
        await this.#printAll(child, join(shown, child.name.toString('latin1')), mod, stat, blobs)
      }
    } catch (err) {
      this.#warn(`error: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  /** Adds every blob below an unchanged subtree to the common set (each tree once). */
  async #collect(id: Id): Promise<void> {
    if (this.#collected.has(id)) return
    this.#collected.add(id)
    const nodes = await this.#trees.load(id)
    this.#trees.prefetch(subtreesOf(nodes).filter((t) => !this.#collected.has(t)))
    for (const node of nodes) {
      addBlobs(this.common, node)
      if (node.type === 'dir' && node.subtree) await this.#collect(node.subtree)
    }
  }
}

/** Names as latin1 strings: one character per byte, so sorting them sorts the bytes. */
function byName(nodes: readonly Node[]): Map<string, Node> {
  const m = new Map<string, Node>()
  for (const n of nodes) m.set(n.name.toString('latin1'), n)
  return m
}

/** The path shown for a name (kept as latin1 internally), decoded as UTF-8. */
function join(prefix: string, latin1Name: string): string {
  const name = goStringFromBytes(Buffer.from(latin1Name, 'latin1'))
  return prefix.endsWith('/') ? prefix + name : `${prefix}/${name}`
}

function changedSubtrees(nodes: readonly Node[], others: Map<string, Node>): Id[] {
  const out: Id[] = []
  for (const n of nodes) {
    if (n.type !== 'dir' || !n.subtree) continue
    const o = others.get(n.name.toString('latin1'))
    if (o?.subtree !== n.subtree) out.push(n.subtree)
  }
  return out
}

function addBlobs(set: Set<string>, node: Node | undefined): void {
  if (!node) return
  if (node.type === 'file') for (const id of node.content ?? []) set.add('d' + id)
  else if (node.type === 'dir' && node.subtree) set.add('t' + node.subtree)
}

function countNode(stat: DiffStat, node: Node): void {
  if (node.type === 'file') stat.files++
  else if (node.type === 'dir') stat.dirs++
  else stat.others++
}

function sameContent(a: Node, b: Node): boolean {
  const x = a.content ?? []
  const y = b.content ?? []
  return x.length === y.length && x.every((id, i) => id === y[i])
}

function sameTime(a: string, b: string): boolean {
  if (a === b) return true
  try {
    return parseGoTime(a) === parseGoTime(b)
  } catch {
    return false
  }
}

/** restic's Node.Equals: every stored field, times compared as instants. */
export function nodesEqual(a: Node, b: Node): boolean {
  if (!a.name.equals(b.name) || a.type !== b.type || a.mode !== b.mode) return false
  if (!sameTime(a.mtime, b.mtime) || !sameTime(a.atime, b.atime) || !sameTime(a.ctime, b.ctime)) return false
  if (a.uid !== b.uid || a.gid !== b.gid || (a.user ?? '') !== (b.user ?? '') || (a.group ?? '') !== (b.group ?? '')) return false
  if (a.inode !== b.inode || a.deviceId !== b.deviceId || a.size !== b.size || a.links !== b.links) return false
  if ((a.linktarget ?? '') !== (b.linktarget ?? '') || (a.device ?? 0n) !== (b.device ?? 0n)) return false
  if (!sameContent(a, b) || a.subtree !== b.subtree || (a.error ?? '') !== (b.error ?? '')) return false
  const xa = a.xattrs ?? []
  const xb = b.xattrs ?? []
  if (xa.length !== xb.length) return false
  return xa.every((x) => xb.some((y) => y.name === x.name && y.value.equals(x.value)))
}
