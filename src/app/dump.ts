import { lstat, open, rm } from 'node:fs/promises'
import { finished } from 'node:stream/promises'
import type { Writable } from 'node:stream'
import { AppError, errnoCode, messageOf, type Id } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import type { ArchiveFormat, DumpSummary, ZipMethod } from '../restorer/index.js'
import { decodeTree, findSnapshot, type Node, type SnapshotEntry, type SnapshotFilter } from '../snapshots/index.js'
import { restorer } from './lazy-layers.js'
import { cleanSnapshotPath, resolveTreePath, splitSnapshotPath } from './tree-path.js'

export const ARCHIVE_FORMATS: readonly ArchiveFormat[] = ['tar', 'zip']

export interface DumpRequest {
  /** "latest", an ID or prefix; "SNAPSHOT:sub/dir" makes that folder the root of the dump. */
  snapshot: string
  /** A file (its content is written) or a directory ("/" for all) written as an archive. */
  path: string
  /** For "latest": host, tag and path filters. */
  filter?: SnapshotFilter
  archive?: ArchiveFormat
  zipMethod?: ZipMethod
  /** Write to this file instead of the output stream. */
  target?: string
  signal?: AbortSignal
}

export interface DumpResult {
  snapshot: SnapshotEntry
  /** What was written: one file's content, or an archive. */
  kind: 'file' | 'archive'
  bytes: number
  summary?: DumpSummary
}

type DumpRepo = Pick<Repository, 'loadBlob' | 'blobSize' | 'listIds' | 'loadUnpacked' | 'loadIndex' | 'index' | 'readPackBlobs'>

/**
 * restic's `dump`: a file's content, or a directory as a tar or zip archive, written to
 * `output` (stdout) or to `target`. Contents stream blob by blob; nothing is held whole in
 * memory. An archive is not written to a terminal. A target file left incomplete by an error is
 * removed.
 *
 * @example
 * await runDump(repo, { snapshot: 'latest', path: '/home/me/notes.txt' }, process.stdout)
 * await runDump(repo, { snapshot: 'latest', path: '/home/me', archive: 'zip', target: 'me.zip' })
 */
export async function runDump(repo: DumpRepo, req: DumpRequest, output: Writable = process.stdout): Promise<DumpResult> {
  const archive = req.archive ?? 'tar'
  if (!ARCHIVE_FORMATS.includes(archive)) {
    throw new AppError('INVALID_ARGUMENT', `Unknown archive format "${archive}"`, { hint: 'Use --archive tar or --archive zip' })
  }
  const { snapshot: spec, path: subfolder } = splitSnapshotPath(req.snapshot)
  const entry = await findSnapshot(repo, spec, req.filter)
  await repo.loadIndex()
  let root: Id = entry.snapshot.tree
  if (subfolder !== undefined && cleanSnapshotPath(subfolder) !== '/') {
    const found = await resolveTreePath(repo, root, cleanSnapshotPath(subfolder))
    if (!found.tree) throw new AppError('INVALID_ARGUMENT', `"${subfolder}" in snapshot ${entry.id.slice(0, 8)} is not a directory`)
    root = found.tree
  }

  const path = cleanSnapshotPath(req.path)
  const found = path === '/' ? {} : await resolveTreePath(repo, root, path)
  const node: Node | undefined = found.node
  let nodes: Node[] | undefined
  if (node === undefined) nodes = decodeTree(await repo.loadBlob('tree', root)).sort((a, b) => Buffer.compare(a.name, b.name))
  else if (node.type === 'dir' && found.tree) nodes = decodeTree(await repo.loadBlob('tree', found.tree)).sort((a, b) => Buffer.compare(a.name, b.name))
  else if (node.type !== 'file') {
    throw new AppError('INVALID_ARGUMENT', `"${path}" is a ${node.type}, not a file or directory`, { hint: 'Give the path of a file, or of a directory to get an archive' })
  }
  if (nodes !== undefined && req.target === undefined && (output as { isTTY?: boolean }).isTTY) {
    throw new AppError('INVALID_ARGUMENT', 'Refusing to write an archive to the terminal', { hint: 'Redirect the output to a file or pipe, or use --target FILE' })
  }

  const opened = req.target !== undefined ? await openTarget(req.target) : undefined
  const out = opened?.stream ?? output
  const { dumpArchive, dumpFile, streamSink } = await restorer()
  const sink = streamSink(out)
  try {
    let result: DumpResult
    if (nodes !== undefined) {
      const summary = await dumpArchive(repo, nodes, path, sink, { format: archive, zipMethod: req.zipMethod, signal: req.signal })
      result = { snapshot: entry, kind: 'archive', bytes: sink.bytesWritten, summary }
    } else {
      await dumpFile(repo, node as Node, sink, { signal: req.signal })
      result = { snapshot: entry, kind: 'file', bytes: sink.bytesWritten }
    }
    if (req.target !== undefined) {
      out.end()
      await finished(out)
    }
    return result
  } catch (err) {
    if (opened !== undefined) {
      out.destroy()
      await removeIncomplete(req.target!, opened.file)
    }
    throw err
  }
}

/** The target's stream, and which regular file it is (dev, ino), if it is one. */
async function openTarget(path: string): Promise<{ stream: Writable; file?: { dev: number; ino: number } }> {
  try {
    const h = await open(path, 'w')
    const st = await h.stat()
    return { stream: h.createWriteStream(), ...(st.isFile() ? { file: { dev: st.dev, ino: st.ino } } : {}) }
  } catch (err) {
    throw new AppError('IO', `Cannot create "${path}": ${errnoCode(err) ?? messageOf(err)}`, { hint: 'Check the path given with --target' })
  }
}

/**
 * Removes the incomplete file a failed dump wrote: only a regular file that is still the one it
 * wrote, never a device (-t /dev/null), a fifo, or a symlink that led to them (-t /dev/stdout).
 */
async function removeIncomplete(path: string, file: { dev: number; ino: number } | undefined): Promise<void> {
  if (file === undefined) return
  try {
    const st = await lstat(path)
    if (st.isFile() && st.dev === file.dev && st.ino === file.ino) await rm(path, { force: true })
  } catch {
    // gone already
  }
}
