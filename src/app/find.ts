import { AppError, messageOf, type Id } from '../base/index.js'
import { checkPatterns, ExcludeMatcher } from '../archiver/index.js'
import { readPackHeader, type BlobLocation, type BlobType, type Repository } from '../repository/index.js'
import { goStringFromBytes, parseGoTime, type Node, type SnapshotEntry, type SnapshotFilter } from '../snapshots/index.js'
import { parseFindTime } from './find-time.js'
import { selectSnapshots } from './snapshot-selection.js'
import { subtreesOf, TreeLoader } from './tree-loader.js'

/** What the patterns are: path globs (default), or blob, tree or pack IDs (full or prefixes). */
export type FindKind = 'path' | 'blob' | 'tree' | 'pack'

export interface FindRequest {
  patterns: string[]
  kind?: FindKind
  /** Snapshot IDs, prefixes or "latest"; when empty, every snapshot matching `filter`. */
  snapshots?: string[]
  filter?: SnapshotFilter
  ignoreCase?: boolean
  /** Only entries modified at or after / before this time (restic's -O / -N formats). */
  oldest?: string
  newest?: string
  /** Look up the packs holding the blobs or trees searched for. */
  showPackId?: boolean
  signal?: AbortSignal
}

export interface FindMatch {
  snapshot: SnapshotEntry
  /** Absolute path in the snapshot. */
  path: string
  node: Node
}

export interface FoundObject {
  kind: 'blob' | 'tree'
  id: Id
  /** The file holding the blob, or the directory the tree lists. */
  path: string
  /** For a blob: the tree listing the file. */
  parentTree?: Id
  snapshot: SnapshotEntry
}

export interface FindVisitor {
  onMatch?(m: FindMatch): void
  onObject?(o: FoundObject): void
  onWarning?(message: string): void
}

export interface ObjectPacks {
  type: BlobType
  /** The ID as given (a prefix), or the full ID once it was found in a snapshot. */
  id: string
  locations: BlobLocation[]
}

export interface FindResult {
  snapshots: number
  found: number
  /** With showPackId: where each searched blob or tree is stored. */
  packs?: ObjectPacks[]
}

type FindRepo = Pick<Repository, 'loadBlobWith' | 'listIds' | 'loadUnpacked' | 'loadIndex' | 'index' | 'backend' | 'key'>

/**
 * restic's `find`: searches snapshots for paths matching glob patterns, or for the files and
 * directories that use given blob, tree or pack IDs. Results arrive through `visitor` in
 * snapshot order (oldest first) and tree order.
 *
 * Patterns match as restic's find matches them: a pattern without a leading "/" matches any run
 * of path components (so "foo" also matches everything below a directory "foo"), one with a
 * leading "/" matches from the root; `*`, `?`, `[…]` work within a component, `**` across them.
 *
 * @example
 * await findInSnapshots(repo, { patterns: ['*.jpg'] }, { onMatch: (m) => console.log(m.path) })
 */
export async function findInSnapshots(repo: FindRepo, req: FindRequest, visitor: FindVisitor = {}): Promise<FindResult> {
  if (req.patterns.length === 0) throw new AppError('INVALID_ARGUMENT', 'Nothing to find: no pattern given', { hint: 'Give a pattern such as "*.jpg", or IDs with --blob, --tree or --pack' })
  const kind = req.kind ?? 'path'
  if (kind === 'path') checkPatterns('find', req.patterns)
  const warn = visitor.onWarning ?? (() => {})
  await repo.loadIndex()
  const entries = await selectSnapshots(repo, { ids: req.snapshots, filter: req.filter }, warn)
  const trees = new TreeLoader(repo)
  const result: FindResult = { snapshots: entries.length, found: 0 }

  if (kind === 'path') {
    const finder = new PathFinder(trees, req, (m) => {
      result.found++
      visitor.onMatch?.(m)
    }, warn)
    for (const e of entries) {
      req.signal?.throwIfAborted()
      await finder.search(e)
    }
    return result
  }

  const wanted = kind === 'pack' ? await blobsOfPacks(repo, req.patterns, warn) : new IdMatcher(req.patterns.map((p) => p.toLowerCase()))
  const onObject = (o: FoundObject) => {
    result.found++
    visitor.onObject?.(o)
  }
  for (const e of entries) {
    req.signal?.throwIfAborted()
    await findIds(trees, e, kind === 'tree' ? 'tree' : 'blob', wanted, onObject, warn)
  }
  if (req.showPackId && kind !== 'pack') {
    const type: BlobType = kind === 'tree' ? 'tree' : 'data'
    result.packs = wanted.resolved().map((id) => ({ type, id, locations: id.length === 64 ? repo.index.lookupAll(type, id) : [] }))
  }
  return result
}

/** Full IDs and prefixes; a prefix that matched an ID becomes that ID (for the pack lookup). */
class IdMatcher {
  #full = new Set<string>()
  #prefixes: string[] = []
  #found = new Map<string, Id>()

  constructor(ids: Iterable<string>) {
    for (const id of ids) {
      if (id.length === 64) this.#full.add(id)
      else this.#prefixes.push(id)
    }
  }

  has(id: Id): boolean {
    if (this.#full.has(id)) return true
    for (const p of this.#prefixes) {
      if (id.startsWith(p)) {
        this.#found.set(p, id)
        return true
      }
    }
    return false
  }

  resolved(): string[] {
    return [...this.#full, ...this.#prefixes.map((p) => this.#found.get(p) ?? p)]
  }
}

async function findIds(
  trees: TreeLoader,
  e: SnapshotEntry,
  kind: 'blob' | 'tree',
  wanted: IdMatcher,
  onObject: (o: FoundObject) => void,
  warn: (message: string) => void,
): Promise<void> {
  const walk = async (tree: Id, prefix: string): Promise<void> => {
    let nodes: Node[]
    try {
      nodes = await trees.load(tree)
    } catch (err) {
      warn(`Unable to load tree ${tree}\n ... which belongs to snapshot ${e.id}: ${messageOf(err)}`)
      return
    }
    trees.prefetch(subtreesOf(nodes))
    for (const node of nodes) {
      const path = `${prefix}/${goStringFromBytes(node.name)}`
      if (node.type === 'dir' && node.subtree !== undefined) {
        if (kind === 'tree' && wanted.has(node.subtree)) onObject({ kind: 'tree', id: node.subtree, path, snapshot: e })
        await walk(node.subtree, path)
      } else if (kind === 'blob' && node.type === 'file') {
        for (const id of node.content ?? []) if (wanted.has(id)) onObject({ kind: 'blob', id, path, parentTree: tree, snapshot: e })
      }
    }
  }
  await walk(e.snapshot.tree, '')
}

/** The IDs of the blobs in the named packs: from the pack headers, or the index for packs that are gone. */
async function blobsOfPacks(repo: FindRepo, patterns: string[], warn: (message: string) => void): Promise<IdMatcher> {
  const blobIds: Id[] = []
  const open = new Set(patterns.map((p) => p.toLowerCase()))
  for (const name of await repo.listIds('data')) {
    const hit = [...open].find((p) => name.startsWith(p))
    if (hit === undefined) continue
    open.delete(hit)
    for (const b of await readPackHeader(repo.backend, repo.key, name)) blobIds.push(b.id)
  }
  if (open.size > 0) {
    const fromIndex = new Set<string>()
    for (const { id, blobs } of repo.index.packs()) {
      const hit = [...open].find((p) => id.startsWith(p))
      if (hit === undefined) continue
      fromIndex.add(hit)
      for (const b of blobs) blobIds.push(b.id)
    }
    if (fromIndex.size > 0) warn(`Some pack files are missing from the repository, getting their blobs from the repository index: ${[...fromIndex].join(', ')}`)
    for (const p of fromIndex) open.delete(p)
  }
  if (open.size > 0) throw new AppError('NOT_FOUND', `Unable to find pack(s): ${[...open].sort().join(', ')}`, { hint: 'List the packs with "cairn list packs"' })
  return new IdMatcher(blobIds)
}

/** The path search of one find run; remembers subtrees known to hold no match across snapshots. */
class PathFinder {
  #trees: TreeLoader
  #onMatch: (m: FindMatch) => void
  #warn: (message: string) => void
  #matcher: ExcludeMatcher
  #fold: boolean
  #absolute: string[][]
  #anyRelative: boolean
  /** Patterns that are one relative component: a subtree's matches then depend only on the subtree. */
  #cacheable: boolean
  #noMatch = new Set<Id>()
  #prefixMatchers = new Map<string, ExcludeMatcher>()
  #oldest: bigint | undefined
  #newest: bigint | undefined

  constructor(trees: TreeLoader, req: FindRequest, onMatch: (m: FindMatch) => void, warn: (message: string) => void) {
    this.#trees = trees
    this.#onMatch = onMatch
    this.#warn = warn
    this.#fold = req.ignoreCase === true
    this.#matcher = new ExcludeMatcher(this.#fold ? { iexclude: req.patterns } : { exclude: req.patterns })
    const parts = req.patterns.map((p) => ({ abs: p.startsWith('/'), parts: p.split('/').filter((s) => s !== '' && s !== '.') }))
    this.#absolute = parts.filter((p) => p.abs).map((p) => p.parts)
    this.#anyRelative = parts.some((p) => !p.abs)
    this.#cacheable = parts.every((p) => !p.abs && p.parts.length === 1 && p.parts[0] !== '**')
    this.#oldest = req.oldest ? parseFindTime(req.oldest) : undefined
    this.#newest = req.newest ? parseFindTime(req.newest) : undefined
  }

  async search(e: SnapshotEntry): Promise<void> {
    await this.#walk(e, e.snapshot.tree, '', false)
  }

  /** Walks a tree; returns true when something in it matched. */
  async #walk(e: SnapshotEntry, tree: Id, prefix: string, prefixMatched: boolean): Promise<boolean> {
    let nodes: Node[]
    try {
      nodes = await this.#trees.load(tree)
    } catch (err) {
      this.#warn(`Unable to load tree ${tree}\n ... which belongs to snapshot ${e.id}: ${messageOf(err)}`)
      return true
    }
    this.#trees.prefetch(subtreesOf(nodes).filter((id) => !this.#noMatch.has(id)))
    let any = false
    for (const node of nodes) {
      const path = `${prefix}/${goStringFromBytes(node.name)}`
      const matched = this.#matcher.excludedByPattern(path)
      if (matched && this.#inTimeRange(node)) {
        any = true
        this.#onMatch({ snapshot: e, path, node })
      }
      if (node.type !== 'dir' || node.subtree === undefined) continue
      const useCache = this.#cacheable && !matched && !prefixMatched
      if (useCache && this.#noMatch.has(node.subtree)) {
        this.#trees.forget(node.subtree)
        continue
      }
      if (!matched && !this.#childMayMatch(path)) {
        this.#trees.forget(node.subtree)
        continue
      }
      const inner = await this.#walk(e, node.subtree, path, matched || prefixMatched)
      if (inner) any = true
      else if (useCache) this.#noMatch.add(node.subtree)
    }
    return any
  }

  #inTimeRange(node: Node): boolean {
    if (this.#oldest === undefined && this.#newest === undefined) return true
    const t = parseGoTime(node.mtime)
    if (this.#oldest !== undefined && t < this.#oldest) return false
    if (this.#newest !== undefined && t > this.#newest) return false
    return true
  }

  /** Whether something below directory `path` can match: always for a relative pattern; for an absolute one when the path is on its way. */
  #childMayMatch(path: string): boolean {
    if (this.#anyRelative) return true
    const dir = path.split('/').filter((s) => s !== '')
    for (const pattern of this.#absolute) {
      const star = pattern.indexOf('**')
      let n = Math.min(dir.length, pattern.length)
      if (star >= 0 && star < n) n = star
      if (n === 0) return true
      if (this.#prefixMatcher(pattern.slice(0, n)).excludedByPattern('/' + dir.slice(0, n).join('/'))) return true
    }
    return false
  }

  #prefixMatcher(parts: string[]): ExcludeMatcher {
    const p = '/' + parts.join('/')
    let m = this.#prefixMatchers.get(p)
    if (m === undefined) {
      m = new ExcludeMatcher(this.#fold ? { iexclude: [p] } : { exclude: [p] })
      this.#prefixMatchers.set(p, m)
    }
    return m
  }
}
