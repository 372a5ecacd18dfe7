import { availableParallelism } from 'node:os'
import { closeSync, constants, fchmodSync, fstatSync, ftruncateSync, futimesSync, lstatSync, mkdirSync, open as openCb, openSync, readdirSync, rmSync, unlinkSync } from 'node:fs'
import { link, mkdir, open, stat, symlink } from 'node:fs/promises'
import { clearTheWay } from './in-the-way.js'
import { compareContent, findExisting, type Existing, type OverwritePolicy } from './existing.js'
import { AppError, createLimit, createSemaphore, errnoCode, Handoff, hashId, makeDirectories, messageOf, ownBuffer, SharedSlots, WorkerPool, type Id, type SharedSlot } from '../base/index.js'
import { keyForWorker, plaintextLength, type BlobLocation, type PackedBlob, type Repository } from '../repository/index.js'
import type { RestorePiece, RestorePieceResult, RestoreWorkerSetup, WriteTarget } from './restore-worker.js'
import { bytesFromGoString, decodeTree, goStringFromBytes, type Node } from '../snapshots/index.js'
import { applyMetadata } from './fs-metadata.js'
import { createSpecialFile } from './special-files.js'

export interface RestoreProgress {
  /**
   * Files and bytes planned so far. Writing starts while the trees are still being read, so
   * this grows during a restore; `complete` says the whole tree was read and the totals are final.
   */
  onPlan?(files: number, bytes: number, complete: boolean): void
  onBytes?(n: number): void
  onFile?(path: string): void
  onError?(path: string, error: Error): void
  /**
   * What was done (or, on a dry run, would be done) at a path: a file restored anew, an
   * existing one updated where it differed, one found unchanged (metadata only), one left as it
   * was by the overwrite policy, or something removed by `delete`. `bytes`: a file's size.
   */
  onAction?(path: string, action: RestoreAction, bytes: number): void
}

export type RestoreAction = 'restored' | 'updated' | 'unchanged' | 'skipped' | 'deleted'

export interface RestoreOptions {
  /** Root tree of the snapshot (or of the sub-folder) to restore. */
  tree: Id
  /** Prefix of the restored paths inside the snapshot, for messages and filters (e.g. "/home/me"). */
  basePath?: string
  target: string
  /**
   * Decides per snapshot path (e.g. "/home/me/a.txt") whether to restore it; directories on the
   * way are kept. `inIncluded` says the folder holding it was included itself.
   */
  filter?: (path: string, node: Node, inIncluded: boolean) => 'include' | 'exclude' | 'descend'
  /** Set owners (default: when running as root). */
  owner?: boolean
  xattrs?: boolean
  /** Read every restored file back and compare it with the blob IDs. */
  verify?: boolean
  /**
   * What becomes of a file that exists at the target (restic's --overwrite). `always` (the
   * default) and `if-changed` write an existing file in place where its content differs
   * (if-changed trusts a matching size and mtime without reading), and set its metadata;
   * `if-newer` does so only when the snapshot's file is newer; `never` leaves it alone.
   */
  overwrite?: OverwritePolicy
  /** Remove what the target holds and the snapshot does not, where the filter selects it. */
  delete?: boolean
  /**
   * Snapshot paths (as in the tree, e.g. "/home/me") inside which `delete` removes things: not
   * beside them, in folders that only lead there (a snapshot of /home/me restored into / must
   * not remove /etc). Every folder when not given.
   */
  deleteWithin?: string[]
  /** Change nothing: only count (and tell through progress.onAction) what would be done. */
  dryRun?: boolean
  signal?: AbortSignal
  progress?: RestoreProgress
}

export interface RestoreSummary {
  /** Files restored anew or updated in place (or that would be, on a dry run). */
  files: number
  dirs: number
  bytes: number
  errors: number
  /** Existing files found unchanged or left alone by the overwrite policy, and their size. */
  skipped: number
  skippedBytes: number
  /** Files and folders removed by `delete` (everything inside a removed folder counts). */
  deleted: number
  verified?: number
}

type RestoreRepo = Pick<Repository, 'loadBlobWith' | 'index' | 'backend' | 'key'>

/**
 * A file to restore. A batch of the plan holds thousands of them, so a job keeps only what
 * writing and metadata need of its node (the node itself costs several times more).
 */
class FileJob {
  /** A file of several blobs is created (and sized) before any is written: this says when it was. */
  created: Promise<void> | undefined = undefined
  /** Blobs planned for it, to tell a file a worker may create with its one blob. */
  readonly blobs: number
  readonly type: Node['type']
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly atime: string
  readonly mtime: string
  readonly size: number
  readonly xattrs: Node['xattrs']
  /** Data blob IDs, kept only for --verify. */
  readonly content: Id[] | null

  constructor(
    readonly path: Buffer,
    node: Node,
    /** Blobs still to be written; -1 when the file cannot be restored. */
    public remaining: number,
    keepContent: boolean,
    /** An existing file written where it differs: never created, emptied or left with holes. */
    readonly inPlace = false,
  ) {
    this.blobs = remaining
    this.type = node.type
    this.mode = node.mode
    this.uid = node.uid
    this.gid = node.gid
    this.atime = node.atime
    this.mtime = node.mtime
    this.size = node.size
    this.xattrs = node.xattrs
    this.content = keepContent ? node.content : null
  }

  /** A node for applyMetadata(), with what the job kept. */
  node(): Node {
    return {
      name: NO_NAME, type: this.type, mode: this.mode, mtime: this.mtime, atime: this.atime, ctime: '', uid: this.uid, gid: this.gid,
      inode: 0n, deviceId: 0n, size: this.size, links: 0, content: this.content, ...(this.xattrs ? { xattrs: this.xattrs } : {}),
    }
  }
}

interface Placement {
  file: FileJob
  offset: number
}

/** A blob of a pack and where it goes: most blobs go to one place, so that one needs no array. */
interface PlannedBlob {
  blob: PackedBlob
  first: Placement
  more?: Placement[]
  /** Packs whose copy of this blob turned out damaged (another copy is tried then). */
  damagedIn?: Id[]
}

/**
 * A pack is read in pieces of about this many bytes (a piece holds at least one blob), each
 * decoded and written by a worker: pieces, not packs, are held in memory. From a local disk
 * small pieces cost nothing and keep memory low (1 MiB against 4 MiB: src restore 12 MiB less
 * at the peak, CPU no higher); from a remote one each piece is a request, so they are larger.
 */
const READ_SPAN = { local: 1024 * 1024, remote: 4 * 1024 * 1024 }
/** Blobs of a piece at most: a piece of tiny files is a batch of work, not a burst of thousands. */
const PIECE_BLOBS = 256
/** Files of several blobs created at once (creating a file waits for the file system's journal). */
const CREATE_CONCURRENCY = 32
/** Stands in for the names of planned files: the path has it, and the node needs it no more. */
const NO_NAME = Buffer.alloc(0)
const SLASH = Buffer.from('/')
/**
 * Existing files compared with the snapshot at once (each read and hashed): one at a time, a
 * restore onto an unchanged copy of the kernel tree took 15 s; reads wait on the disk.
 */
const COMPARE_CONCURRENCY = 16
/** Trees read ahead of the walk (loading or loaded, not yet walked). */
const TREES_AHEAD = 32

/**
 * How much of the restore is planned ahead of writing. The plan is handed to the writer in
 * batches of this many files or blobs; the walk waits while one batch is being written and the
 * next is full. So memory follows the batch, not the snapshot, and writing starts at once.
 */
export interface RestoreBatching {
  files: number
  blobs: number
}

/**
 * Two batches live at once (one written, one planned), and their nodes were most of the main
 * thread's heap. On the kernel tree (78,579 files), against 8,192 and 32,768: peak RSS 178.5 ->
 * 167.2 MiB in the same time (10 paired runs: wall 0.995, CPU 1.008). Halving them again
 * (1,024 and 4,096) took only 2.5 MiB more off, and cost 3% in time.
 */
const BATCHING: RestoreBatching = { files: 2048, blobs: 8192 }

/**
 * Restores a tree into a directory. Each pack is read once, with blobs written at their offsets
 * in every file that uses them (zero blobs are skipped, leaving holes: sparse files); metadata is
 * applied after contents, directories last and deepest first.
 *
 * The tree is walked depth first, in snapshot order, while the blobs of what it found so far are
 * written: the plan is handed over in batches (RestoreBatching), so a blob used by files of two
 * batches is read once for each.
 */
export async function restore(repo: RestoreRepo, options: RestoreOptions): Promise<RestoreSummary> {
  return restoreInBatches(repo, options, BATCHING)
}

/** restore() with other batch sizes (tests make them small). */
export async function restoreInBatches(repo: RestoreRepo, options: RestoreOptions, batching: RestoreBatching): Promise<RestoreSummary> {
  const r = new Restorer(repo, options, batching)
  return r.run()
}

const TARGET_PROBLEMS: Record<string, string> = {
  EEXIST: 'it exists and is not a folder',
  ENOTDIR: 'a part of the path is not a folder',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'operation not permitted (EPERM)',
  EROFS: 'read-only file system (EROFS)',
  ENOSPC: 'no space left on device (ENOSPC)',
  // mkdir in a folder that exists: a file system that makes no folders (/proc, /sys)
  ENOENT: 'the file system there does not let folders be made (ENOENT)',
}

/**
 * Makes the target folder (and the folders on its way) unless it exists, readable by its owner
 * only, as restic makes it: what is restored may be private. An IO error says why it cannot be.
 */
async function makeTarget(target: string): Promise<void> {
  try {
    await makeDirectories(target, 0o700, { stat, mkdir })
  } catch (err) {
    const code = errnoCode(err)
    const why = (code !== undefined ? TARGET_PROBLEMS[code] : undefined) ?? messageOf(err)
    throw new AppError('IO', `Cannot restore into "${target}": ${why}`, {
      hint: 'Give --target a folder you may write to (it is created when missing)',
      cause: err,
    })
  }
}

/** Planned blobs by pack, in the order their packs were first met. */
interface Batch {
  byPack: Map<Id, Map<string, PlannedBlob>>
  files: number
  blobs: number
}

const newBatch = (): Batch => ({ byPack: new Map(), files: 0, blobs: 0 })

class Restorer {
  #repo: RestoreRepo
  #o: RestoreOptions
  #batching: RestoreBatching
  /** Planned files, kept to the end for --verify only. */
  #files: FileJob[] = []
  #fileCount = 0
  #totalBytes = 0
  #dirs: Array<{ path: Buffer; node: Node; depth: number }> = []
  #batch = newBatch()
  #handoff = new Handoff<Batch>()
  #trees: TreesAhead
  #links = new Map<string, Buffer>()
  #pendingLinks: Array<{ path: Buffer; target: Buffer; size: number }> = []
  /** Files made at their full size and not finished yet (see #emptyUnfinished()). */
  readonly #sized = new Set<FileJob>()
  #createLimit = createLimit(CREATE_CONCURRENCY)
  /** Existing files being compared while the walk goes on (see #update()). */
  #comparing = new Set<Promise<void>>()
  /** The hand-off under way (see #handOff()). */
  #handing: Promise<void> = Promise.resolve()
  #compareSlots = createSemaphore(COMPARE_CONCURRENCY)
  /** Set when the writer failed: the walk stops at its next entry. */
  #writerFailure: { error: unknown } | undefined
  #s: RestoreSummary = { files: 0, dirs: 0, bytes: 0, errors: 0, skipped: 0, skippedBytes: 0, deleted: 0 }
  #owner: boolean
  #policy: OverwritePolicy
  #dry: boolean

  constructor(repo: RestoreRepo, options: RestoreOptions, batching: RestoreBatching) {
    this.#repo = repo
    this.#o = options
    this.#batching = batching
    this.#owner = options.owner ?? process.getuid?.() === 0
    this.#policy = options.overwrite ?? 'always'
    this.#dry = options.dryRun === true
    this.#trees = new TreesAhead((id) => repo.loadBlobWith('tree', id, decodeTree), TREES_AHEAD)
  }

  async run(): Promise<RestoreSummary> {
    const target = Buffer.from(this.#o.target)
    // A target that is not there yet is empty once made: nothing in it needs a look first.
    const fresh = !exists(target)
    if (!this.#dry) await makeTarget(this.#o.target)
    const writing = this.#writeBatches()
    // Awaited below; a writer that fails while the walk goes on must not be an unhandled rejection.
    writing.catch(() => {})
    try {
      await this.#walk(this.#o.tree, target, this.#o.basePath ?? '', 0, new TargetDir(async () => fresh), false)
      await this.#compared()
      await this.#handOff(true)
      this.#handoff.close()
    } catch (err) {
      // The writer stops taking batches, finishes the pieces it started and closes its workers.
      this.#handoff.fail(err)
      await this.#compared()
      await writing.catch(() => {})
      this.#emptyUnfinished()
      throw err
    } finally {
      this.#trees.clear()
    }
    try {
      await writing
    } finally {
      this.#emptyUnfinished()
    }
    for (const l of this.#pendingLinks) {
      try {
        await replacing(l.path, () => link(l.target, l.path), this.#o.delete)
        this.#s.files++
        this.#o.progress?.onAction?.(l.path.toString(), 'restored', l.size)
      } catch (err) {
        this.#error(l.path, err)
      }
    }
    // Directories last, deepest first, so writing into them does not change their times again.
    this.#dirs.sort((a, b) => b.depth - a.depth)
    for (const d of this.#dirs) await this.#meta(d.path, d.node)
    if (this.#o.verify && !this.#dry) this.#s.verified = await this.#verify()
    return this.#s
  }

  #error(path: Buffer | string, err: unknown): void {
    this.#s.errors++
    this.#o.progress?.onError?.(path.toString(), err instanceof Error ? err : new Error(String(err)))
  }

  #checkAbort(): void {
    if (this.#o.signal?.aborted) throw new AppError('INTERRUPTED', 'Restore interrupted')
  }

  /** Throws the writer's error once it failed: the walk has nobody to hand its plan to. */
  #checkWriter(): void {
    if (this.#writerFailure) throw this.#writerFailure.error
  }

  async #walk(treeId: Id, dir: Buffer, snapPath: string, depth: number, here: TargetDir, included: boolean): Promise<void> {
    this.#checkAbort()
    this.#checkWriter()
    let nodes: Node[]
    try {
      nodes = await this.#trees.take(treeId)
    } catch (err) {
      // A folder whose tree cannot be read (damaged, or missing from the index) is reported and
      // left empty, and the rest is restored, as restic does; without the top tree there is
      // nothing to restore.
      if (depth === 0) throw err
      this.#error(dir, err)
      return
    }
    const seen = new Set<string>()
    const entries: Array<{ node: Node; sp: string; decision: 'include' | 'descend' } | undefined> = nodes.map((node) => {
      // As the command line gives a name that is not UTF-8 (see goStringFromBytes): so that an
      // --include or --exclude naming it matches.
      const nameText = goStringFromBytes(node.name)
      if (node.name.length === 0 || nameText === '.' || nameText === '..' || node.name.includes(0x2f)) {
        this.#error(`${snapPath}/${nameText}`, new Error('invalid file name in snapshot'))
        return undefined
      }
      // A tree holds each name once; a second entry (a crafted tree: a folder, then a symlink of
      // its name pointing elsewhere) would replace what was made for the first.
      const key = node.name.toString('latin1')
      if (seen.has(key)) {
        this.#error(`${snapPath}/${nameText}`, new Error('the name appears twice in its folder of the snapshot: only the first is restored'))
        return undefined
      }
      seen.add(key)
      const sp = `${snapPath}/${nameText}`
      const decision = this.#o.filter?.(sp, node, included) ?? 'include'
      return decision === 'exclude' ? undefined : { node, sp, decision }
    })
    // Subdirectories are read ahead while this one is walked: reading a tree is latency-bound.
    for (const e of entries) if (e?.node.type === 'dir' && e.node.subtree) this.#trees.want(e.node.subtree)
    for (const e of entries) {
      if (!e) continue
      // Per entry: comparing existing files can take long in one folder, and writes nothing to
      // notice a stop by.
      this.#checkAbort()
      const { node, sp, decision } = e
      const path = Buffer.concat([dir, SLASH, node.name])
      if (node.type === 'dir') {
        // Directories that are only passed through are created when something inside them is.
        const sub = new TargetDir(async () => {
          const parentFresh = await here.ensure()
          const fresh = this.#dry ? parentFresh || !isFolder(path) : makeFolder(path, this.#o.delete === true)
          if (!this.#dry) this.#dirs.push({ path, node, depth })
          return fresh
        })
        try {
          if (decision === 'include') {
            await sub.ensure()
            this.#s.dirs++
          }
        } catch (err) {
          this.#error(path, err)
          if (node.subtree) this.#trees.forget(node.subtree)
          continue
        }
        if (node.subtree) await this.#walk(node.subtree, path, sp, depth + 1, sub, decision === 'include')
        continue
      }
      if (decision === 'descend') continue
      try {
        const fresh = await here.ensure()
        await this.#createEntry(path, node, fresh)
      } catch (err) {
        // The writer stopped (its error comes back from the hand-off): so does the walk.
        this.#checkWriter()
        this.#error(path, err)
      }
    }
    // The target itself is looked at even when nothing in it is restored (an empty snapshot).
    if (this.#o.delete && this.#mayDelete(snapPath) && (depth === 0 ? !(await here.ensure()) : here.existed())) this.#removeUnexpected(dir, snapPath, nodes, included)
  }

  #mayDelete(snapPath: string): boolean {
    const within = this.#o.deleteWithin
    return within === undefined || within.some((r) => r === '/' || snapPath === r || snapPath.startsWith(r + '/'))
  }

  /**
   * --delete: removes what a folder of the target holds that its tree does not, where the filter
   * would restore it (so an --include keeps the rest), as restic does. Never follows a symlink.
   */
  #removeUnexpected(dir: Buffer, snapPath: string, nodes: Node[], included: boolean): void {
    const expected = new Set(nodes.map((n) => n.name.toString('latin1')))
    let names: Buffer[]
    try {
      names = readdirSync(dir, { encoding: 'buffer' })
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') this.#error(dir, err)
      return
    }
    for (const name of names) {
      this.#checkAbort()
      if (expected.has(name.toString('latin1'))) continue
      const path = Buffer.concat([dir, SLASH, name])
      try {
        const isDir = lstatSync(path).isDirectory()
        const probe = { ...DELETE_PROBE, name, type: isDir ? 'dir' : 'file' } satisfies Node
        if ((this.#o.filter?.(`${snapPath}/${goStringFromBytes(name)}`, probe, included) ?? 'include') !== 'include') continue
        const removed = isDir ? countTree(path) : 1
        if (!this.#dry) rmSync(path, { recursive: true, force: true })
        this.#s.deleted += removed
        this.#o.progress?.onAction?.(path.toString(), 'deleted', 0)
      } catch (err) {
        this.#error(path, err)
      }
    }
  }

  /** Counts a file left as it was, or found unchanged, and tells. */
  #skip(path: Buffer, node: Node, action: 'unchanged' | 'skipped'): void {
    this.#s.skipped++
    this.#s.skippedBytes += node.type === 'file' ? node.size : 0
    this.#o.progress?.onAction?.(path.toString(), action, node.type === 'file' ? node.size : 0)
  }

  /** `fresh`: the folder was made by this restore, so nothing is at `path` yet. */
  async #createEntry(path: Buffer, node: Node, fresh: boolean): Promise<void> {
    const existing: Existing = fresh ? ABSENT : findExisting(path, node, this.#policy)
    if (existing.kind === 'kept') return this.#skip(path, node, 'skipped')
    switch (node.type) {
      case 'file': {
        const key = node.links > 1 && node.inode !== 0n ? `${node.deviceId}:${node.inode}` : undefined
        const first = key ? this.#links.get(key) : undefined
        if (first) {
          // The first path may not have its content yet: link once contents are written.
          // Another name for a file: no bytes of its own, as in a restore.
          if (this.#dry) {
            this.#s.files++
            this.#o.progress?.onAction?.(path.toString(), 'restored', node.size)
          } else this.#pendingLinks.push({ path, target: first, size: node.size })
          return
        }
        if (key) this.#links.set(key, path)
        const locations = this.#locate(path, node)
        if (!locations) return
        if (existing.kind === 'in-place') return this.#whileWalking(path, () => this.#update(path, node, locations, existing))
        if (this.#dry) return this.#told(path, 'restored', node.size)
        const job = this.#planFile(path, node, locations)
        if (job.remaining === 0) {
          // An empty file is made right away.
          closeSync(await openForWriting(path, this.#o.delete))
          await this.#finishFile(job)
        }
        return this.#handOffWhenFull()
      }
      case 'symlink':
        if (this.#dry) return this.#o.progress?.onAction?.(path.toString(), 'restored', 0)
        await replacing(path, () => symlink(bytesFromGoString(node.linktarget ?? ''), path), this.#o.delete)
        await this.#meta(path, node)
        this.#o.progress?.onAction?.(path.toString(), 'restored', 0)
        return
      case 'fifo':
      case 'dev':
      case 'chardev':
        if (this.#dry) return this.#o.progress?.onAction?.(path.toString(), 'restored', 0)
        // mkfifo and mknod tell an existing path only in words: what is there is removed first.
        if (!fresh) clearTheWay(path, this.#o.delete)
        await createSpecialFile(path, node)
        await this.#meta(path, node)
        this.#o.progress?.onAction?.(path.toString(), 'restored', 0)
        return
      default:
        return // sockets are never restored
    }
  }

  /** A dry run's count of a file it would restore (symlinks and special files are not counted, as in a restore). */
  #told(path: Buffer, action: 'restored' | 'updated', bytes: number): void {
    this.#s.files++
    this.#s.bytes += bytes
    this.#o.progress?.onAction?.(path.toString(), action, bytes)
  }

  /**
   * A regular file exists where one is restored: only the blobs it lacks are written into it (a
   * restore that was cut short goes on where it stopped); one that holds them all gets its
   * metadata only.
   */
  async #update(path: Buffer, node: Node, locations: BlobLocation[], existing: Extract<Existing, { kind: 'in-place' }>): Promise<void> {
    const { matches, sizeMatches } = await compareContent(path, existing, node, locations.map(plaintextLength), this.#policy === 'if-changed', this.#o.signal)
    this.#checkAbort()
    const missing = matches.filter((m) => !m).length
    if (missing === 0 && sizeMatches) {
      this.#skip(path, node, 'unchanged')
      if (!this.#dry) await this.#meta(path, node)
      return
    }
    if (this.#dry) return this.#told(path, 'updated', locations.reduce((n, l, i) => (matches[i] ? n : n + plaintextLength(l)), 0))
    const job = this.#planFile(path, node, locations, matches)
    if (job.remaining === 0) {
      // Every blob is there, and more after them: the file is cut to its size.
      await this.#created(job)
      await this.#finishFile(job)
    }
    await this.#handOffWhenFull()
  }

  /**
   * Runs `task` beside the walk, a few at a time (the walk waits for a free slot); its error is
   * the file's. #compared() waits for all.
   */
  async #whileWalking(path: Buffer, task: () => Promise<void>): Promise<void> {
    await this.#compareSlots.acquire()
    const p: Promise<void> = task()
      .catch((err: unknown) => {
        if (this.#writerFailure === undefined && !this.#o.signal?.aborted) this.#error(path, err)
      })
      .finally(() => {
        this.#compareSlots.release()
        this.#comparing.delete(p)
      })
    this.#comparing.add(p)
  }

  async #compared(): Promise<void> {
    while (this.#comparing.size > 0) await Promise.all(this.#comparing)
  }

  async #handOffWhenFull(): Promise<void> {
    if (this.#full()) await this.#handOff(false)
  }

  #full(): boolean {
    return this.#batch.files >= this.#batching.files || this.#batch.blobs >= this.#batching.blobs
  }

  /** The blobs of a file's content, each looked up; undefined when one is missing (reported). */
  #locate(path: Buffer, node: Node): BlobLocation[] | undefined {
    // Every blob is looked up before any is planned: a file with a missing blob gets nothing
    // written, rather than a handle that is opened for its first blobs and never finished.
    const locations: BlobLocation[] = []
    for (const id of node.content ?? []) {
      const loc = this.#repo.index.lookup('data', id)
      if (!loc) {
        this.#fileCount++
        this.#totalBytes += node.size
        this.#error(path, new AppError('NOT_FOUND', `data blob ${id} is missing from the repository`))
        return undefined
      }
      locations.push(loc)
    }
    return locations
  }

  /**
   * Plans the blobs of a file into the current batch: all of them, or (an existing file written
   * in place) those `have` says it lacks.
   */
  #planFile(path: Buffer, node: Node, locations: BlobLocation[], have?: boolean[]): FileJob {
    const planned = have ? have.filter((m) => !m).length : locations.length
    this.#fileCount++
    this.#totalBytes += have ? locations.reduce((n, l, i) => (have[i] ? n : n + plaintextLength(l)), 0) : node.size
    const job = new FileJob(path, node, planned, this.#o.verify === true, have !== undefined)
    if (this.#o.verify) this.#files.push(job)
    const batch = this.#batch
    batch.files++
    batch.blobs += planned
    let offset = 0
    locations.forEach((loc, i) => {
      if (!have?.[i]) {
        let pack = batch.byPack.get(loc.packId)
        if (!pack) batch.byPack.set(loc.packId, (pack = new Map()))
        const entry = pack.get(loc.id)
        const place = { file: job, offset }
        if (!entry) pack.set(loc.id, { blob: loc, first: place })
        else (entry.more ??= []).push(place)
      }
      offset += plaintextLength(loc)
    })
    return job
  }

  /**
   * Gives the current batch to the writer (waiting while it still has one to start) and tells the
   * plan so far. One hand-off at a time: files compared beside the walk (#whileWalking) plan
   * into the next batch while one waits, and may find it full too; the writer takes one offer
   * at a time. A batch that is no longer full when its turn comes waits for more (unless this
   * is the last).
   */
  #handOff(complete: boolean): Promise<void> {
    const turn = this.#handing.then(async () => {
      if (!complete && !this.#full()) return
      const batch = this.#batch
      this.#batch = newBatch()
      this.#o.progress?.onPlan?.(this.#fileCount, this.#totalBytes, complete)
      if (batch.byPack.size > 0) await this.#handoff.put(batch)
    })
    this.#handing = turn.catch(() => {})
    return turn
  }

  /**
   * Reads the packs of each batch in pieces and has workers decode and write them, with a few
   * pieces in flight across packs and batches. Workers decode and write; this thread reads
   * pieces, creates multi-blob files and finishes files (metadata). Two pieces per worker keep
   * them busy while the next is read.
   */
  async #writeBatches(): Promise<void> {
    const threads = Math.max(1, Math.min(4, availableParallelism()))
    let pool: WorkerPool | undefined
    const slots = createSemaphore(2 * threads)
    const inFlight = new Set<Promise<void>>()
    let failure: { error: unknown } | undefined
    try {
      const span = this.#repo.backend.properties.local ? READ_SPAN.local : READ_SPAN.remote
      const buffers = this.#repo.backend.loadInto !== undefined ? new SharedSlots(span) : undefined
      for (let batch = await this.#handoff.take(); batch; batch = await this.#handoff.take()) {
        for (const [packId, blobs] of batch.byPack) {
          // The plan of a pack is dropped once its pieces are under way.
          batch.byPack.delete(packId)
          const list = [...blobs.values()].sort((a, b) => a.blob.offset - b.blob.offset)
          for (let i = 0; i < list.length; ) {
            // One ranged read per piece of about `span` bytes (at least one blob).
            let j = i + 1
            while (j < list.length && j - i < PIECE_BLOBS && list[j].blob.offset + list[j].blob.length - list[i].blob.offset <= span) j++
            const piece = list.slice(i, j)
            i = j
            await slots.acquire()
            if (failure) {
              slots.release()
              throw failure.error
            }
            this.#checkAbort()
            pool ??= new WorkerPool(new URL('./restore-worker.js', import.meta.url), threads, {
              key: keyForWorker(this.#repo.key),
              owner: this.#owner,
              removeFolders: this.#o.delete === true,
            } satisfies RestoreWorkerSetup)
            // A piece of up to one span is read into a reused buffer; a larger one (a single large
            // blob) into a buffer of its own, freed once written: reused buffers grown to the
            // largest blobs (8 MiB) would hold that memory to the end.
            const last = piece[piece.length - 1].blob
            const slot = buffers !== undefined && last.offset + last.length - piece[0].blob.offset <= span ? buffers.take() : undefined
            const p: Promise<void> = this.#restorePiece(pool, slot, packId, piece)
              .catch((error: unknown) => {
                failure ??= { error }
              })
              .finally(() => {
                slot?.give()
                slots.release()
                inFlight.delete(p)
              })
            inFlight.add(p)
          }
        }
      }
      await Promise.all(inFlight)
      if (failure) throw failure.error
    } catch (err) {
      this.#writerFailure ??= { error: err }
      this.#handoff.fail(err)
      await Promise.all(inFlight)
      throw err
    } finally {
      await pool?.close()
    }
  }

  /**
   * Reads one piece of a pack (into `slot` when given, which the caller gives back once this
   * settles) and has a worker decode and write its blobs; then counts them and finishes files.
   */
  async #restorePiece(pool: WorkerPool, slot: SharedSlot | undefined, packId: Id, piece: PlannedBlob[]): Promise<void> {
    this.#checkAbort()
    const start = piece[0].blob.offset
    const last = piece[piece.length - 1].blob
    const length = last.offset + last.length - start
    const h = { type: 'data' as const, name: packId }
    const placesOf = (e: PlannedBlob) => (e.more ? [e.first, ...e.more] : [e.first])
    let sealed: Buffer
    try {
      sealed = slot ? await this.#repo.backend.loadInto!(h, (n) => slot.fit(n), start, length) : await this.#repo.backend.load(h, start, length)
    } catch (err) {
      if (err instanceof AppError && err.code === 'INTERRUPTED') throw err
      if (piece.length > 1 && (this.#repo.backend.properties.local || (err instanceof AppError && err.code === 'INVALID_DATA'))) {
        // A truncated pack (or a bad sector) fails a read of many blobs; read them one by one,
        // so only the blobs that are gone fail. Not for a remote that is down: every read would
        // wait out its retries again.
        for (const e of piece) await this.#restorePiece(pool, undefined, packId, [e])
        return
      }
      // A blob that another pack holds too is read from there.
      const elsewhere = piece.map((e) => this.#otherCopy(e, packId))
      if (elsewhere.every((o) => o !== undefined)) {
        for (const [otherPack, e] of elsewhere) await this.#restorePiece(pool, undefined, otherPack, [e])
        return
      }
      for (const e of piece) {
        for (const p of placesOf(e)) {
          // Each file is reported once, and never finished.
          if (p.file.remaining < 0) continue
          p.file.remaining = -1
          this.#error(p.file.path, new Error(`cannot read pack ${packId}: ${messageOf(err)}`))
        }
      }
      return
    }
    // Files of several blobs are created and sized here first, so their blobs may be written in
    // any order, by any worker, and zero blobs left as holes.
    // A file that cannot be created fails alone: its blobs' writes are then ignored.
    const creating: Array<Promise<void>> = []
    for (const e of piece) {
      for (const p of placesOf(e)) {
        if (p.file.blobs <= 1 && !p.file.inPlace) continue
        const f = p.file
        creating.push(
          this.#created(f).catch((err: unknown) => {
            if (f.remaining < 0) return
            f.remaining = -1
            this.#error(f.path, err)
          }),
        )
      }
    }
    await Promise.all(creating)
    // Shared memory is seen by the worker as it is; anything else is transferred to it, not
    // cloned (a view into a larger buffer is copied first).
    const shared = sealed.buffer instanceof SharedArrayBuffer
    const sent = shared ? sealed : ownBuffer(sealed)
    // A file that failed already (it could not be made: something it could not remove is in its
    // way) gets none of its blobs: the worker opens files by path, and would write into that.
    const live = piece.map((e) => placesOf(e).flatMap((p, k) => (p.file.remaining < 0 ? [] : [{ p, k }])))
    const request: RestorePiece = {
      packId,
      sealed: sent,
      blobs: piece.map((e, i) => ({
        type: 'data',
        id: e.blob.id,
        uncompressedLength: e.blob.uncompressedLength,
        offset: e.blob.offset - start,
        length: e.blob.length,
        targets: live[i].map(({ p }): WriteTarget => {
          const f = p.file
          // A file written in place may hold other bytes where a blob of zeros goes: no holes there.
          const target: WriteTarget = { path: f.path, offset: p.offset, create: f.blobs === 1 && !f.inPlace, sparse: f.blobs > 1 && !f.inPlace && f.size > plaintextLength(e.blob) }
          if (this.#finishedByWorker(f)) target.meta = { type: f.type, uid: f.uid, gid: f.gid, mode: f.mode, atime: f.atime, mtime: f.mtime }
          return target
        }),
      })),
    }
    let r: RestorePieceResult
    try {
      r = await pool.call<RestorePieceResult>(request, sent.length, shared ? [] : [sent.buffer as ArrayBuffer])
    } catch (err) {
      for (const e of piece) {
        for (const p of placesOf(e)) {
          if (p.file.remaining < 0) continue
          p.file.remaining = -1
          this.#error(p.file.path, err)
        }
      }
      return
    }
    const damaged = new Map(r.damaged)
    // Results name targets by their place in the request; placesOf() counts them all.
    const failed = new Map(r.failed.map(([i, k, m]) => [`${i}:${live[i][k].k}`, m]))
    for (const [i, k, m] of r.warnings) this.#error(live[i][k].p.file.path, new Error(m))
    const finished: FileJob[] = []
    // A damaged blob that another pack holds too is read from there (as restic's later versions
    // do); its files wait for that copy.
    const again: Array<[Id, PlannedBlob]> = []
    piece.forEach((e, i) => {
      const why = damaged.get(i)
      const other = why === undefined ? undefined : this.#otherCopy(e, packId)
      if (other !== undefined) {
        again.push(other)
        return
      }
      placesOf(e).forEach((p, k) => {
        const f = p.file
        if (f.remaining < 0) return
        const message = why ?? failed.get(`${i}:${k}`)
        if (message !== undefined) {
          // The file stays incomplete: it is reported once and never finished.
          f.remaining = -1
          this.#error(f.path, new Error(message))
          return
        }
        const size = plaintextLength(e.blob)
        this.#s.bytes += size
        this.#o.progress?.onBytes?.(size)
        if (--f.remaining === 0) finished.push(f)
      })
    })
    for (const f of finished) await this.#finishFile(f)
    for (const [otherPack, e] of again) await this.#restorePiece(pool, undefined, otherPack, [e])
  }

  /** Another copy of a blob (in a pack not tried yet) with the packs tried so far, or undefined. */
  #otherCopy(e: PlannedBlob, failedIn: Id): [Id, PlannedBlob] | undefined {
    const tried = [...(e.damagedIn ?? []), failedIn]
    const other = this.#repo.index.lookupAll('data', e.blob.id).find((l) => !tried.includes(l.packId))
    return other === undefined ? undefined : [other.packId, { ...e, blob: other, damagedIn: tried }]
  }

  /**
   * A file of one blob is finished by the worker that writes it (owner, mode and times through
   * its descriptor), unless it has extended attributes to set: this thread does those.
   */
  #finishedByWorker(f: FileJob): boolean {
    return f.blobs === 1 && !f.inPlace && !(this.#o.xattrs !== false && f.xattrs !== undefined && f.xattrs.length > 0)
  }

  /**
   * Empties the files that were made at their full size but not finished (a blob failed, or the
   * restore was stopped): a file of the right size with holes would look restored.
   */
  #emptyUnfinished(): void {
    for (const f of this.#sized) {
      if (f.remaining === 0) continue
      try {
        // Through a descriptor that does not follow a symlink put there meanwhile.
        const fd = openSync(f.path, constants.O_WRONLY | constants.O_NOFOLLOW)
        try {
          ftruncateSync(fd, 0)
          // Dated 1970, so that a restore resumed with --overwrite if-newer replaces it too.
          futimesSync(fd, 0, 0)
        } finally {
          closeSync(fd)
        }
      } catch {
        // reported already, or gone
      }
    }
    this.#sized.clear()
  }

  /**
   * Creates a multi-blob file once, at its final size (blobs then go in at their offsets); or
   * sizes an existing file that is written in place.
   */
  #created(f: FileJob): Promise<void> {
    f.created ??= this.#createLimit(async () => {
      if (f.inPlace) return sizeInPlace(f.path, f.size)
      const fd = await openForWriting(f.path, this.#o.delete)
      // Only a file made here is emptied should it stay unfinished: never one that was in the way.
      this.#sized.add(f)
      try {
        ftruncateSync(fd, f.size)
      } finally {
        closeSync(fd)
      }
    })
    return f.created
  }

  async #finishFile(f: FileJob): Promise<void> {
    this.#sized.delete(f)
    this.#s.files++
    this.#o.progress?.onFile?.(f.path.toString())
    this.#o.progress?.onAction?.(f.path.toString(), f.inPlace ? 'updated' : 'restored', f.size)
    if (!this.#finishedByWorker(f)) await this.#meta(f.path, f.node())
  }

  async #meta(path: Buffer, node: Node): Promise<void> {
    try {
      const warnings = await applyMetadata(path, node, { owner: this.#owner, xattrs: this.#o.xattrs ?? true })
      for (const w of warnings) this.#error(path, new Error(w))
    } catch (err) {
      this.#error(path, err)
    }
  }

  async #verify(): Promise<number> {
    let verified = 0
    for (const f of this.#files) {
      if (f.remaining !== 0) continue
      try {
        const h = await open(f.path, 'r')
        try {
          let offset = 0
          for (const id of f.content ?? []) {
            const loc = this.#repo.index.lookup('data', id)!
            const len = plaintextLength(loc)
            const buf = Buffer.allocUnsafe(len)
            const { bytesRead } = await h.read(buf, 0, len, offset)
            if (bytesRead !== len || hashId(buf) !== id) throw new Error(`content differs at offset ${offset}`)
            offset += len
          }
          const st = await h.stat()
          if (st.size !== offset) throw new Error(`size is ${st.size}, expected ${offset}`)
        } finally {
          await h.close()
        }
        verified++
      } catch (err) {
        this.#error(f.path, new Error(`verification failed: ${messageOf(err)}`))
      }
    }
    return verified
  }
}

/**
 * Trees read ahead of a depth-first walk: want() starts reading one while fewer than `ahead`
 * are being read or wait to be walked; take() gives a tree that was read ahead, or reads it now.
 */
class TreesAhead {
  #ahead = new Map<Id, Promise<Node[]>>()

  constructor(
    private readonly load: (id: Id) => Promise<Node[]>,
    private readonly limit: number,
  ) {}

  want(id: Id): void {
    if (this.#ahead.size >= this.limit || this.#ahead.has(id)) return
    const p = this.load(id)
    // A tree read ahead and never taken (the walk stopped) must not fail the process.
    p.catch(() => {})
    this.#ahead.set(id, p)
  }

  take(id: Id): Promise<Node[]> {
    const p = this.#ahead.get(id)
    if (p === undefined) return this.load(id)
    this.#ahead.delete(id)
    return p
  }

  /** A tree that was wanted will not be walked after all. */
  forget(id: Id): void {
    this.#ahead.delete(id)
  }

  clear(): void {
    this.#ahead.clear()
  }
}

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

/**
 * Creates a file to restore into, always a new one: what is in the way (an older file, a
 * symlink, which is never followed, an empty folder, a special file) is removed first, a folder
 * with content never (clearTheWay). An existing file is never written into: it may be a hard
 * link of a file outside the target (restic replaces such files too).
 */
async function openForWriting(path: Buffer, removeFolders = false): Promise<number> {
  try {
    return await openFd(path, WRITE_FLAGS)
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err
    clearTheWay(path, removeFolders)
    return openFd(path, WRITE_FLAGS)
  }
}

/**
 * Opens an existing file to write into it, and cuts or extends it to `size`. It must still be
 * a regular file of one link (findExisting saw one): anything else there now is an error.
 * A file its owner may not write (mode 0444) is made writable; its mode is set again at the end.
 */
function sizeInPlace(path: Buffer, size: number): void {
  let fd: number
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW)
  } catch (err) {
    if (errnoCode(err) !== 'EACCES') throw err
    const ro = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW)
    try {
      fchmodSync(ro, fstatSync(ro).mode | 0o200)
    } finally {
      closeSync(ro)
    }
    fd = openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW)
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile() || st.nlink !== 1) throw new AppError('IO', `"${path.toString('utf8')}" changed while it was restored`, { hint: 'Restore again' })
    ftruncateSync(fd, size)
  } finally {
    closeSync(fd)
  }
}

/**
 * A folder of the target, made when something is restored into it. Tells whether this restore
 * made it (so nothing in it needs a look first) or found it there.
 */
class TargetDir {
  #made: Promise<boolean> | undefined
  #fresh: boolean | undefined

  constructor(private readonly make: () => Promise<boolean>) {}

  /** Makes the folder once; true when it was not there before. */
  ensure(): Promise<boolean> {
    return (this.#made ??= this.make().then((fresh) => (this.#fresh = fresh)))
  }

  /** The folder was made ready and was there before this restore. */
  existed(): boolean {
    return this.#fresh === false
  }
}

/**
 * Makes a folder of the target; true when it was not there. Something that is not a folder (a
 * file, a symlink) is replaced, as restic does. Synchronous, as metadata is: microseconds, where
 * a thread-pool round trip costs more.
 */
function makeFolder(path: Buffer, removeFolders: boolean): boolean {
  try {
    mkdirSync(path, { mode: 0o700 })
    return true
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err
  }
  if (isFolder(path)) return false
  clearTheWay(path, removeFolders)
  mkdirSync(path, { mode: 0o700 })
  return true
}

function isFolder(path: Buffer): boolean {
  try {
    return lstatSync(path).isDirectory()
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false
    throw err
  }
}

/** Whether something is at `path`; a path that cannot be there (below a file) is not. */
function exists(path: Buffer): boolean {
  try {
    lstatSync(path)
    return true
  } catch (err) {
    const code = errnoCode(err)
    if (code === 'ENOENT' || code === 'ENOTDIR') return false
    throw err
  }
}

/** Entries of a folder tree, the folder included (never following a symlink). */
function countTree(path: Buffer): number {
  let n = 1
  for (const name of readdirSync(path, { encoding: 'buffer' })) {
    const p = Buffer.concat([path, SLASH, name])
    n += lstatSync(p).isDirectory() ? countTree(p) : 1
  }
  return n
}

const ABSENT: Existing = { kind: 'absent' }

/** Stands in for the node of something in the target that the snapshot does not have. */
const DELETE_PROBE: Node = {
  name: NO_NAME, type: 'file', mode: 0, mtime: '', atime: '', ctime: '', uid: 0, gid: 0, inode: 0n, deviceId: 0n, size: 0, links: 0, content: null,
}

function openFd(path: Buffer, flags: number): Promise<number> {
  return new Promise((resolve, reject) => openCb(path, flags, 0o600, (err, fd) => (err ? reject(err) : resolve(fd))))
}

/** Runs `create`; when something already exists at `path`, removes it (clearTheWay) and tries once more. */
async function replacing(path: Buffer, create: () => Promise<void>, removeFolders = false): Promise<void> {
  try {
    await create()
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err
    clearTheWay(path, removeFolders)
    await create()
  }
}
