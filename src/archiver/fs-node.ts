import { spawn } from 'node:child_process'
import { closeSync, constants, readlinkSync, type BigIntStats } from 'node:fs'
import { open } from 'node:fs/promises'
import { constants as osConstants } from 'node:os'
import { lazyRequire, messageOf } from '../base/index.js'
import { formatGoTime, goFileMode, goStringFromBytes, type ExtendedAttribute, type Node, type NodeType } from '../snapshots/index.js'
import type { UserNames } from './user-names.js'
import { openXattrTargetSync, type XattrTargetSync } from '../localfs/index.js'

const xattr = lazyRequire<typeof import('@napi-rs/xattr')>('@napi-rs/xattr')

export interface NodeFromStatOptions {
  /** Read extended attributes (one listxattr per entry, plus one getxattr per attribute). */
  readXattrs: boolean
  users: Pick<UserNames, 'user' | 'group'>
  /** Receives problems that leave the node usable, such as an extended attribute we may not read. */
  warn?: (message: string) => void
  /**
   * The entry's node in the parent snapshot. When it is the same inode with the same ctime and
   * mtime, its extended attributes are taken instead of read again: setting or removing one
   * changes the ctime.
   */
  previous?: Node
  /** Record the access time as it is (restic's --with-atime); by default `atime` is the mtime. */
  withAtime?: boolean
}

/**
 * Builds the tree node for one directory entry from its `lstat(path, { bigint: true })`, the way
 * restic 0.14's archiver does: `atime` equals `mtime` (unless `withAtime`); `links` is recorded for files, symlinks
 * and devices only; hard links become independent file nodes that share `inode`; `device` is
 * the Linux st_rdev; symlinks get no extended attributes. `content` is `[]` for files and `null`
 * otherwise, and `subtree` is left unset: filling them is the caller's job.
 *
 * Resolves to null for entries restic does not store (sockets, unknown types). Rejects with
 * the fs error when a symlink cannot be read. Extended attributes never fail the node: ones
 * we may not read are skipped and reported through `warn`.
 *
 * @example
 * const st = await lstat(path, { bigint: true })
 * const node = await nodeFromStat(Buffer.from('hello.txt'), path, st, { readXattrs: true, users })
 */
export async function nodeFromStat(
  name: Buffer,
  path: string | Buffer,
  st: BigIntStats,
  opts: NodeFromStatOptions,
): Promise<Node | null> {
  const node = nodeFromStatSync(name, path, st, { ...opts, readXattrs: false }) as Node | null
  if (node === null || !opts.readXattrs) return node
  if (addXattrsSync(node, path, opts.previous, opts.warn) === XATTRS_BY_TOOL) {
    const xattrs = await readXattrsWithTool(path as Buffer, node.type, opts.warn)
    if (xattrs.length > 0) node.xattrs = xattrs
  }
  return node
}

/**
 * What nodeFromStatSync answers for a file or fifo whose own name is not UTF-8 when its
 * extended attributes are to be read: only a helper program can read them (asynchronously),
 * so nodeFromStat has to.
 */
export const XATTRS_BY_TOOL = Symbol('xattrs by tool')

/**
 * nodeFromStat without waiting: every system call is synchronous (a few microseconds each on a
 * warm cache, far less than a round trip through the thread pool), for the backup walk's
 * directory scans. Answers XATTRS_BY_TOOL where nodeFromStat would run a program.
 *
 * @throws the fs error when a symlink cannot be read
 */
export function nodeFromStatSync(
  name: Buffer,
  path: string | Buffer,
  st: BigIntStats,
  opts: NodeFromStatOptions,
): Node | null | typeof XATTRS_BY_TOOL {
  const stMode = Number(st.mode)
  const type = nodeTypeOf(stMode)
  if (type === undefined || type === 'socket') return null

  const mtime = formatGoTime(st.mtimeNs)
  const uid = Number(st.uid)
  const gid = Number(st.gid)
  const node: Node = {
    name,
    type,
    mode: goFileMode(stMode),
    mtime,
    atime: opts.withAtime === true ? formatGoTime(st.atimeNs) : mtime,
    // Formatting costs microseconds (a local-zone lookup); files untouched since written share the text.
    ctime: st.ctimeNs === st.mtimeNs ? mtime : formatGoTime(st.ctimeNs),
    uid,
    gid,
    inode: st.ino,
    deviceId: st.dev,
    size: type === 'file' ? Number(st.size) : 0,
    links: type === 'dir' || type === 'fifo' ? 0 : Number(st.nlink),
    content: type === 'file' ? [] : null,
  }
  const user = opts.users.user(uid)
  if (user) node.user = user
  const group = opts.users.group(gid)
  if (group) node.group = group

  if (type === 'symlink') {
    const target = readlinkSync(path, { encoding: 'buffer' })
    if (target.length > 0) node.linktarget = goStringFromBytes(target)
    return node
  }
  if (type === 'dev' || type === 'chardev') node.device = st.rdev
  if (opts.readXattrs && addXattrsSync(node, path, opts.previous, opts.warn) === XATTRS_BY_TOOL) return XATTRS_BY_TOOL
  return node
}

/**
 * Reads the extended attributes of a node built without them (readXattrs: false), or takes
 * those of `previous`, its node in the parent snapshot, when that is the same inode with the
 * same ctime and mtime: setting or removing one changes the ctime. Symlinks get none.
 */
export function addXattrsSync(node: Node, path: string | Buffer, previous: Node | undefined, warn?: (message: string) => void): void | typeof XATTRS_BY_TOOL {
  if (node.type === 'symlink') return
  const xattrs = previous !== undefined && previous.type === node.type && previous.inode === node.inode && previous.ctime === node.ctime && previous.mtime === node.mtime
    ? (previous.xattrs ?? [])
    : readXattrs(path, node.type, warn)
  if (xattrs === XATTRS_BY_TOOL) return XATTRS_BY_TOOL
  if (xattrs.length > 0) node.xattrs = xattrs
}

function nodeTypeOf(stMode: number): NodeType | undefined {
  switch (stMode & constants.S_IFMT) {
    case constants.S_IFREG:
      return 'file'
    case constants.S_IFDIR:
      return 'dir'
    case constants.S_IFLNK:
      return 'symlink'
    case constants.S_IFBLK:
      return 'dev'
    case constants.S_IFCHR:
      return 'chardev'
    case constants.S_IFIFO:
      return 'fifo'
    case constants.S_IFSOCK:
      return 'socket'
    default:
      return undefined
  }
}


// The xattr binding takes UTF-8 strings and never follows a final symlink, like restic's
// LList/LGet. Paths it cannot spell are reached through a /proc/self/fd directory handle.
// Synchronous calls: on a warm cache they take a few microseconds, far less than a round trip
// through the thread pool.
function readXattrs(
  path: string | Buffer,
  type: NodeType,
  warn: ((message: string) => void) | undefined,
): ExtendedAttribute[] | typeof XATTRS_BY_TOOL {
  const shown = String(path)
  let target: XattrTargetSync | undefined
  try {
    target = openXattrTargetSync(path, type === 'dir')
    if (target === undefined) return XATTRS_BY_TOOL
    const names = xattr().listAttributesSync(target.path)
    const values = names.map((n) => xattr().getAttributeSync(target!.path, n))
    const xattrs: ExtendedAttribute[] = []
    for (let i = 0; i < names.length; i++) {
      const value = values[i]
      if (value !== null) xattrs.push({ name: names[i], value })
      // The binding turns every getxattr error into null, so the cause is unknown.
      else warn?.(`Cannot read extended attribute "${names[i]}" of "${shown}": permission denied or removed`)
    }
    return xattrs
  } catch (err) {
    // An attribute whose name is not UTF-8 fails the whole listing: getfattr reads the others.
    if (/^Invalid attribute/.test(messageOf(err)) && (type === 'file' || type === 'fifo' || type === 'dir')) return XATTRS_BY_TOOL
    const errno = xattrErrno(err)
    if (errno !== osConstants.errno.ENOTSUP && errno !== osConstants.errno.ENODATA) {
      warn?.(`Cannot read extended attributes of "${shown}": ${messageOf(err)}`)
    }
    return []
  } finally {
    if (target?.fd !== undefined) closeSync(target.fd)
  }
}

/**
 * Reads the attributes of a file or fifo whose name is not UTF-8 with getfattr (from the attr
 * package) on an inherited descriptor. Device nodes are not opened: opening some devices has
 * side effects (a tape rewinds).
 */
async function readXattrsWithTool(
  path: Buffer,
  type: NodeType,
  warn: ((message: string) => void) | undefined,
): Promise<ExtendedAttribute[]> {
  if (type !== 'file' && type !== 'fifo' && type !== 'dir') {
    warn?.(`Cannot read extended attributes of "${String(path)}": its name is not valid UTF-8`)
    return []
  }
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  try {
    const dump = await runWithFd('getfattr', ['--absolute-names', '-d', '-m', '-', '-e', 'hex', '/proc/self/fd/3'], handle.fd)
    return parseGetfattrDump(dump, (name) => warn?.(`Cannot keep extended attribute ${JSON.stringify(name)} of "${String(path)}": its name is not valid UTF-8`))
  } finally {
    await handle.close()
  }
}

// getfattr -e hex prints `name=0x…` lines; names escape unusual bytes as \ooo.
function parseGetfattrDump(dump: Buffer, skipped: (name: string) => void): ExtendedAttribute[] {
  const xattrs: ExtendedAttribute[] = []
  for (const line of dump.toString('latin1').split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const eq = line.indexOf('=')
    const quoted = eq < 0 ? line : line.slice(0, eq)
    const hex = eq < 0 ? '' : line.slice(eq + 1).replace(/^0x/, '')
    const raw = quoted.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
    const bytes = Buffer.from(raw, 'latin1')
    const name = bytes.toString('utf8')
    // A name that is not UTF-8 cannot be kept as it is: it is left out, and the others kept.
    if (!Buffer.from(name, 'utf8').equals(bytes)) {
      skipped(name)
      continue
    }
    xattrs.push({ name, value: Buffer.from(hex, 'hex') })
  }
  return xattrs
}

function runWithFd(command: string, args: string[], fd: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe', fd] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout!.on('data', (b: Buffer) => out.push(b))
    child.stderr!.on('data', (b: Buffer) => err.push(b))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out))
      else reject(new Error(`${command} failed: ${Buffer.concat(err).toString('utf8').trim() || `exit code ${code}`}`))
    })
  })
}

// The binding reports failures as "… (os error N)" without an errno code.
function xattrErrno(err: unknown): number | undefined {
  const m = /\(os error (\d+)\)/.exec(messageOf(err))
  return m ? Number(m[1]) : undefined
}
