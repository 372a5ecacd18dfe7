/**
 * Backing up a stream (restic's `backup --stdin`): the bytes read until its end become one file
 * of the snapshot, at `filename`, chunked and stored as a file's content is. A database dump
 * piped in (`pg_dump db | cairn backup --stdin --stdin-filename db.sql`) never touches the disk.
 *
 * The file and the folders on its way get what restic gives them: the snapshot's time, mode
 * 0644 (folders 0755), and the uid and gid of the user running the backup.
 */
import { hostname as osHostname } from 'node:os'
import { AppError, errnoCode, youngCollector, type Id } from '../base/index.js'
import type { BlobWriter } from '../repository/index.js'
import { encodeNode, encodeSnapshot, encodeTreeJson, formatGoTime, goFileMode, type Node, type Snapshot } from '../snapshots/index.js'
import { currentUser, dryRunWriter, newSummary, type ArchiverRepo, type BackupProgress, type BackupResult } from './archiver.js'
import { BackupWorkers } from './backup-workers.js'
import { FileSaver, type FileHandleLike } from './file-saver.js'

/** Bytes of standard input between young collections (see standardInput). */
const COLLECT_EVERY = 4 * 1024 * 1024

export interface StdinBackupOptions {
  /** The file's path in the snapshot, as restic's --stdin-filename: "db.sql" is "/db.sql". */
  filename: string
  /** Where the bytes come from: standard input when not given. */
  input?: FileHandleLike
  tags?: string[]
  hostname?: string
  parent?: { id: Id; snapshot: Snapshot }
  dryRun?: boolean
  time?: Date
  signal?: AbortSignal
  progress?: BackupProgress
}

/**
 * The components of a --stdin-filename, checked: no empty name, and no `.` or `..` (they would
 * make a tree that restores outside its target).
 */
export function stdinPath(filename: string): string[] {
  const parts = filename.split('/').filter((p) => p !== '')
  if (parts.length === 0 || parts.some((p) => p === '.' || p === '..')) {
    throw new AppError('INVALID_ARGUMENT', `Invalid --stdin-filename "${filename}": it needs a file name, and no "." or ".." in its path`, {
      hint: 'Name the file the data is stored as, e.g. --stdin-filename db.sql',
    })
  }
  return parts
}

/**
 * Reads `options.input` (standard input by default) to its end and writes a snapshot holding it
 * as one file. Resolves like backup(). When the input cannot be read to its end, or the backup
 * is interrupted, no snapshot is written (packs stored before stay unindexed until prune).
 */
export async function backupStdin(repo: ArchiverRepo, options: StdinBackupOptions): Promise<BackupResult> {
  const parts = stdinPath(options.filename)
  const time = options.time ?? new Date()
  const goTime = formatGoTime(BigInt(time.getTime()) * 1_000_000n)
  const user = currentUser()
  const summary = newSummary()
  const path = '/' + parts.join('/')
  const workers = options.dryRun ? undefined : new BackupWorkers(repo.key)
  const store = async (w: BlobWriter): Promise<Id> => {
    const saver = new FileSaver(repo.config.chunkerPolynomial, workers)
    const input = options.input ?? standardInput(options.signal)
    let saved
    try {
      saved = await saver.saveStream(input, w, (n) => options.progress?.onBytes?.(n))
    } finally {
      await input.close()
    }
    if (options.signal?.aborted) throw new AppError('INTERRUPTED', 'Backup interrupted')
    // As restic refuses it: an empty stream is most often a command that failed before writing
    // (`pg_dump db | cairn backup --stdin`), and its snapshot would look like a backup.
    if (saved.size === 0) {
      throw new AppError('INVALID_ARGUMENT', 'No data read from standard input: no snapshot was saved', {
        hint: 'Check the command whose output is piped into cairn (it may have failed)',
      })
    }
    summary.filesNew = 1
    summary.totalFilesProcessed = 1
    summary.totalBytesProcessed = saved.size
    options.progress?.onItem?.(path, 'file', 'new', saved.size)
    const node = (name: string, fields: Partial<Node>): string =>
      encodeNode({
        name: Buffer.from(name),
        type: 'file',
        mode: goFileMode(0o100644),
        mtime: goTime,
        atime: goTime,
        ctime: goTime,
        uid: user.uid,
        gid: user.gid,
        inode: 0n,
        deviceId: 0n,
        size: 0,
        links: 0,
        content: null,
        ...fields,
      })
    let json = node(parts[parts.length - 1], { size: saved.size, content: saved.content })
    for (let i = parts.length - 1; ; i--) {
      const tree = await w.saveBlob('tree', encodeTreeJson([json]))
      if (i === 0) {
        summary.dataBlobs = w.stats.dataBlobs
        summary.treeBlobs = w.stats.treeBlobs
        summary.dataAdded = w.stats.dataAdded
        summary.dataAddedPacked = w.stats.dataAddedPacked
        return tree.id
      }
      summary.dirsNew++
      json = node(parts[i - 1], { type: 'dir', mode: goFileMode(0o040755), subtree: tree.id })
    }
  }
  let treeId: Id
  try {
    treeId = workers ? await repo.withWriter(store, { encoder: workers }) : await store(dryRunWriter(repo))
  } finally {
    await workers?.close()
  }
  const snapshot: Snapshot = {
    time: goTime,
    tree: treeId,
    paths: [path],
    hostname: options.hostname ?? osHostname(),
    username: user.name,
    uid: user.uid,
    gid: user.gid,
  }
  if (options.parent) snapshot.parent = options.parent.id
  if (options.tags && options.tags.length > 0) snapshot.tags = options.tags
  const snapshotId = options.dryRun ? undefined : await repo.saveUnpacked('snapshots', encodeSnapshot(snapshot))
  return { snapshotId, snapshot, summary }
}

/**
 * Standard input as a file to read: from its stream, so that a pipe is read as data arrives on
 * this thread's event loop (a read through the thread pool per 64 KiB of a pipe is a round trip
 * each). An abort ends the input at once, even while it waits for data that may never come.
 */
function standardInput(signal: AbortSignal | undefined): FileHandleLike {
  const chunks = process.stdin[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  let pending: Buffer | undefined
  let ended = false
  // Each piece is a new 64 KiB buffer, copied into the read ring and dropped: collected every
  // few MiB, or V8 lets tens of MiB of them pile up (it counts them only as external memory).
  const collect = youngCollector()
  let sinceCollect = 0
  const aborted = new Promise<IteratorResult<Buffer>>((resolve) => {
    if (signal?.aborted) resolve({ done: true, value: undefined })
    signal?.addEventListener('abort', () => resolve({ done: true, value: undefined }), { once: true })
  })
  return {
    async read(buf, offset, length) {
      if (ended || signal?.aborted) return { bytesRead: 0 }
      if (pending === undefined || pending.length === 0) {
        let next: IteratorResult<Buffer>
        try {
          next = await Promise.race([chunks.next(), aborted])
        } catch (err) {
          throw new AppError('IO', `Cannot read standard input: ${errnoCode(err) ?? String(err)}`, { cause: err })
        }
        if (next.done === true) {
          ended = true
          return { bytesRead: 0 }
        }
        pending = next.value
        sinceCollect += pending.length
        if (sinceCollect >= COLLECT_EVERY) {
          sinceCollect = 0
          collect?.(false)
        }
      }
      const n = pending.copy(buf, offset, 0, Math.min(length, pending.length))
      pending = pending.subarray(n)
      return { bytesRead: n }
    },
    async close() {
      // Not chunks.return(): it waits behind a pending read for data that may never come.
      process.stdin.destroy()
    },
  }
}
