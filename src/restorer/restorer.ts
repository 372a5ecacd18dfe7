import { closeSync, constants, ftruncateSync, open as openCb, writeSync } from 'node:fs'
import { link, mkdir, open, rm, symlink } from 'node:fs/promises'
import { AppError, createLimit, hashId, messageOf, type Id } from '../base/index.js'
import { plaintextLength, type BlobLocation, type PackedBlob, type Repository } from '../repository/index.js'
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

type RestoreRepo = Pick<Repository, 'loadBlob' | 'index' | 'readPackBlobs'>

/**
 * A file to restore. The plan holds every file of the restore at once, so a job keeps only
 * what writing and metadata need of its node (the node itself costs several times more).
 */
class FileJob {
  fd: number | undefined = undefined
  opening: Promise<number> | undefined = undefined
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

const ZERO = Buffer.alloc(8 * 1024 * 1024)
/** Decoded plaintext of one pack that may wait for its writes. */
const WRITE_BYTES = 8 * 1024 * 1024
/**
 * A pack is read in pieces of about this many bytes (a piece holds at least one blob): the
 * piece being decoded is held in memory, not the whole pack.
 */
const READ_SPAN = 4 * 1024 * 1024
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
  /** Files with an open descriptor, until their last blob is written. */
  #open = new Set<FileJob>()
  #pendingLinks: Array<{ path: Buffer; target: Buffer }> = []
  /** Files being created and written at once: enough to hide file-creation latency. */
  #writeLimit = createLimit(64)
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
    // Two packs at a time: each holds the piece being read and plaintext waiting for writes.
    const limit = createLimit(2)
    await Promise.all(
      [...this.#byPack.keys()].map((packId) =>
        limit(async () => {
          this.#checkAbort()
          const blobs = this.#byPack.get(packId)!
          // The plan of a pack is dropped once it is done: memory shrinks as the restore goes on.
          this.#byPack.delete(packId)
          const list = [...blobs.values()].sort((a, b) => a.blob.offset - b.blob.offset)
          // Writes of one pack run concurrently (file creation is latency-bound); at most
          // WRITE_BYTES of decoded plaintext waits for its writes, decoding pauses beyond.
          const writes: Array<{ size: number; done: Promise<void> }> = []
          let waiting = 0
          const visit = async (blob: PackedBlob, plain: Buffer) => {
            const entry = blobs.get(blob.id)!
            entry.delivered = true
            const write = (p: Placement) => this.#writeLimit(() => this.#writeBlob(p, plain))
            const done = entry.more ? Promise.all([entry.first, ...entry.more].map(write)).then(() => {}) : write(entry.first)
            writes.push({ size: plain.length, done })
            waiting += plain.length
            while (waiting > WRITE_BYTES) {
              const first = writes.shift()!
              waiting -= first.size
              await first.done
            }
          }
          for (let i = 0; i < list.length; ) {
            // One ranged read per piece of about READ_SPAN bytes (at least one blob).
            let j = i + 1
            while (j < list.length && list[j].blob.offset + list[j].blob.length - list[i].blob.offset <= READ_SPAN) j++
            const piece = list.slice(i, j)
            i = j
            try {
              await this.#repo.readPackBlobs(packId, piece.map((e) => e.blob), visit)
            } catch (err) {
              if (err instanceof AppError && err.code === 'INTERRUPTED') throw err
              for (const e of piece) {
                if (!e.delivered) for (const p of [e.first, ...(e.more ?? [])]) this.#error(p.file.path, new Error(`cannot read pack ${packId}: ${messageOf(err)}`))
              }
            }
          }
          await Promise.all(writes.map((w) => w.done))
        }),
      ),
    )
    // Files some of whose blobs could not be read (reported above) are left incomplete: close them.
    for (const f of this.#open) closeSync(f.fd!)
    this.#open.clear()
  }

  async #writeBlob(p: Placement, plain: Buffer): Promise<void> {
    const f = p.file
    try {
      // Synchronous writes into the page cache cost microseconds; a thread-pool round trip per
      // open, write and close costs more than the write itself for small files.
      if (f.fd === undefined) {
        // Creating a file is the slow part on most file systems (a journal entry): it goes
        // through the thread pool, so many files are created at once.
        f.opening ??= openForWriting(f.path)
        const fd = await f.opening
        if (f.fd !== undefined) return this.#writeBlob(p, plain)
        f.fd = fd
        this.#open.add(f)
        // Files of several blobs are sized first, so blobs may land in any order and zero
        // blobs can be left as holes.
        if (f.size > plain.length) ftruncateSync(f.fd, f.size)
      }
      const fd = f.fd
      // An all-zero blob is left as a hole: the file was truncated to its size (sparse restore).
      if (f.size === plain.length || plain.length > ZERO.length || plain.compare(ZERO, 0, plain.length) !== 0) {
        let done = 0
        while (done < plain.length) done += writeSync(fd, plain, done, plain.length - done, p.offset + done)
      }
      this.#s.bytes += plain.length
      this.#o.progress?.onBytes?.(plain.length)
      if (--f.remaining === 0) {
        closeSync(fd)
        f.fd = undefined
        this.#open.delete(f)
        await this.#finishFile(f)
      }
    } catch (err) {
      this.#error(f.path, err)
    }
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
