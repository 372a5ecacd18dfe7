/**
 * Dump: a tree from a snapshot written as a tar or zip stream (restic's `dump`), or a single
 * file's content. Entries are named by their path below the snapshot root, without a leading
 * slash, as restic names them.
 */
import { AppError } from '../base/index.js'
import type { Repository } from '../repository/index.js'
import { bytesFromGoString, decodeTree, parseGoTime, unixModeFromGo, type Node } from '../snapshots/index.js'
import { BlobCache, BlobQueue } from './blob-stream.js'
import type { ByteSink } from './byte-sink.js'
import { TarWriter, type TarEntry } from './tar-writer.js'
import { ZipWriter, type ZipEntry, type ZipMethod } from './zip-writer.js'

export type ArchiveFormat = 'tar' | 'zip'

type DumpRepo = Pick<Repository, 'loadBlob' | 'blobSize' | 'index' | 'readPackBlobs'>

export interface DumpOptions {
  format: ArchiveFormat
  /** For zip: store (default, as restic) or deflate. */
  zipMethod?: ZipMethod
  /** Most data blobs loaded ahead of the writer (default: BlobQueue's). */
  readAhead?: number
  signal?: AbortSignal
}

export interface DumpSummary {
  files: number
  dirs: number
  symlinks: number
  /** Hard links written as links to an earlier entry (tar only). */
  hardlinks: number
  /** fifos and devices (tar only). */
  others: number
  /** Nodes that cannot be put into the archive (sockets; fifos and devices in a zip). */
  skipped: number
  /** File content bytes. */
  bytes: number
}

interface Item {
  name: Buffer
  node: Node
  size: number
  /** For a hard link: the archive name of the entry it points to. */
  linkTo?: Buffer
}

const SLASH = Buffer.from('/')
const ENTRIES_AHEAD = 512

/**
 * Writes `nodes` (the entries of a directory) and everything below them as an archive. `root`
 * is the directory's path in the snapshot ("/" for the snapshot root); entry names start with
 * it, without the leading slash.
 *
 * @example
 * await dumpArchive(repo, decodeTree(await repo.loadBlob('tree', dirTree)), '/home/me', streamSink(process.stdout), { format: 'tar' })
 */
export async function dumpArchive(repo: DumpRepo, nodes: readonly Node[], root: string, sink: ByteSink, options: DumpOptions): Promise<DumpSummary> {
  const summary: DumpSummary = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, others: 0, skipped: 0, bytes: 0 }
  const prefix = Buffer.from(root.split('/').filter((p) => p !== '' && p !== '.').join('/'))
  const blobs = new BlobQueue(repo, { readAhead: options.readAhead, cache: new BlobCache() })
  const tar = options.format === 'tar' ? new TarWriter(sink) : undefined
  const zip = options.format === 'zip' ? new ZipWriter(sink, { method: options.zipMethod }) : undefined
  const linked = new Map<string, Buffer>()
  const wanted = (node: Node) => node.type === 'file' || node.type === 'dir' || node.type === 'symlink' || (tar !== undefined && node.type !== 'socket')

  // Entries are taken from the walk a little ahead of writing, so that blobs of the next
  // files load while this one is written.
  const walk = walkNodes(repo, nodes, prefix, () => summary.skipped++)
  const ahead: Item[] = []
  let done = false
  const refill = async () => {
    while (!done && ahead.length < ENTRIES_AHEAD && blobs.queued < 1024) {
      const r = await walk.next()
      if (r.done) {
        done = true
        break
      }
      const { name, node } = r.value
      if (!wanted(node)) {
        summary.skipped++
        continue
      }
      const item: Item = { name, node, size: 0 }
      if (node.type === 'file') {
        const key = tar !== undefined && node.links > 1 && node.inode !== 0n ? `${node.deviceId}:${node.inode}` : undefined
        const first = key === undefined ? undefined : linked.get(key)
        if (first !== undefined) {
          item.linkTo = first
          ahead.push(item)
          continue
        }
        if (key !== undefined) linked.set(key, name)
        item.size = contentSize(repo, node, name)
        blobs.push(node.content ?? [])
      }
      ahead.push(item)
    }
  }

  try {
    for (;;) {
      await refill()
      const item = ahead.shift()
      if (item === undefined) break
      options.signal?.throwIfAborted()
      const { node, linkTo } = item
      const content = node.type === 'file' && linkTo === undefined ? takeBlobs(blobs, node.content?.length ?? 0) : undefined
      if (tar) await tar.add(tarEntry(item), content)
      else if (zip) await zip.add(zipEntry(item), content)
      count(summary, item)
    }
    await tar?.close()
    await zip?.close()
  } finally {
    await walk.return(undefined)
  }
  return summary
}

/** Writes a file node's content, blob by blob, loading ahead. Returns the bytes written. */
export async function dumpFile(repo: DumpRepo, node: Node, sink: ByteSink, options: Pick<DumpOptions, 'readAhead' | 'signal'> = {}): Promise<number> {
  const ids = node.content ?? []
  const q = new BlobQueue(repo, { readAhead: options.readAhead, cache: new BlobCache() })
  q.push(ids)
  let bytes = 0
  for (let i = 0; i < ids.length; i++) {
    options.signal?.throwIfAborted()
    const blob = await q.take()
    bytes += blob.length
    await sink.write(blob)
  }
  await sink.flush()
  return bytes
}

async function* takeBlobs(q: BlobQueue, n: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < n; i++) yield await q.take()
}

/** Depth-first, each directory's entries in byte order of their names, as restic walks. */
/**
 * The entries below `nodes`, depth first. A name that could lead out of the folder it is
 * extracted into ("..", ".", one with a slash: only a crafted tree has them) is left out, with
 * what is below it, and counted by `onInvalid`, as restore leaves it out.
 */
async function* walkNodes(repo: DumpRepo, nodes: readonly Node[], prefix: Buffer, onInvalid: () => void): AsyncGenerator<{ name: Buffer; node: Node }> {
  // A stack of folders being walked, not a generator per level: nested `yield*` ran out of stack
  // about 2,000 folders deep, and restic backs up such trees.
  const stack: Array<{ nodes: readonly Node[]; next: number; prefix: Buffer }> = [{ nodes, next: 0, prefix }]
  while (stack.length > 0) {
    const level = stack[stack.length - 1]
    if (level.next >= level.nodes.length) {
      stack.pop()
      continue
    }
    const node = level.nodes[level.next++]
    if (!safeName(node.name)) {
      onInvalid()
      continue
    }
    const name = level.prefix.length === 0 ? node.name : Buffer.concat([level.prefix, SLASH, node.name])
    yield { name, node }
    if (node.type === 'dir') {
      if (node.subtree === undefined) throw new AppError('INVALID_DATA', `Directory "${name.toString('utf8')}" has no subtree`, { hint: 'Run "cairn check"' })
      const children = decodeTree(await repo.loadBlob('tree', node.subtree)).sort((a, b) => Buffer.compare(a.name, b.name))
      stack.push({ nodes: children, next: 0, prefix: name })
    }
  }
}

function safeName(name: Buffer): boolean {
  return name.length > 0 && !name.includes(0x2f) && !(name.length <= 2 && name.every((b) => b === 0x2e))
}

/** A file's size from its blobs as the index has them, so a header never promises more than exists. */
function contentSize(repo: DumpRepo, node: Node, name: Buffer): number {
  let size = 0
  for (const id of node.content ?? []) {
    const n = repo.blobSize('data', id)
    if (n === undefined) {
      throw new AppError('NOT_FOUND', `Data blob ${id.slice(0, 8)} of "${name.toString('utf8')}" is not in the index`, { hint: 'Run "cairn check" to see what is damaged' })
    }
    size += n
  }
  return size
}

function tarEntry(item: Item): TarEntry {
  const { node, linkTo } = item
  const { perm } = unixModeFromGo(node.mode)
  const e: TarEntry = {
    name: node.type === 'dir' ? Buffer.concat([item.name, SLASH]) : item.name,
    type: 'file',
    mode: perm,
    uid: node.uid,
    gid: node.gid,
    uname: node.user,
    gname: node.group,
    mtimeNs: parseGoTime(node.mtime),
    pax: xattrRecords(node),
  }
  if (linkTo !== undefined) {
    e.type = 'hardlink'
    e.linkname = linkTo
    return e
  }
  switch (node.type) {
    case 'file':
      e.size = item.size
      break
    case 'dir':
      e.type = 'dir'
      break
    case 'symlink':
      e.type = 'symlink'
      e.linkname = bytesFromGoString(node.linktarget ?? '')
      break
    case 'fifo':
      e.type = 'fifo'
      break
    case 'dev':
    case 'chardev': {
      e.type = node.type === 'dev' ? 'blockdev' : 'chardev'
      const dev = node.device ?? 0n
      e.devMajor = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn))
      e.devMinor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn))
      break
    }
    default:
      throw new AppError('INTERNAL', `Cannot put a ${node.type} into a tar archive`)
  }
  return e
}

function zipEntry(item: Item): ZipEntry {
  const { node } = item
  return {
    name: node.type === 'dir' ? Buffer.concat([item.name, SLASH]) : item.name,
    type: node.type as 'file' | 'dir' | 'symlink',
    mode: unixModeFromGo(node.mode).perm,
    mtimeNs: parseGoTime(node.mtime),
    uid: node.uid,
    gid: node.gid,
    size: item.size,
    linkname: node.linktarget === undefined ? undefined : bytesFromGoString(node.linktarget),
  }
}

function count(s: DumpSummary, item: Item): void {
  if (item.linkTo !== undefined) s.hardlinks++
  else if (item.node.type === 'file') {
    s.files++
    s.bytes += item.size
  } else if (item.node.type === 'dir') s.dirs++
  else if (item.node.type === 'symlink') s.symlinks++
  else s.others++
}

/** Extended attributes as the PAX records GNU tar and star use; POSIX ACLs in their text form. */
function xattrRecords(node: Node): Array<[string, Uint8Array | string]> | undefined {
  if (!node.xattrs || node.xattrs.length === 0) return undefined
  const out: Array<[string, Uint8Array | string]> = []
  for (const x of node.xattrs) {
    if (x.name.startsWith('system.posix_acl_')) {
      const text = aclText(x.value)
      if (text === '') continue
      if (x.name.includes('system.posix_acl_access')) out.push(['SCHILY.acl.access', text])
      else if (x.name.includes('system.posix_acl_default')) out.push(['SCHILY.acl.default', text])
    } else out.push([`SCHILY.xattr.${x.name}`, x.value])
  }
  return out.length > 0 ? out : undefined
}

const ACL_TAGS: Record<number, (id: number) => string> = {
  0x01: () => 'user::',
  0x02: (id) => `user:${id}:`,
  0x04: () => 'group::',
  0x08: (id) => `group:${id}:`,
  0x10: () => 'mask::',
  0x20: () => 'other::',
}

/** The Linux xattr form of a POSIX ACL (version, then tag/perm/id entries) as text lines. */
function aclText(value: Buffer): string {
  if (value.length < 4) return ''
  let text = ''
  for (let off = 4; off + 8 <= value.length; off += 8) {
    const tag = value.readUInt16LE(off)
    const perm = value.readUInt16LE(off + 2)
    const id = value.readUInt32LE(off + 4)
    const who = ACL_TAGS[tag]?.(id) ?? '?:'
    text += `${who}${perm & 4 ? 'r' : '-'}${perm & 2 ? 'w' : '-'}${perm & 1 ? 'x' : '-'}\n`
  }
  return text
}
