/**
 * Compares two directory trees in everything a restore must reproduce: entry types, file
 * contents, permission and special mode bits, owners, mtimes (ns), symlink targets (raw bytes),
 * extended attributes, hard-link structure and fifos. Names are handled as raw bytes throughout,
 * so non-UTF-8 names compare exactly.
 */
import { createHash } from 'node:crypto'
import { constants, promises as fs } from 'node:fs'
import type { BigIntStats } from 'node:fs'
import { getXattrs } from './xattr.js'

export interface CompareOptions {
  /** Largest accepted mtime difference; Node can set times only as doubles. Default 1000. */
  mtimeToleranceNs?: number | bigint
  /** Compare mtimes at all (default true). */
  mtimes?: boolean
  /** Compare directory mtimes (default true; restic restores them). */
  dirMtimes?: boolean
  /** Compare symlink mtimes (default true). */
  symlinkMtimes?: boolean
  /** Compare uid/gid (default true). */
  owners?: boolean
  /** Compare extended attributes (default true). */
  xattrs?: boolean
  /** Attribute names to leave out; default skips `security.selinux` (set by the host, not by us). */
  ignoreXattr?: (name: string) => boolean
  /** Compare which paths share an inode (default true). */
  hardLinks?: boolean
  /** Compare the metadata of the two roots themselves (default true). */
  root?: boolean
  /** Leave out an entry (and, for a directory, everything below it). `rel` is '' for the root. */
  ignore?: (rel: Buffer) => boolean
}

type EntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'chardev' | 'blockdev'

interface Entry {
  rel: Buffer
  type: EntryType
  st: BigIntStats
  hash?: string
  target?: Buffer
  xattrs?: Map<string, Buffer>
  xattrError?: string
}

/** Shows a raw path readably: JSON-quoted if it is UTF-8, else with `\xHH` for every odd byte. */
export function showPath(rel: Buffer): string {
  if (rel.length === 0) return '.'
  try {
    return JSON.stringify(new TextDecoder('utf-8', { fatal: true }).decode(rel))
  } catch {
    let s = ''
    for (const b of rel) s += b >= 0x20 && b < 0x7f && b !== 0x5c && b !== 0x22 ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`
    return `"${s}"`
  }
}

function typeOf(st: BigIntStats): EntryType {
  if (st.isFile()) return 'file'
  if (st.isDirectory()) return 'dir'
  if (st.isSymbolicLink()) return 'symlink'
  if (st.isFIFO()) return 'fifo'
  if (st.isSocket()) return 'socket'
  if (st.isCharacterDevice()) return 'chardev'
  return 'blockdev'
}

const SLASH = Buffer.from('/')

async function listEntries(root: Buffer, ignore: (rel: Buffer) => boolean): Promise<Entry[]> {
  const out: Entry[] = []
  const rootLen = root.length + 1
  const walk = async (abs: Buffer, rel: Buffer) => {
    const st = await fs.lstat(abs, { bigint: true })
    const entry: Entry = { rel, type: typeOf(st), st }
    out.push(entry)
    if (entry.type !== 'dir') return
    const names = (await fs.readdir(abs, { encoding: 'buffer' })) as Buffer[]
    for (const name of names.sort(Buffer.compare)) {
      const childAbs = Buffer.concat([abs, SLASH, name])
      const childRel = childAbs.subarray(rootLen)
      if (!ignore(childRel)) await walk(childAbs, childRel)
    }
  }
  await walk(root, Buffer.alloc(0))
  return out
}

/** Reads content hash, link target and xattrs of one entry. */
async function fillDetails(root: Buffer, e: Entry, withXattrs: boolean, readBuf: Buffer): Promise<void> {
  const abs = e.rel.length === 0 ? root : Buffer.concat([root, SLASH, e.rel])
  if (e.type === 'symlink') {
    e.target = (await fs.readlink(abs, { encoding: 'buffer' })) as Buffer
    return
  }
  if (withXattrs && (e.type === 'file' || e.type === 'dir' || e.type === 'fifo')) {
    try {
      e.xattrs = await getXattrs(abs)
    } catch (err) {
      e.xattrError = String(err)
    }
  }
  if (e.type !== 'file') return
  const fh = await fs.open(abs, constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    const hash = createHash('sha256')
    for (;;) {
      const { bytesRead } = await fh.read(readBuf, 0, readBuf.length, null)
      if (bytesRead === 0) break
      hash.update(readBuf.subarray(0, bytesRead))
    }
    e.hash = hash.digest('hex')
  } finally {
    await fh.close()
  }
}

async function scan(root: string, opts: CompareOptions): Promise<Map<string, Entry>> {
  const rootBuf = Buffer.from(root)
  const entries = await listEntries(rootBuf, opts.ignore ?? (() => false))
  const withXattrs = opts.xattrs !== false
  let next = 0
  const worker = async () => {
    const buf = Buffer.allocUnsafe(1 << 20)
    while (next < entries.length) await fillDetails(rootBuf, entries[next++], withXattrs, buf)
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  const map = new Map<string, Entry>()
  for (const e of entries) map.set(e.rel.toString('latin1'), e)
  return map
}

/** For each non-directory path, the sorted list of paths in the same tree sharing its inode. */
function linkGroups(tree: Map<string, Entry>): Map<string, string> {
  const byInode = new Map<string, string[]>()
  for (const [key, e] of tree) {
    if (e.type === 'dir') continue
    const ino = `${e.st.dev}:${e.st.ino}`
    const list = byInode.get(ino)
    if (list) list.push(key)
    else byInode.set(ino, [key])
  }
  const groups = new Map<string, string>()
  for (const list of byInode.values()) {
    const shown = list
      .map((k) => showPath(Buffer.from(k, 'latin1')))
      .sort()
      .join(', ')
    for (const k of list) groups.set(k, shown)
  }
  return groups
}

const octal = (n: bigint) => n.toString(8)

function showBytes(b: Buffer): string {
  return /^[\x20-\x7e]*$/.test(b.toString('latin1')) ? JSON.stringify(b.toString('latin1')) : `hex:${b.toString('hex')}`
}

function compareEntry(a: Entry, b: Entry, opts: CompareOptions, tolerance: bigint): string[] {
  const where = showPath(a.rel)
  if (a.type !== b.type) return [`${where}: type ${a.type} != ${b.type}`]
  const diffs: string[] = []
  const isRoot = a.rel.length === 0
  if (isRoot && opts.root === false) return diffs
  if (a.type !== 'symlink' && a.st.mode !== b.st.mode) diffs.push(`${where}: mode ${octal(a.st.mode)} != ${octal(b.st.mode)}`)
  if (opts.owners !== false && (a.st.uid !== b.st.uid || a.st.gid !== b.st.gid)) {
    diffs.push(`${where}: owner ${a.st.uid}:${a.st.gid} != ${b.st.uid}:${b.st.gid}`)
  }
  const checkMtime =
    opts.mtimes !== false &&
    !(a.type === 'dir' && opts.dirMtimes === false) &&
    !(a.type === 'symlink' && opts.symlinkMtimes === false)
  if (checkMtime) {
    const delta = a.st.mtimeNs - b.st.mtimeNs
    if (delta > tolerance || -delta > tolerance) diffs.push(`${where}: mtime ${a.st.mtimeNs}ns != ${b.st.mtimeNs}ns`)
  }
  if (a.type === 'file') {
    if (a.st.size !== b.st.size) diffs.push(`${where}: size ${a.st.size} != ${b.st.size}`)
    else if (a.hash !== b.hash) diffs.push(`${where}: content differs`)
  }
  if (a.type === 'symlink' && !a.target!.equals(b.target!)) {
    diffs.push(`${where}: link target ${showBytes(a.target!)} != ${showBytes(b.target!)}`)
  }
  if ((a.type === 'chardev' || a.type === 'blockdev') && a.st.rdev !== b.st.rdev) {
    diffs.push(`${where}: device ${a.st.rdev} != ${b.st.rdev}`)
  }
  if (opts.xattrs !== false && (a.xattrs || b.xattrs || a.xattrError || b.xattrError)) {
    diffs.push(...compareXattrs(where, a, b, opts.ignoreXattr ?? ((n) => n === 'security.selinux')))
  }
  return diffs
}

function compareXattrs(where: string, a: Entry, b: Entry, ignore: (name: string) => boolean): string[] {
  if (a.xattrError || b.xattrError) return [`${where}: cannot read xattrs: ${a.xattrError ?? b.xattrError}`]
  const diffs: string[] = []
  const am = a.xattrs ?? new Map<string, Buffer>()
  const bm = b.xattrs ?? new Map<string, Buffer>()
  for (const [name, value] of am) {
    if (ignore(name)) continue
    const other = bm.get(name)
    if (other === undefined) diffs.push(`${where}: xattr ${name} missing in second tree`)
    else if (!other.equals(value)) diffs.push(`${where}: xattr ${name} ${showBytes(value)} != ${showBytes(other)}`)
  }
  for (const name of bm.keys()) {
    if (!ignore(name) && !am.has(name)) diffs.push(`${where}: xattr ${name} only in second tree`)
  }
  return diffs
}

/**
 * Lists every difference between the trees at `a` and `b` (empty when they are identical),
 * one human-readable line each, paths relative to the roots.
 *
 * @example
 * assert.deepEqual(await compareTrees(source, join(target, source)), [])
 */
export async function compareTrees(a: string, b: string, opts: CompareOptions = {}): Promise<string[]> {
  const tolerance = BigInt(opts.mtimeToleranceNs ?? 1000)
  const [ta, tb] = await Promise.all([scan(a, opts), scan(b, opts)])
  const diffs: string[] = []
  for (const [key, ea] of ta) {
    const eb = tb.get(key)
    if (!eb) diffs.push(`${showPath(ea.rel)}: missing in second tree`)
    else diffs.push(...compareEntry(ea, eb, opts, tolerance))
  }
  for (const [key, eb] of tb) if (!ta.has(key)) diffs.push(`${showPath(eb.rel)}: only in second tree`)
  if (opts.hardLinks !== false) {
    const ga = linkGroups(ta)
    const gb = linkGroups(tb)
    for (const [key, group] of ga) {
      const other = gb.get(key)
      if (other !== undefined && other !== group) {
        diffs.push(`${showPath(Buffer.from(key, 'latin1'))}: hard links [${group}] != [${other}]`)
      }
    }
  }
  return diffs
}
