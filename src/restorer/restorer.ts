import { availableParallelism } from 'node:os'
import { closeSync, constants, ftruncateSync, open as openCb } from 'node:fs'
import { link, mkdir, open, rm, symlink } from 'node:fs/promises'
import { AppError, createLimit, hashId, messageOf, ownBuffer, WorkerPool, type Id } from '../base/index.js'
import { keyForWorker, plaintextLength, type BlobLocation, type PackedBlob, type Repository } from '../repository/index.js'
import type { RestorePiece, RestorePieceResult, WriteTarget } from './restore-worker.js'
import { decodeTree, type Node } from '../snapshots/index.js'
import { applyMetadata } from './fs-metadata.js'
import { createSpecialFile } from './special-files.js'

export interface RestoreProgress {
  /** Total files and bytes to restore, known once the trees were read. */
  onPlan?(files: number, bytes: number): void
  onBytes?(n: number): void
  onFile?(path: string): void
  onError?(path: string, error: Error): void
}

export interface RestoreOptions {
  /** Root tree of the snapshot (or of the sub-folder) to restore. */
  tree: Id
  /** Prefix of the restored paths inside the snapshot, for messages and filters (e.g. "/home/me"). */
  basePath?: string
  target: string
  /** Decides per snapshot path (e.g. "/home/me/a.txt") whether to restore it; directories on the way are kept. */
  filter?: (path: string, node: Node) => 'include' | 'exclude' | 'descend'
  /** Set owners (default: when running as root). */
  owner?: boolean
  xattrs?: boolean
  /** Read every restored file back and compare it with the blob IDs. */
  verify?: boolean
  signal?: AbortSignal
  progress?: RestoreProgress
}

export interface RestoreSummary {
  files: number
  dirs: number
  bytes: number
  errors: number
  verified?: number
}

type RestoreRepo = Pick<Repository, 'loadBlob' | 'index' | 'backend' | 'key'>

/**
 * A file to restore. The plan holds every file of the restore at once, so a job keeps only
 * what writing and metadata need of its node (the node itself costs several times more).
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
  delivered?: boolean
}

/**
 * A pack is read in pieces of about this many bytes (a piece holds at least one blob), each
 * decoded and written by a worker: pieces, not packs, are held in memory.
 */
const READ_SPAN = 4 * 1024 * 1024
/** Blobs of a piece at most: a piece of tiny files is a batch of work, not a burst of thousands. */
const PIECE_BLOBS = 256
/** Files of several blobs created at once (creating a file waits for the file system's journal). */
const CREATE_CONCURRENCY = 32
/** Stands in for the names of planned files: the path has it, and the node needs it no more. */
const NO_NAME = Buffer.alloc(0)

/**
 * Restores a tree into a directory. Each pack is read once, with blobs written at their offsets
 * in every file that uses them (zero blobs are skipped, leaving holes: sparse files); metadata is
 * applied after contents, directories last and deepest first.
 */
export async function restore(repo: RestoreRepo, options: RestoreOptions): Promise<RestoreSummary> {
  const r = new Restorer(repo, options)
  return r.run()
}

class Restorer {
  #repo: RestoreRepo
  #o: RestoreOptions
  /** Planned files; only kept for the end (--verify) and for empty files, written first. */
  #files: FileJob[] = []
  #fileCount = 0
  #totalBytes = 0
  #dirs: Array<{ path: Buffer; node: Node; depth: number }> = []
  #byPack = new Map<Id, Map<string, PlannedBlob>>()
  #links = new Map<string, Buffer>()
  #pendingLinks: Array<{ path: Buffer; target: Buffer }> = []
  #createLimit = createLimit(CREATE_CONCURRENCY)
  #s: RestoreSummary = { files: 0, dirs: 0, bytes: 0, errors: 0 }
  #owner: boolean

  constructor(repo: RestoreRepo, options: RestoreOptions) {
    this.#repo = repo
    this.#o = options
    this.#owner = options.owner ?? process.getuid?.() === 0
  }

  async run(): Promise<RestoreSummary> {
    const target = Buffer.from(this.#o.target)
    await mkdir(this.#o.target, { recursive: true })
    await this.#walk(this.#o.tree, target, this.#o.basePath ?? '', 0, async () => {})
    this.#o.progress?.onPlan?.(this.#fileCount, this.#totalBytes)
    await this.#writeContents()
    for (const l of this.#pendingLinks) {
      try {
        await replacing(l.path, () => link(l.target, l.path))
        this.#s.files++
      } catch (err) {
        this.#error(l.path, err)
      }
    }
    // Directories last, deepest first, so writing into them does not change their times again.
    this.#dirs.sort((a, b) => b.depth - a.depth)
    for (const d of this.#dirs) await this.#meta(d.path, d.node)
    if (this.#o.verify) this.#s.verified = await this.#verify()
    return this.#s
  }

  #error(path: Buffer | string, err: unknown): void {
    this.#s.errors++
    this.#o.progress?.onError?.(path.toString(), err instanceof Error ? err : new Error(String(err)))
  }

  #checkAbort(): void {
    if (this.#o.signal?.aborted) throw new AppError('INTERRUPTED', 'Restore interrupted')
  }

  async #walk(treeId: Id, dir: Buffer, snapPath: string, depth: number, ensureDir: () => Promise<void>): Promise<void> {
    this.#checkAbort()
    const nodes = decodeTree(await this.#repo.loadBlob('tree', treeId))
    // Sibling directories are walked concurrently: creating directories and files is
    // latency-bound, and each directory's tree is a separate read.
    const subwalks: Array<Promise<void>> = []
    for (const node of nodes) {
      const nameText = node.name.toString('utf8')
      if (node.name.length === 0 || nameText === '.' || nameText === '..' || node.name.includes(0x2f)) {
        this.#error(`${snapPath}/${nameText}`, new Error('invalid file name in snapshot'))
        continue
      }
      const path = Buffer.concat([dir, Buffer.from('/'), node.name])
      const sp = `${snapPath}/${nameText}`
      const decision = this.#o.filter?.(sp, node) ?? 'include'
      if (decision === 'exclude') continue
      if (node.type === 'dir') {
        // Directories that are only passed through are created when something inside them is.
        let made: Promise<void> | undefined
        const ensure = () =>
          (made ??= (async () => {
            await ensureDir()
            await mkdir(path, { mode: 0o700 }).catch((err: { code?: string }) => {
              if (err.code !== 'EEXIST') throw err
            })
            this.#dirs.push({ path, node, depth })
          })())
        try {
          if (decision === 'include') {
            await ensure()
            this.#s.dirs++
          }
        } catch (err) {
          this.#error(path, err)
          continue
        }
        if (node.subtree) subwalks.push(this.#walk(node.subtree, path, sp, depth + 1, ensure))
        continue
      }
      if (decision === 'descend') continue
      try {
        await ensureDir()
        await this.#createEntry(path, node)
      } catch (err) {
        this.#error(path, err)
      }
    }
    await Promise.all(subwalks)
  }

  async #createEntry(path: Buffer, node: Node): Promise<void> {
    switch (node.type) {
      case 'file': {
        const key = node.links > 1 && node.inode !== 0n ? `${node.deviceId}:${node.inode}` : undefined
        const first = key ? this.#links.get(key) : undefined
        if (first) {
          // The first path may not have its content yet: link once contents are written.
          this.#pendingLinks.push({ path, target: first })
          return
        }
        if (key) this.#links.set(key, path)
        this.#planFile(path, node)
        return
      }
      case 'symlink':
        await replacing(path, () => symlink(node.linktarget ?? '', path))
        await this.#meta(path, node)
        return
      case 'fifo':
      case 'dev':
      case 'chardev':
        await replacing(path, () => createSpecialFile(path, node))
        await this.#meta(path, node)
        return
      default:
        return // sockets are never restored
    }
  }

  #planFile(path: Buffer, node: Node): void {
    const content = node.content ?? []
    this.#fileCount++
    this.#totalBytes += node.size
    // Every blob is looked up before any is planned: a file with a missing blob gets nothing
    // written, rather than a handle that is opened for its first blobs and never finished.
    const locations: BlobLocation[] = []
    for (const id of content) {
      const loc = this.#repo.index.lookup('data', id)
      if (!loc) {
        this.#error(path, new AppError('NOT_FOUND', `data blob ${id} is missing from the repository`))
        this.#files.push(new FileJob(path, node, -1, false))
        return
      }
      locations.push(loc)
    }
    const job = new FileJob(path, node, content.length, this.#o.verify === true)
    if (this.#o.verify || content.length === 0) this.#files.push(job)
    let offset = 0
    for (const loc of locations) {
      let pack = this.#byPack.get(loc.packId)
      if (!pack) this.#byPack.set(loc.packId, (pack = new Map()))
      let entry = pack.get(loc.id)
      const place = { file: job, offset }
      if (!entry) pack.set(loc.id, { blob: loc, first: place })
      else (entry.more ??= []).push(place)
      offset += plaintextLength(loc)
    }
  }

  async #writeContents(): Promise<void> {
    // Empty files (and files whose blobs are missing) are created right away.
    for (const f of this.#files) {
      if (f.remaining === 0) {
        try {
          closeSync(await openForWriting(f.path))
          await this.#finishFile(f)
        } catch (err) {
          this.#error(f.path, err)
        }
      }
    }
    if (this.#byPack.size === 0) return
    // Workers decode and write; this thread reads pieces, creates multi-blob files and finishes
    // files (metadata). Two pieces per worker keep them busy while the next is read.
    const threads = Math.max(1, Math.min(4, availableParallelism()))
    const pool = new WorkerPool(new URL('./restore-worker.js', import.meta.url), threads, { key: keyForWorker(this.#repo.key) })
    const pieceLimit = createLimit(2 * threads)
    // Packs are taken two at a time, so that the reads of each stay together on disk.
    const packLimit = createLimit(2)
    try {
      await Promise.all(
        [...this.#byPack.keys()].map((packId) =>
          packLimit(async () => {
            this.#checkAbort()
            const blobs = this.#byPack.get(packId)!
            // The plan of a pack is dropped once it is done: memory shrinks as the restore goes on.
            this.#byPack.delete(packId)
            const list = [...blobs.values()].sort((a, b) => a.blob.offset - b.blob.offset)
            const pieces: Array<Promise<void>> = []
            for (let i = 0; i < list.length; ) {
              // One ranged read per piece of about READ_SPAN bytes (at least one blob).
              let j = i + 1
              while (j < list.length && j - i < PIECE_BLOBS && list[j].blob.offset + list[j].blob.length - list[i].blob.offset <= READ_SPAN) j++
              const piece = list.slice(i, j)
              i = j
              pieces.push(pieceLimit(() => this.#restorePiece(pool, packId, piece)))
            }
            await Promise.all(pieces)
          }),
        ),
      )
    } finally {
      await pool.close()
    }
  }

  /** Reads one piece of a pack and has a worker decode and write its blobs; then counts them and finishes files. */
  async #restorePiece(pool: WorkerPool, packId: Id, piece: PlannedBlob[]): Promise<void> {
    this.#checkAbort()
    const start = piece[0].blob.offset
    const last = piece[piece.length - 1].blob
    const placesOf = (e: PlannedBlob) => (e.more ? [e.first, ...e.more] : [e.first])
    let sealed: Buffer
    try {
      sealed = await this.#repo.backend.load({ type: 'data', name: packId }, start, last.offset + last.length - start)
    } catch (err) {
      if (err instanceof AppError && err.code === 'INTERRUPTED') throw err
      for (const e of piece) for (const p of placesOf(e)) this.#error(p.file.path, new Error(`cannot read pack ${packId}: ${messageOf(err)}`))
      return
    }
    // Files of several blobs are created and sized here first, so their blobs may be written in
    // any order, by any worker, and zero blobs left as holes.
    const creating: Array<Promise<void>> = []
    for (const e of piece) for (const p of placesOf(e)) if (p.file.blobs > 1) creating.push(this.#created(p.file))
    await Promise.all(creating)
    // Transferred to the worker, not cloned: a view into a larger buffer is copied first.
    const own = ownBuffer(sealed)
    const request: RestorePiece = {
      packId,
      sealed: own,
      blobs: piece.map((e) => ({
        type: 'data',
        id: e.blob.id,
        uncompressedLength: e.blob.uncompressedLength,
        offset: e.blob.offset - start,
        length: e.blob.length,
        targets: placesOf(e).map(
          (p): WriteTarget => ({ path: p.file.path, offset: p.offset, create: p.file.blobs === 1, sparse: p.file.blobs > 1 && p.file.size > plaintextLength(e.blob) }),
        ),
      })),
    }
    let r: RestorePieceResult
    try {
      r = await pool.call<RestorePieceResult>(request, own.length, [own.buffer as ArrayBuffer])
    } catch (err) {
      for (const e of piece) for (const p of placesOf(e)) this.#error(p.file.path, err)
      return
    }
    const damaged = new Map(r.damaged)
    const failed = new Map(r.failed.map(([i, k, m]) => [`${i}:${k}`, m]))
    const finished: FileJob[] = []
    piece.forEach((e, i) => {
      const why = damaged.get(i)
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
  }

  /** Creates a multi-blob file once, at its final size (blobs then go in at their offsets). */
  #created(f: FileJob): Promise<void> {
    f.created ??= this.#createLimit(async () => {
      const fd = await openForWriting(f.path)
      try {
        ftruncateSync(fd, f.size)
      } finally {
        closeSync(fd)
      }
    })
    return f.created
  }

  async #finishFile(f: FileJob): Promise<void> {
    this.#s.files++
    this.#o.progress?.onFile?.(f.path.toString())
    await this.#meta(f.path, f.node())
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


const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW

/**
 * Opens a file for restoring into it. Whatever is in the way (a symlink, which is never followed,
 * a directory, a special file) is removed first; an existing regular file is truncated.
 */
async function openForWriting(path: Buffer): Promise<number> {
  try {
    return await openFd(path, WRITE_FLAGS)
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code !== 'ELOOP' && code !== 'EISDIR' && code !== 'ENXIO' && code !== 'ETXTBSY') throw err
    await rm(path, { recursive: true, force: true })
    return openFd(path, WRITE_FLAGS)
  }
}

function openFd(path: Buffer, flags: number): Promise<number> {
  return new Promise((resolve, reject) => openCb(path, flags, 0o600, (err, fd) => (err ? reject(err) : resolve(fd))))
}

/** Runs `create`; when something already exists at `path`, removes it and tries once more. */
async function replacing(path: Buffer, create: () => Promise<void>): Promise<void> {
  try {
    await create()
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err
    await rm(path, { recursive: true, force: true })
    await create()
  }
}
