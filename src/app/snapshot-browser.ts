import { createHash } from 'node:crypto'
import type { Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import type { BlobCache } from '../restorer/index.js'
import { decodeTree, loadSnapshots, matchesFilter, parseGoTime, type Node, type SnapshotEntry, type SnapshotFilter } from '../snapshots/index.js'
import { restorer } from './lazy-layers.js'

/** A folder or a file as a browser shows it: virtual folders above the snapshots, their trees below. */
export type BrowseEntry = BrowseDir | BrowseFile

export interface BrowseDir {
  kind: 'dir'
  name: Buffer
  mtime: Date
  /** A snapshot's folder: its tree. Virtual folders have `children` instead. */
  tree?: Id
  children?: Map<string, BrowseEntry>
  /** A stable tag for the folder's content (its tree ID, or the snapshot list's generation). */
  etag: string
}

export interface BrowseFile {
  kind: 'file'
  name: Buffer
  mtime: Date
  size: number
  content: readonly Id[]
  mode: number
  etag: string
}

export interface SnapshotBrowserOptions {
  /** Only snapshots matching this filter are shown. */
  filter?: SnapshotFilter
  /** The snapshot list is read again at most this often (default 60 s, as restic's mount). */
  refreshMs?: number
  /** Clock in ms, for tests. */
  now?: () => number
  /** Entries of decoded folders kept in all (default TREE_CACHE_ENTRIES), for tests. */
  treeCacheEntries?: number
}

export type BrowserRepo = Pick<Repository, 'listIds' | 'loadUnpacked' | 'loadBlob' | 'blobSize' | 'loadIndex'>

/**
 * Decoded folders kept for the next request: at most this many entries in all (about 330 bytes
 * each), the folders used longest ago dropped first. Bounded by count alone (2048 folders), a
 * client walking many snapshots of a folder of 20,000 files ran the server out of memory.
 */
const TREE_CACHE_ENTRIES = 100_000

/**
 * Snapshots as a read-only file tree, laid out as restic's `mount`: `ids/<short ID>`,
 * `snapshots/<time>`, `hosts/<host>/<time>` and `tags/<tag>/<time>`, each listing with a
 * `latest` folder for the newest snapshot; below a snapshot's folder are its files and folders.
 * Only regular files and folders are shown (a symlink, device or fifo has no content to read).
 * Names are bytes, as stored; times are RFC 3339 in the snapshot's own zone. The list of
 * snapshots is read again when it is older than `refreshMs`, and the index when a new snapshot
 * appears.
 *
 * @example
 * const browser = new SnapshotBrowser(repo)
 * const entry = await browser.resolve(['snapshots', 'latest', 'home', 'me', 'notes.txt'].map((s) => Buffer.from(s)))
 * if (entry?.kind === 'file') for await (const piece of browser.read(entry, 0, entry.size)) process.stdout.write(piece)
 */
export class SnapshotBrowser {
  readonly #repo: BrowserRepo
  readonly #options: SnapshotBrowserOptions
  readonly #now: () => number
  #root: BrowseDir | undefined
  #loadedAt = -Infinity
  #snapshotIds = ''
  #refreshing: Promise<BrowseDir> | undefined
  #trees = new Map<Id, BrowseEntry[]>()
  #treeEntries = 0
  #cache: BlobCache | undefined

  constructor(repo: BrowserRepo, options: SnapshotBrowserOptions = {}) {
    this.#repo = repo
    this.#options = options
    this.#now = options.now ?? Date.now
  }

  /** The top folder, with the snapshot list read again if it is old. */
  async root(): Promise<BrowseDir> {
    if (this.#root !== undefined && this.#now() - this.#loadedAt < (this.#options.refreshMs ?? 60_000)) return this.#root
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined))
    return this.#refreshing
  }

  /** The entry at a path of names below the top folder, or undefined when there is none. */
  async resolve(names: readonly Buffer[]): Promise<BrowseEntry | undefined> {
    let entry: BrowseEntry = await this.root()
    for (const name of names) {
      if (entry.kind !== 'dir') return undefined
      const next: BrowseEntry | undefined = (await this.list(entry)).find((e) => e.name.equals(name))
      if (next === undefined) return undefined
      entry = next
    }
    return entry
  }

  /** A folder's entries, sorted by name. */
  async list(dir: BrowseDir): Promise<BrowseEntry[]> {
    if (dir.children !== undefined) return [...dir.children.values()]
    const id = dir.tree!
    let entries = this.#trees.get(id)
    if (entries !== undefined) {
      // Used again: the last to be dropped.
      this.#trees.delete(id)
      this.#trees.set(id, entries)
      return entries
    }
    entries = []
    for (const n of decodeTree(await this.#repo.loadBlob('tree', id))) {
      const e = entryOf(n)
      if (e !== undefined) entries.push(e)
    }
    if (!this.#trees.has(id)) {
      // One folder bigger than the budget is still kept, alone, for the requests that page through it.
      for (const [old, held] of this.#trees) {
        if (this.#treeEntries + entries.length <= (this.#options.treeCacheEntries ?? TREE_CACHE_ENTRIES)) break
        this.#trees.delete(old)
        this.#treeEntries -= held.length
      }
      this.#trees.set(id, entries)
      this.#treeEntries += entries.length
    }
    return entries
  }

  /** The bytes of a file from `start` up to (not including) `end`, blob by blob. */
  async *read(file: BrowseFile, start: number, end: number): AsyncGenerator<Buffer> {
    this.#cache ??= new (await restorer()).BlobCache(16 * 1024 * 1024)
    let offset = 0
    for (const id of file.content) {
      if (offset >= end) return
      const size = this.#repo.blobSize('data', id)
      if (size === undefined) throw new Error(`data blob ${id.slice(0, 8)} of the file is not in the index`)
      if (offset + size > start) {
        let blob = this.#cache.get(id)
        if (blob === undefined) {
          blob = await this.#repo.loadBlob('data', id)
          this.#cache.add(id, blob)
        }
        yield blob.subarray(Math.max(0, start - offset), Math.min(size, end - offset))
      }
      offset += size
    }
  }

  async #refresh(): Promise<BrowseDir> {
    const filter = this.#options.filter ?? {}
    const all = (await loadSnapshots(this.#repo, () => {})).filter((e) => matchesFilter(e.snapshot, filter))
    const ids = all.map((e) => e.id).sort().join(',')
    if (this.#root === undefined || ids !== this.#snapshotIds) {
      // New snapshots may name blobs of index files written since the index was loaded.
      if (this.#root !== undefined) await this.#repo.loadIndex({ force: true })
      this.#root = layout(all, ids)
      this.#snapshotIds = ids
    }
    this.#loadedAt = this.#now()
    return this.#root
  }
}

function entryOf(n: Node): BrowseEntry | undefined {
  const mtime = dateOf(n.mtime)
  if (n.type === 'dir' && n.subtree !== undefined) return { kind: 'dir', name: n.name, mtime, tree: n.subtree, etag: n.subtree }
  if (n.type === 'file') {
    const content = n.content ?? []
    return { kind: 'file', name: n.name, mtime, size: n.size, content, mode: n.mode & 0o7777, etag: etagOf(content, n.size) }
  }
  return undefined
}

/**
 * A file's ETag, a strong validator: the same content gives the same tag in any snapshot, and
 * other content another tag. One blob's ID is the hash of the file's bytes; for more, the hash
 * of all their IDs in order. (A tag made of a few of the IDs stayed the same when a large file
 * changed only in the middle, so clients kept old bytes, or resumed a download across versions.)
 */
function etagOf(content: readonly Id[], size: number): string {
  if (content.length === 1) return content[0]
  const h = createHash('sha256').update(String(size))
  for (const id of content) h.update(id)
  return h.digest('hex')
}

function dateOf(goTime: string): Date {
  try {
    return new Date(Number(parseGoTime(goTime) / 1_000_000n))
  } catch {
    return new Date(0)
  }
}

/** restic's RFC 3339 folder name of a snapshot: its time in its own zone, whole seconds. */
export function snapshotFolderName(time: string): string {
  return time.replace(/\.\d+/, '')
}

/** A tag or host as a folder name, as restic's mount makes a tag's: no "/" and never "", "." or "..". */
function tagFolderName(tag: string): string {
  if (tag === '' || tag === '.') return '_'
  if (tag === '..') return '__'
  return tag.replaceAll('/', '_')
}

function virtualDir(name: string, mtime: Date, etag: string): BrowseDir {
  return { kind: 'dir', name: Buffer.from(name), mtime, children: new Map(), etag }
}

/** The folders of the snapshots (ids/, snapshots/, hosts/, tags/); `ids` is the listing they came from. */
export function layout(all: SnapshotEntry[], ids: string): BrowseDir {
  const sorted = [...all].sort((a, b) => {
    const d = parseGoTime(a.snapshot.time) - parseGoTime(b.snapshot.time)
    return d < 0n ? -1 : d > 0n ? 1 : a.id < b.id ? -1 : 1
  })
  const generation = String(ids.length) + '-' + (sorted.at(-1)?.id.slice(0, 16) ?? 'empty')
  const newest = sorted.at(-1)
  const top = newest === undefined ? new Date(0) : dateOf(newest.snapshot.time)
  const root = virtualDir('', top, generation)
  const dir = (parent: BrowseDir, name: string): BrowseDir => {
    let d = parent.children!.get(name)
    if (d === undefined) parent.children!.set(name, (d = virtualDir(name, top, generation)))
    return d as BrowseDir
  }
  const add = (parent: BrowseDir, name: string, s: SnapshotEntry) => {
    let unique = name
    for (let i = 1; parent.children!.has(unique); i++) unique = `${name}-${i}`
    const entry: BrowseDir = { kind: 'dir', name: Buffer.from(unique), mtime: dateOf(s.snapshot.time), tree: s.snapshot.tree, etag: s.snapshot.tree }
    parent.children!.set(unique, entry)
    // The newest snapshot (sorted oldest first) ends up as "latest".
    parent.children!.set('latest', { ...entry, name: Buffer.from('latest') })
  }
  const ids_ = dir(root, 'ids')
  const snapshots = dir(root, 'snapshots')
  const hosts = dir(root, 'hosts')
  const tags = dir(root, 'tags')
  for (const s of sorted) {
    const when = snapshotFolderName(s.snapshot.time)
    // Two IDs that start alike (one in tens of thousands of snapshots) both get a folder, as in restic's mount.
    let idName = s.id.slice(0, 8)
    for (let i = 1; ids_.children!.has(idName); i++) idName = `${s.id.slice(0, 8)}-${i}`
    const byId: BrowseDir = { kind: 'dir', name: Buffer.from(idName), mtime: dateOf(s.snapshot.time), tree: s.snapshot.tree, etag: s.snapshot.tree }
    ids_.children!.set(idName, byId)
    add(snapshots, when, s)
    add(dir(hosts, tagFolderName(s.snapshot.hostname ?? '')), when, s)
    for (const t of s.snapshot.tags ?? []) add(dir(tags, tagFolderName(t)), when, s)
  }
  sortChildren(root)
  return root
}

function sortChildren(d: BrowseDir): void {
  if (d.children === undefined) return
  d.children = new Map([...d.children].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  for (const c of d.children.values()) if (c.kind === 'dir') sortChildren(c)
}
