import { lstatSync } from 'node:fs'
import { lstat, stat } from 'node:fs/promises'
import { hostname as osHostname, userInfo } from 'node:os'
import { resolve as resolvePath } from 'node:path'
import { AppError, ByteBudget, hashId, messageOf, shortId, type Id } from '../base/index.js'
import { MAX_SIZE } from '../chunker/index.js'
import { compressionLevels, encodedLength, plaintextLength, type BlobWriter, type Repository } from '../repository/index.js'
import { bytesFromGoString, decodeNodeJson, goStringFromBytes, decodeTree, hasEscapedBytes, encodeNode, encodeSnapshot, encodeTreeJson, formatGoTime, nodeJsonTail, type Node, type Snapshot } from '../snapshots/index.js'
import type { ExcludeMatcher } from './exclude.js'
import { BackupWorkers } from './backup-workers.js'
import { joinPath, keyOfBytes, listNames, nameBytes, parentNodes, pathText, sameNodes, scanEntries, scanEntry, type EntryName, type EntryStat, type ParentNodes, type ScanEntry } from './dir-scan.js'
import { FileSaver, type EarlierVersion, type SavedFile } from './file-saver.js'
import { checkAfterRead, sameContentMark } from './read-check.js'
import { buildVirtual, expandDotTarget, isDotTarget, snapshotPathOf, type Virtual } from './targets.js'
import { nodeFromStat } from './fs-node.js'
import { UserNames } from './user-names.js'

export interface BackupProgress {
  /**
   * A file or directory is done; `status` says how it compared with the parent snapshot. `path`
   * is where it is in the snapshot (for a relative target, not where it is on disk), as restic's
   * verbose output names it.
   */
  onItem?(path: string, kind: 'file' | 'dir', status: 'new' | 'changed' | 'unmodified', bytes: number): void
  /** Bytes of file content read. */
  onBytes?(n: number): void
  /** A path that could not be read; the backup goes on without it. */
  onError?(path: string, error: Error): void
  /** Something was stored incompletely (e.g. an extended attribute that could not be read). */
  onWarning?(path: string, message: string): void
}

export interface BackupOptions {
  paths: string[]
  excludes: ExcludeMatcher
  excludePatterns?: string[]
  tags?: string[]
  hostname?: string
  parent?: { id: Id; snapshot: Snapshot }
  oneFileSystem?: boolean
  /** Re-read every file even when the parent says it is unchanged. */
  force?: boolean
  /** A file whose ctime changed is still unchanged (restic's --ignore-ctime). */
  ignoreCtime?: boolean
  /** A file whose inode changed is still unchanged (restic's --ignore-inode). */
  ignoreInode?: boolean
  /** Record each entry's real access time (restic's --with-atime); by default it is the mtime. */
  withAtime?: boolean
  dryRun?: boolean
  time?: Date
  signal?: AbortSignal
  progress?: BackupProgress
}

export interface BackupSummary {
  filesNew: number
  filesChanged: number
  filesUnmodified: number
  dirsNew: number
  dirsChanged: number
  dirsUnmodified: number
  dataBlobs: number
  treeBlobs: number
  dataAdded: number
  dataAddedPacked: number
  totalFilesProcessed: number
  totalBytesProcessed: number
  errors: number
  /** Files read a second time because they changed while read the first time. */
  filesReread: number
  /**
   * Files reported through onWarning as changed while read: still changing during the second
   * read (stored as read then), or gone, replaced by a non-file or unreadable when about to be
   * read again (stored as read the first time). Warnings, not errors: not counted in `errors`.
   */
  filesChangedWhileRead: number
}

export interface BackupResult {
  snapshotId?: Id
  snapshot: Snapshot
  summary: BackupSummary
}

export type ArchiverRepo = Pick<Repository, 'config' | 'key' | 'loadBlobWith' | 'saveUnpacked' | 'withWriter' | 'index' | 'version' | 'writerDefaults'>

/** A directory's tree in the parent snapshot, asked for before the walk gets to it. */
type DirPrefetch = Promise<ParentNodes | undefined>

/** A file's content as stored, and its node's JSON. */
interface StoredFile {
  json: string
  size: number
  content: Id[]
  /** False when the file changed while it was read (see #readConsistent). */
  consistent: boolean
}

/**
 * Subdirectories whose parent trees are loaded ahead while the walk is still busy before them:
 * the walk visits directories one by one, and would otherwise stop at each for a tree load.
 */
const DIR_PREFETCH = 8
/** Files being read at once: up to this many, holding up to FILE_BYTES bytes between them. */
const FILE_COUNT = 256
const FILE_BYTES = 16 * 1024 * 1024

/**
 * Seams for tests: let them act at a known moment of a backup. `attempt` is 2 for the re-read
 * of a file that changed while it was read.
 */
export interface BackupHooks {
  /**
   * Runs (and is awaited) after a file's node was made from its lstat, just before its content
   * is read: a change made here is a change during the read, whichever thread reads the file.
   */
  beforeRead?(path: string, attempt: 1 | 2): void | Promise<void>
  /**
   * Runs (and is awaited) after a file's content was read and stored, before the archiver
   * checks whether the file changed meanwhile. A file read on a worker thread has its state
   * taken there as the read ends: a change made here comes after that read.
   */
  afterRead?(path: string, attempt: 1 | 2): void | Promise<void>
}

/**
 * Backs up `paths` into a new snapshot. The root tree mirrors the absolute paths, as restic's
 * does: backing up /home/me gives a root tree with `home`, holding `me`.
 *
 * A file that changes while it is read is read once more, and reported through
 * `progress.onWarning` when it changed during that read too (see Archiver.#readConsistent).
 */
export async function backup(repo: ArchiverRepo, options: BackupOptions, hooks: BackupHooks = {}): Promise<BackupResult> {
  const a = new Archiver(repo, options, hooks)
  return a.run()
}

class Archiver {
  #repo: ArchiverRepo
  #o: BackupOptions
  #hooks: BackupHooks
  #saver!: FileSaver
  #workers: BackupWorkers | undefined
  /** The targets' absolute paths: each is backed up whole, even when another target holds it. */
  readonly #targets = new Set<string>()
  /** Targets that sit elsewhere in the snapshot than on disk (relative ones, "."): [disk, snapshot]. */
  readonly #moved: Array<[string, string]> = []
  /** Trees of the parent snapshot that could not be read: stored anew when a folder hashes to one. */
  readonly #damagedTrees = new Set<Id>()
  #users = new UserNames()
  #fileBudget = new ByteBudget(FILE_BYTES, FILE_COUNT)
  #writer!: BlobWriter
  /** Content stored for files with more than one link, by device and inode. */
  #hardLinks = new Map<string, { stat: EntryStat; content: Id[] }>()
  #s = newSummary()

  constructor(repo: ArchiverRepo, options: BackupOptions, hooks: BackupHooks) {
    this.#repo = repo
    this.#o = options
    this.#hooks = hooks

  }

  async run(): Promise<BackupResult> {
    // Targets as restic takes them: "." (or "..") stands for its entries, and the tree mirrors
    // each path as given (relative paths stay relative), so both tools build the same trees.
    const given: string[] = []
    const existing: string[] = []
    const excluded: string[] = []
    // "." (or "..") alone stands for its entries: the folder is walked as the root itself, so
    // entries whose names are not UTF-8 are kept (a list of their names as targets could not hold them).
    const only = this.#o.paths.length === 1 && isDotTarget(this.#o.paths[0]) ? resolvePath(this.#o.paths[0]) : undefined
    for (const p of only === undefined ? this.#o.paths : []) {
      try {
        await lstat(fsPath(p))
        existing.push(resolvePath(p))
        this.#targets.add(resolvePath(p))
        // Exclude patterns apply to the targets too, as restic applies them (`backup /etc/*
        // --exclude /etc/shadow` leaves the file out).
        for (const t of await expandDotTarget(p)) {
          if (this.#o.excludes.excludedByPattern(resolvePath(t))) excluded.push(t)
          else given.push(t)
          if (resolvePath(t) !== snapshotPathOf(t)) this.#moved.push([resolvePath(t), snapshotPathOf(t)])
        }
      } catch (err) {
        this.#error(p, err)
      }
    }
    if (only !== undefined) {
      try {
        await lstat(only)
        existing.push(only)
        this.#targets.add(only)
        this.#moved.push([only, '/'])
      } catch (err) {
        this.#error(this.#o.paths[0], err)
      }
    }
    if (existing.length === 0) {
      throw new AppError('INVALID_ARGUMENT', `Nothing to back up: none of the paths ${this.#o.paths.map((p) => `"${p}"`).join(', ')} exists`, {
        hint: 'Check the paths given to "backup"',
      })
    }
    if (given.length === 0 && excluded.length > 0) {
      throw new AppError('INVALID_ARGUMENT', `Nothing to back up: the exclude patterns leave out every path given (${this.#o.paths.map((p) => `"${p}"`).join(', ')})`, {
        hint: 'Check the --exclude patterns and exclude files against the paths given to "backup"',
      })
    }
    existing.sort()
    const root = buildVirtual(given, excluded)
    const time = this.#o.time ?? new Date()
    const parentRoot = this.#o.parent?.snapshot.tree
    const run = async (w: BlobWriter) => {
      this.#writer = w
      const whole = only ?? (root.target ? '/' : undefined)
      const tree = whole !== undefined
        ? await this.#rootTree(whole, await this.#walkDir(whole, parentRoot, (await lstat(whole, { bigint: true })).dev))
        : await this.#saveVirtual(root, parentRoot)
      return tree
    }
    let treeId: Id
    this.#workers = this.#o.dryRun ? undefined : new BackupWorkers(this.#repo.key)
    this.#saver = new FileSaver(this.#repo.config.chunkerPolynomial, this.#workers, this.#o.signal)
    try {
      treeId = this.#workers ? await this.#repo.withWriter(run, { encoder: this.#workers }) : await run(dryRunWriter(this.#repo))
    } finally {
      await this.#workers?.close()
    }
    // Read once the writer is flushed: the last trees are still being sealed when the walk ends.
    const stats = this.#writer.stats
    this.#s.dataBlobs = stats.dataBlobs
    this.#s.treeBlobs = stats.treeBlobs
    this.#s.dataAdded = stats.dataAdded
    this.#s.dataAddedPacked = stats.dataAddedPacked
    const user = currentUser()
    const snapshot: Snapshot = {
      time: formatGoTime(BigInt(time.getTime()) * 1_000_000n),
      tree: treeId,
      paths: existing,
      hostname: this.#o.hostname ?? osHostname(),
      username: user.name,
      uid: user.uid,
      gid: user.gid,
    }
    if (this.#o.parent) snapshot.parent = this.#o.parent.id
    if (this.#o.excludePatterns && this.#o.excludePatterns.length > 0) snapshot.excludes = this.#o.excludePatterns
    if (this.#o.tags && this.#o.tags.length > 0) snapshot.tags = this.#o.tags
    // Snapshot last: packs and index are already written (withWriter flushed them). An
    // interruption that came while they were flushed still means no snapshot.
    this.#checkAbort()
    const snapshotId = this.#o.dryRun ? undefined : await this.#repo.saveUnpacked('snapshots', encodeSnapshot(snapshot))
    return { snapshotId, snapshot, summary: this.#s }
  }

  #nodeOptions(path: string | Buffer) {
    return { readXattrs: true, users: this.#users, withAtime: this.#o.withAtime, warn: (m: string) => this.#o.progress?.onWarning?.(pathText(path), m) }
  }

  /**
   * Stops the walk when the backup is interrupted, or when the repository cannot take more (a
   * full disk): with its error then, at once, rather than after reading every file left.
   */
  #checkAbort(): void {
    if (this.#o.signal?.aborted) throw new AppError('INTERRUPTED', 'Backup interrupted')
    const failure = (this.#writer as BlobWriter | undefined)?.failure
    if (failure !== undefined) throw failure
  }

  #error(path: string, err: unknown): void {
    this.#s.errors++
    const e = err instanceof Error ? err : new Error(String(err))
    this.#o.progress?.onError?.(path, e)
  }

  /**
   * A directory's tree in the parent snapshot, decoded by `decode` (decodeTree, or parentNodes
   * for the scan's matching); undefined when there is none or it cannot be read.
   */
  async #loadParentTree<T>(id: Id | undefined, decode: (plaintext: Buffer) => T): Promise<T | undefined> {
    if (id === undefined) return undefined
    try {
      return await this.#repo.loadBlobWith('tree', id, decode)
    } catch (err) {
      // A damaged parent costs speed (the folder is read again), and its tree is stored anew
      // should the folder still hash to it: deduplicating against the damaged copy would make
      // the new snapshot as damaged as the old one.
      if (!this.#damagedTrees.has(id)) {
        this.#damagedTrees.add(id)
        this.#o.progress?.onWarning?.(`tree ${shortId(id)}`, `a folder of the parent snapshot cannot be read (${messageOf(err)}); it is read again, and stored anew if unchanged. Run "cairn check --read-data" to see what else is damaged`)
      }
      return undefined
    }
  }

  async #saveTree(nodes: readonly string[]): Promise<Id> {
    const bytes = encodeTreeJson(nodes)
    if (this.#damagedTrees.size === 0) return (await this.#writer.saveBlob('tree', bytes)).id
    const id = hashId(bytes)
    // One fresh copy: the same folder elsewhere in this backup finds it in the index then.
    const duplicate = this.#damagedTrees.delete(id)
    return (await this.#writer.saveBlob('tree', bytes, id, { duplicate })).id
  }

  /** Saves the directories on the way to the targets, each holding only the relevant children. */
  async #saveVirtual(v: Virtual, parentTree: Id | undefined): Promise<Id> {
    const previousNodes = await this.#loadParentTree(parentTree, decodeTree)
    const parent = previousNodes && new Map(previousNodes.map((n) => [keyOfBytes(n.name), n]))
    // Targets are handed on one after another but finish together, as a directory's entries do:
    // waiting for each before the next would drain the pipeline at every target ("backup ."
    // of a folder of large files would read them one at a time).
    const nodes: Array<Promise<{ name: Buffer; json: string } | undefined>> = []
    // Each is awaited below, unless the loop fails first (an interrupted backup): its failure
    // must not count as unhandled then.
    const add = (node: Promise<{ name: Buffer; json: string } | undefined>) => {
      node.catch(() => {})
      nodes.push(node)
    }
    for (const [name, child] of v.children) {
      const childPath = fsPath(child.fsPath)
      const nameBuf = bytesFromGoString(name)
      const parentNode = parent?.get(keyOfBytes(nameBuf))
      if (child.target) {
        const entry = await this.#statEntry(nameBuf, childPath, parentNode)
        if (!entry) continue
        const walked = await this.#walkEntry(entry, childPath, undefined)
        add(walked.done.then((json) => (json === undefined ? undefined : { name: nameBuf, json })))
        continue
      }
      // A folder that only leads to a target is followed if it is a symlink, as restic follows
      // it: stored as the link, it would hide the target below it from every restore.
      const st = await stat(childPath, { bigint: true })
      const node = await nodeFromStat(nameBuf, childPath, st, this.#nodeOptions(childPath))
      if (!node) continue
      const previous = parentNode?.type === 'dir' ? parentNode.subtree : undefined
      const subtree = this.#saveVirtual(child, previous)
      add(
        subtree.then((id) => {
          // The folders that lead to the targets count as restic counts them.
          if (previous === undefined) this.#s.dirsNew++
          else if (previous === id) this.#s.dirsUnmodified++
          else this.#s.dirsChanged++
          return { name: nameBuf, json: encodeNode(Object.assign(node, { subtree: id })) }
        }),
      )
    }
    const done = (await Promise.all(nodes)).filter((n) => n !== undefined)
    done.sort((a, b) => Buffer.compare(a.name, b.name))
    return this.#saveTree(done.map((n) => n.json))
  }

  /**
   * The scan entry of one path, built here (targets, and entries a worker left to this thread);
   * `previous` is its node in the parent snapshot. Errors are reported and give undefined.
   */
  async #statEntry(name: EntryName, path: string | Buffer, previous: Node | undefined): Promise<ScanEntry | undefined> {
    const warnings: string[] = []
    try {
      const st = lstatSync(path, { bigint: true })
      const node = await nodeFromStat(nameBytes(name), path, st, { readXattrs: true, users: this.#users, withAtime: this.#o.withAtime, previous, warn: (m) => warnings.push(m) })
      return node ? scanEntry(name, node, st, previous, warnings, undefined, this.#o) : undefined
    } catch (err) {
      this.#error(pathText(path), err)
      return undefined
    }
  }

  /**
   * Walks one entry. Resolves once everything below it has been handed to the savers (waiting
   * for a free file slot when all are busy, so memory stays bounded); `done` then gives the
   * finished node's JSON, or undefined when the entry is skipped.
   */
  async #walkEntry(entry: ScanEntry, path: string | Buffer, rootDevice: bigint | undefined, prefetched?: DirPrefetch): Promise<{ done: Promise<string | undefined> }> {
    this.#checkAbort()
    if (entry.warnings !== undefined) for (const m of entry.warnings) this.#o.progress?.onWarning?.(pathText(path), m)
    if (entry.kind === 'dir') {
      const previous = entry.previous
      let sub: { done: Promise<Id | undefined> }
      if (this.#o.oneFileSystem && rootDevice !== undefined && entry.stat.dev !== rootDevice && !this.#targets.has(pathText(path))) {
        // Another file system (--one-file-system): the folder it is mounted on is kept, empty,
        // as restic keeps it (a restored system needs /proc and /sys to mount on).
        sub = { done: this.#saveTree([]) }
      } else {
        // A folder named as a target is backed up even on another file system, as restic does
        // (`-x / /home` with /home a mount of its own): its own device bounds the walk there.
        const device = this.#targets.has(pathText(path)) ? entry.stat.dev : (rootDevice ?? entry.stat.dev)
        sub = await this.#walkDir(path, previous?.subtree, device, prefetched)
      }
      const done = sub.done.then((id) => {
        if (id === undefined) return undefined
        const status = previous === undefined ? 'new' : previous.subtree === id ? 'unmodified' : 'changed'
        if (status === 'new') this.#s.dirsNew++
        else if (status === 'changed') this.#s.dirsChanged++
        else this.#s.dirsUnmodified++
        this.#o.progress?.onItem?.(this.#itemPath(pathText(path)), 'dir', status, 0)
        return status === 'unmodified' && entry.previousJson !== undefined ? entry.previousJson : entry.head + nodeJsonTail(null, id)
      })
      done.catch(() => {}) // as for a file's, below
      return { done }
    }
    if (entry.kind === 'file') {
      if (this.#o.excludes.excludedBySize(entry.size)) return { done: Promise.resolve(undefined) }
      const reused = this.#reuseParentContent(entry, path)
      if (reused !== undefined) return { done: Promise.resolve(reused) }
      const weight = Math.min(entry.size, MAX_SIZE)
      await this.#fileBudget.acquire(weight)
      const done = this.#saveFileContent(entry, path).finally(() => this.#fileBudget.release(weight))
      done.catch(() => {}) // handled by whoever awaits the directory; avoids an early unhandled rejection
      return { done }
    }
    return { done: Promise.resolve(entry.head + nodeJsonTail(null)) }
  }

  /** Walks a directory: its entries, filtered by the excludes, are handed on in order. */
  /** The tree of a folder backed up as the snapshot's root ("." or "/"), which must be readable. */
  async #rootTree(path: string, walked: { done: Promise<Id | undefined> }): Promise<Id> {
    const id = await walked.done
    if (id === undefined) throw new AppError('IO', `Cannot back up "${path}": the folder cannot be listed`, { hint: 'Check its permissions (the error above says why)' })
    return id
  }

  /** `done` gives undefined for a folder that cannot be listed (reported): it is left out, as restic leaves it out. */
  async #walkDir(path: string | Buffer, parentTree: Id | undefined, rootDevice: bigint, prefetched?: DirPrefetch): Promise<{ done: Promise<Id | undefined> }> {
    const parent = await (prefetched ?? this.#loadParentTree(parentTree, parentNodes))
    const dirText = pathText(path)
    let names: EntryName[]
    try {
      names = listNames(path)
    } catch (err) {
      // Stored empty, it would look emptied in a restore, not missing.
      this.#error(dirText, err)
      return { done: Promise.resolve(undefined) }
    }
    if (!this.#o.excludes.isEmpty) {
      const keep = await this.#o.excludes.markerSurvivors(dirText, new Set(names.map(pathText)))
      if (keep) names = names.filter((n) => keep.has(pathText(n)))
      names = names.filter((n) => !this.#o.excludes.excludedByPattern(patternText(joinPath(path, n))))
    }
    const entries: Array<{ entry: ScanEntry; path: string | Buffer }> = []
    for (const it of scanEntries(path, names, parent, this.#users, this.#o)) {
      const childPath = joinPath(path, it.name)
      let entry: ScanEntry | undefined
      if (it.kind === 'error') this.#error(pathText(childPath), it.error)
      else if (it.kind === 'defer') entry = await this.#statEntry(it.name, childPath, it.previous)
      else entry = it
      if (entry !== undefined) entries.push({ entry, path: childPath })
    }
    const dones: Array<Promise<string | undefined> | string> = []
    const ahead: Array<DirPrefetch | undefined> = []
    let scanned = 0
    let inFlight = 0
    for (let i = 0; i < entries.length; i++) {
      const { entry, path: childPath } = entries[i]
      // Keep the parent trees of the next few subdirectories on their way.
      if (scanned <= i) scanned = i
      for (; scanned < entries.length && inFlight < DIR_PREFETCH; scanned++) {
        const d = entries[scanned].entry
        if (d.kind !== 'dir' || (this.#o.oneFileSystem && d.stat.dev !== rootDevice)) continue
        ahead[scanned] = this.#loadParentTree(d.previous?.subtree, parentNodes)
        inFlight++
      }
      const prefetchedDir = ahead[i]
      if (prefetchedDir !== undefined) {
        ahead[i] = undefined
        inFlight--
      }
      // Most files of a backup with a parent are unchanged: no promise, no await for those.
      const unchanged = entry.kind === 'file' ? this.#unchangedFile(entry, childPath) : undefined
      if (unchanged !== undefined) {
        dones.push(unchanged)
        continue
      }
      const walked = await this.#walkEntry(entry, childPath, rootDevice, prefetchedDir)
      dones.push(walked.done)
    }
    const done = Promise.all(dones).then((all) => {
      const nodes = all.filter((n) => n !== undefined)
      // An unchanged directory's tree is its parent tree: no need to encode, hash and look it up.
      return parentTree !== undefined && parent !== undefined && sameNodes(nodes, parent) ? parentTree : this.#saveTree(nodes)
    })
    done.catch(() => {})
    return { done }
  }

  /**
   * The node's JSON of a file that #walkEntry would take whole from the parent snapshot, found
   * without waiting; undefined for any other file, which #walkEntry then walks.
   */
  #unchangedFile(entry: ScanEntry, path: string | Buffer): string | undefined {
    if (entry.warnings !== undefined || this.#o.excludes.excludedBySize(entry.size)) return undefined
    this.#checkAbort()
    return this.#reuseParentContent(entry, path)
  }

  /**
   * restic's change detection: a file unchanged since the parent snapshot takes its content
   * from there. Gives its node's JSON then, else undefined.
   */
  #reuseParentContent(entry: ScanEntry, path: string | Buffer): string | undefined {
    const content = entry.previous?.content
    if (this.#o.force || content === undefined || !this.#allKnown(content)) return undefined
    this.#s.totalFilesProcessed++
    this.#s.totalBytesProcessed += entry.size
    this.#s.filesUnmodified++
    this.#o.progress?.onItem?.(this.#itemPath(pathText(path)), 'file', 'unmodified', entry.size)
    this.#o.progress?.onBytes?.(entry.size)
    // The parent node's text, when the scan matched it, is this node (same head, same content).
    return entry.previousJson ?? entry.head + nodeJsonTail(content)
  }

  /** Stores a file's content; resolves to its node's JSON, or undefined when it could not be read. */
  async #saveFileContent(entry: ScanEntry, path: string | Buffer): Promise<string | undefined> {
    this.#checkAbort()
    const text = pathText(path)
    const st = entry.stat
    const linkKey = st.nlink > 1n ? `${st.dev}:${st.ino}` : undefined
    const seen = linkKey ? this.#hardLinks.get(linkKey) : undefined
    let stored: StoredFile
    if (seen && sameContentMark(seen.stat, st)) {
      stored = { json: entry.head + nodeJsonTail(seen.content), size: entry.size, content: seen.content, consistent: true }
    } else {
      try {
        stored = await this.#readConsistent(entry, path)
      } catch (err) {
        if (isAbort(err)) throw err
        // An interruption, or a repository that cannot take more, ends the backup with its own
        // error, rather than being reported against this file and every file after it.
        this.#checkAbort()
        this.#error(text, err)
        return undefined
      }
      // A file that changed while read is not shared: its other links are read on their own.
      if (linkKey && stored.consistent) this.#hardLinks.set(linkKey, { stat: st, content: stored.content })
    }
    // Counted once stored: a file that could not be read is not processed, as restic counts.
    this.#s.totalFilesProcessed++
    this.#s.totalBytesProcessed += stored.size
    const status = entry.previous === undefined ? 'new' : 'changed'
    if (status === 'new') this.#s.filesNew++
    else this.#s.filesChanged++
    this.#o.progress?.onItem?.(this.#itemPath(text), 'file', status, stored.size)
    return stored.json
  }

  /**
   * Reads and stores a file's content, then checks with one lstat (read-check.ts) that it did
   * not change between the stat `node` was built from and the end of the read. Files unchanged
   * since the parent snapshot never get here, so they cost nothing.
   *
   * A file that changed is read once more, with its node built from the fresh lstat. If it
   * changed during that read too, the second read is kept, its node's size set to the bytes
   * stored, and it is reported through `progress.onWarning` as "file changed while it was read".
   * Its mtime/ctime stay those of the stat the read started from, so the next backup sees that
   * the file differs and reads it again.
   *
   * That report is a warning, not an error (errors make `backup` exit with code 3, "snapshot
   * incomplete"): the file is in the snapshot, whole as far as one read goes, and its node
   * describes exactly the bytes stored; only their consistency is in doubt, as with any live
   * file system. restic's code 3 means "some source files could not be read", which is not the
   * case; Kopia records such problems as warnings and exits 0; and log files or mailboxes that
   * are always being written would otherwise turn every scheduled backup into a failed one,
   * teaching people to ignore the code. Consistency for those needs a file system snapshot.
   */
  async #readConsistent(entry: ScanEntry, path: string | Buffer): Promise<StoredFile> {
    // A file that was a file before is read against its earlier chunks.
    const before = entry.previous?.earlier
    const earlier = entry.previous?.wasFile === true ? { chunks: this.#earlierChunks(before), only: before?.length === 1 ? before[0] : undefined } : undefined
    const first = await this.#readOnce(path, entry.size, earlier, 1)
    const check = checkAfterRead(path, entry.stat, first.readEnd)
    if (check.kind === 'same' && first.size === entry.size) return { json: entry.head + nodeJsonTail(first.content), size: first.size, content: first.content, consistent: true }
    // From here the node describes the bytes stored, whatever happens next.
    const node = decodeNodeJson(entry.head + nodeJsonTail(first.content))
    if (check.kind === 'same') {
      // A file whose stat does not tell its size (/proc, /sys): its size is what it held.
      node.size = first.size
      return { json: encodeNode(node), size: first.size, content: first.content, consistent: true }
    }
    const expected = node.size
    node.size = first.size
    const text = pathText(path)
    const keep = (n: Node): StoredFile => ({ json: encodeNode(n), size: n.size, content: n.content ?? [], consistent: false })
    if (check.kind === 'gone') {
      // Removed or renamed away after it was read: there is nothing to read again.
      if (first.size !== expected) this.#warnChanged(text, `file changed while it was read and then disappeared (${expected} → ${first.size} bytes); stored what was read`)
      return keep(node)
    }
    if (!check.st.isFile()) {
      this.#warnChanged(text, 'file changed while it was read and is no longer a regular file; stored what was read')
      return keep(node)
    }
    this.#s.filesReread++
    let again: Node | null
    let second: SavedFile
    try {
      again = await nodeFromStat(node.name, path, check.st, this.#nodeOptions(path))
      if (!again) return keep(node)
      second = await this.#readOnce(path, again.size, { chunks: this.#earlierChunks(first.content) }, 2)
    } catch (err) {
      if (isAbort(err)) throw err
      this.#warnChanged(text, `file changed while it was read, and reading it again failed (${messageOf(err)}); stored the first read`)
      return keep(node)
    }
    again.content = second.content
    const recheck = checkAfterRead(path, check.st, second.readEnd)
    again.size = second.size
    if (recheck.kind === 'same') return keep(again)
    this.#warnChanged(text, `file changed while it was read, twice; stored the ${second.size} bytes of the second read, which may mix old and new content (back up from a file system snapshot to avoid this)`)
    return keep(again)
  }

  /** One read of a file into the repository. A re-read (attempt 2) mostly finds known chunks. */
  async #readOnce(path: string | Buffer, size: number, earlier: EarlierVersion | undefined, attempt: 1 | 2): Promise<SavedFile> {
    if (this.#hooks.beforeRead) await this.#hooks.beforeRead(pathText(path), attempt)
    const saved = await this.#saver.save(path, size, this.#writer, (n) => this.#o.progress?.onBytes?.(n), earlier)
    if (this.#hooks.afterRead) await this.#hooks.afterRead(pathText(path), attempt)
    return saved
  }

  /** Where a path on disk is in the snapshot, as restic names items: the same, unless its target was relative. */
  #itemPath(path: string): string {
    for (const [disk, inSnapshot] of this.#moved) {
      if (path === disk) return inSnapshot
      if (path.startsWith(disk) && path[disk.length] === '/') return (inSnapshot === '/' ? '' : inSnapshot) + path.slice(disk.length)
    }
    return path
  }

  #warnChanged(path: string, message: string): void {
    this.#s.filesChangedWhileRead++
    this.#o.progress?.onWarning?.(path, message)
  }

  /**
   * The chunks of a file's earlier version for the file saver to follow (see EarlierVersion):
   * all but the last, with their sizes from the index; none when one is not in the index.
   */
  #earlierChunks(content: readonly Id[] | undefined): Array<{ id: Id; size: number }> | undefined {
    if (content === undefined || content.length < 2) return undefined
    const chunks: Array<{ id: Id; size: number }> = []
    for (const id of content.slice(0, -1)) {
      const loc = this.#repo.index.lookup('data', id)
      if (loc === undefined) return undefined
      chunks.push({ id, size: plaintextLength(loc) })
    }
    return chunks
  }

  #allKnown(content: Id[] | null): boolean {
    if (!content) return false
    for (const id of content) if (!this.#writer.has('data', id)) return false
    return true
  }
}

function isAbort(err: unknown): boolean {
  return err instanceof AppError && err.code === 'INTERRUPTED'
}

/** A summary with nothing counted yet. */
export function newSummary(): BackupSummary {
  return {
    filesNew: 0, filesChanged: 0, filesUnmodified: 0, dirsNew: 0, dirsChanged: 0, dirsUnmodified: 0,
    dataBlobs: 0, treeBlobs: 0, dataAdded: 0, dataAddedPacked: 0, totalFilesProcessed: 0, totalBytesProcessed: 0, errors: 0,
    filesReread: 0, filesChangedWhileRead: 0,
  }
}

/** The user running the backup, as a snapshot records it. */
export function currentUser(): { name: string; uid: number; gid: number } {
  try {
    const u = userInfo()
    return { name: u.username, uid: u.uid, gid: u.gid }
  } catch {
    return { name: '', uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }
  }
}

/** A writer that only counts (the stored size by compressing, as restic does): used by --dry-run. */
export function dryRunWriter(repo: Pick<Repository, 'index' | 'version' | 'writerDefaults'>): BlobWriter {
  const levels = compressionLevels(repo.version, repo.writerDefaults.compression)
  const seen = new Set<string>()
  const stats = { dataBlobs: 0, treeBlobs: 0, dataAdded: 0, treeAdded: 0, dataAddedPacked: 0, packs: 0 }
  const w = {
    stats,
    has: (type: 'data' | 'tree', id: Id) => seen.has(type + id) || repo.index.has(type, id),
    async saveBlob(type: 'data' | 'tree', data: Uint8Array, id?: Id) {
      const bid = id ?? hashId(data)
      if (w.has(type, bid)) return { id: bid, known: true, stored: 0 }
      seen.add(type + bid)
      if (type === 'data') stats.dataBlobs++
      else {
        stats.treeBlobs++
        stats.treeAdded += data.length
      }
      stats.dataAdded += data.length
      stats.dataAddedPacked += encodedLength(type, data, type === 'tree' ? levels.tree : levels.data)
      return { id: bid, known: false, stored: data.length }
    },
  }
  return w as unknown as BlobWriter
}

/** A path as exclude patterns are matched against it: one that is not UTF-8 as a Go string, as the command line gives such a pattern. */
function patternText(p: string | Buffer): string {
  return typeof p === 'string' ? p : goStringFromBytes(p)
}

/**
 * A target's path for the file system. Paths given on the command line or in --files-from-raw
 * that are not UTF-8 come as Go strings (goStringFromBytes): their bytes are what names the
 * file, and what its node is named by, as restic names it.
 */
function fsPath(p: string): string | Buffer {
  return hasEscapedBytes(p) ? bytesFromGoString(p) : p
}
