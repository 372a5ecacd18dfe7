import { posix } from 'node:path'
import { isId, settle, type AppError, type Settled } from '../../base/index.js'
import type { FileInfo, FileType } from '../backend.js'
import { FX, kindOf, type Attrs } from './sftp-packets.js'
import { isStatus } from './sftp-errors.js'
import type { DirEntry, SftpSession } from './sftp-session.js'

/** Subdirectories of data/ read ahead while the consumer works through the current one. */
const SUBDIRS_AHEAD = 8
const DATA_SUBDIR = /^[0-9a-f]{2}$/

/**
 * Lists the files of one type under a repository in restic's layout over SFTP. READDIR
 * returns sizes with the names, so no file is stat'ed unless it is a symlink. For `data` it
 * walks the two-hex subdirectories (several at once) and yields only names that start with
 * their directory's name. A missing directory lists as empty. `fail` turns an SFTP error into
 * the AppError to throw, naming the directory.
 */
export async function* listSftp(
  s: SftpSession,
  root: string,
  type: FileType,
  fail: (path: string, err: unknown) => AppError,
): AsyncGenerator<FileInfo> {
  const read = async (dir: string): Promise<DirEntry[]> => {
    try {
      return await s.readdirAll(dir)
    } catch (err) {
      if (isStatus(err, FX.NO_SUCH_FILE)) return []
      throw fail(dir, err)
    }
  }
  const files = async function* (dir: string, entries: DirEntry[], prefix: string): AsyncGenerator<FileInfo> {
    for (const e of entries) {
      if (!isId(e.name) || !e.name.startsWith(prefix)) continue
      const info = await fileInfo(s, dir, e, fail)
      if (info !== undefined) yield info
    }
  }
  if (type !== 'data') {
    const dir = posix.join(root, type)
    yield* files(dir, await read(dir), '')
    return
  }
  const dataDir = posix.join(root, 'data')
  const subdirs = (await read(dataDir)).filter((e) => DATA_SUBDIR.test(e.name) && mayBeDir(e.attrs)).map((e) => e.name)
  const ahead: Array<Promise<Settled<DirEntry[]>>> = []
  let next = 0
  const fill = () => {
    while (ahead.length < SUBDIRS_AHEAD && next < subdirs.length) ahead.push(settle(read(posix.join(dataDir, subdirs[next++]))))
  }
  try {
    for (const sub of subdirs) {
      fill()
      const r = await ahead.shift()!
      if (!r.ok) throw r.error
      yield* files(posix.join(dataDir, sub), r.value, sub)
    }
  } finally {
    ahead.length = 0
  }
}

function mayBeDir(a: Attrs): boolean {
  const k = kindOf(a)
  return k === 'dir' || k === 'symlink' || k === 'unknown'
}

/** Size of a regular file; symlinks (and entries without a type) are followed with STAT. */
async function fileInfo(
  s: SftpSession,
  dir: string,
  e: DirEntry,
  fail: (path: string, err: unknown) => AppError,
): Promise<FileInfo | undefined> {
  let attrs = e.attrs
  let kind = kindOf(attrs)
  if (kind === 'symlink' || kind === 'unknown' || attrs.size === undefined) {
    const path = posix.join(dir, e.name)
    try {
      attrs = await s.stat(path)
    } catch (err) {
      if (isStatus(err, FX.NO_SUCH_FILE)) return undefined // removed since, or a dangling link
      throw fail(path, err)
    }
    kind = kindOf(attrs)
  }
  if (kind !== 'file' && kind !== 'unknown') return undefined
  return { name: e.name, size: attrs.size ?? 0 }
}
