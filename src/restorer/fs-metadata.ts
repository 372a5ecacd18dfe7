import { chmodSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, lstatSync, lutimesSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { AppError, errnoCode, lazyRequire, messageOf } from '../base/index.js'
import { runTool } from './special-files.js'
import { openXattrTarget, type XattrTarget } from '../localfs/index.js'
import type { ExtendedAttribute, Node } from '../snapshots/index.js'
// Their own modules, not the snapshots index: restore's workers load this file.
import { unixModeFromGo } from '../snapshots/file-mode.js'
import { parseGoTime } from '../snapshots/go-time.js'

const xattr = lazyRequire<typeof import('@napi-rs/xattr')>('@napi-rs/xattr')

export interface ApplyMetadataOptions {
  /** Set uid and gid (lchown); only root may give files away, so pass true when running as root. */
  owner: boolean
  /** Set the node's extended attributes. */
  xattrs: boolean
}

/**
 * Gives the restored entry at `path` the metadata recorded in `node`: owner, extended
 * attributes, mode (permissions plus setuid, setgid and sticky; never for symlinks, whose mode
 * Linux ignores), then access and modification times. Call it after the entry's content is
 * complete; for a directory, after everything inside it is restored, since adding entries
 * changes its mtime.
 *
 * The order matters: chown clears setuid and setgid bits and drops security.capability, so it
 * comes first; extended attributes are written while the file is still writable by its owner
 * (user.* attributes need write permission, which a read-only mode would take away); times come
 * last because every other step changes ctime and writing changes mtime.
 *
 * Times are set with microsecond resolution: Node's utimes takes seconds as a double and libuv
 * truncates to whole microseconds. The value passed is aimed at the middle of the recorded
 * microsecond so that double rounding (about 240 ns for current dates, growing with distance
 * from 1970) cannot move it into the next one; the result is the recorded time truncated to
 * the microsecond for dates until about 2240. restic restores nanoseconds.
 *
 * Resolves to warnings for steps that failed without making the entry unusable (an attribute
 * the file system refuses, a chown without permission). Rejects with an AppError (IO) when the
 * entry does not exist.
 *
 * @example
 * const warnings = await applyMetadata(target, node, { owner: process.getuid?.() === 0, xattrs: true })
 */
export async function applyMetadata(path: string | Buffer, node: Node, opts: ApplyMetadataOptions): Promise<string[]> {
  // The calls are synchronous on purpose: each takes microseconds on a local file system, while
  // a round trip through the thread pool costs several times that, per file, per call. Messages
  // are only made when a step fails: a restore calls this for every file.
  const warnings: string[] = []
  const set = byPath(path)
  if (opts.owner) setOwner(set, path, node, warnings)
  if (opts.xattrs && node.type !== 'symlink' && node.xattrs !== undefined && node.xattrs.length > 0) {
    await writeXattrs(path, node, warnings)
  }
  setModeAndTimes(set, path, node, warnings)
  return warnings
}

/** The metadata of a file that applyMetadataToFd() sets: all but extended attributes. */
export type BasicMetadata = Pick<Node, 'type' | 'uid' | 'gid' | 'mode' | 'atime' | 'mtime'>

/**
 * applyMetadata() for a regular file without extended attributes that is still open (`fd`),
 * through the descriptor: no path is looked up again. A restore's workers finish the files
 * they create this way. `path` names the file in messages; returns warnings, as applyMetadata()
 * does.
 */
export function applyMetadataToFd(fd: number, path: string | Buffer, node: BasicMetadata, owner: boolean): string[] {
  const warnings: string[] = []
  const set = onDescriptor(fd)
  if (owner) setOwner(set, path, node, warnings)
  setModeAndTimes(set, path, node, warnings)
  return warnings
}

/** The calls that set metadata: by path (never following a symlink), or on an open file. */
interface Setters {
  chown(uid: number, gid: number): void
  chmod(mode: number): void
  utimes(atime: number | string, mtime: number | string): void
}

const byPath = (path: string | Buffer): Setters => ({
  chown: (uid, gid) => lchownSync(path, uid, gid),
  // Linux has no lchmod: what became a symlink since (a crafted tree, or another process) is
  // refused, never followed.
  chmod: (mode) => {
    if (lstatSync(path).isSymbolicLink()) throw new AppError('IO', 'it is a symlink now, and a symlink is never followed')
    chmodSync(path, mode)
  },
  utimes: (atime, mtime) => lutimesSync(path, atime, mtime),
})

const onDescriptor = (fd: number): Setters => ({
  chown: (uid, gid) => fchownSync(fd, uid, gid),
  chmod: (mode) => fchmodSync(fd, mode),
  utimes: (atime, mtime) => futimesSync(fd, atime, mtime),
})

function setOwner(set: Setters, path: string | Buffer, node: BasicMetadata, warnings: string[]): void {
  try {
    set.chown(node.uid, node.gid)
  } catch (err) {
    stepFailed(`set owner ${node.uid}:${node.gid}`, path, err, warnings)
  }
}

/** Mode (never a symlink's, which Linux ignores), then times. */
function setModeAndTimes(set: Setters, path: string | Buffer, node: BasicMetadata, warnings: string[]): void {
  if (node.type !== 'symlink') {
    const mode = unixModeFromGo(node.mode).perm
    try {
      set.chmod(mode)
    } catch (err) {
      stepFailed(`set mode ${mode.toString(8).padStart(4, '0')}`, path, err, warnings)
    }
  }
  try {
    set.utimes(utimesArg(parseGoTime(node.atime)), utimesArg(parseGoTime(node.mtime)))
  } catch (err) {
    stepFailed('set times', path, err, warnings)
  }
}

/** A step of applyMetadata() failed: a warning, or an IO error when the entry does not exist. */
function stepFailed(what: string, path: string | Buffer, err: unknown, warnings: string[]): void {
  const code = errnoCode(err)
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    throw new AppError('IO', `Cannot ${what} of "${String(path)}": it does not exist`, { cause: err })
  }
  warnings.push(`Cannot ${what} of "${String(path)}": ${messageOf(err)}`)
}

/**
 * The seconds value for utimes that libuv turns into the microsecond holding `ns`: the middle
 * of that microsecond, so rounding to a double stays inside it and libuv's truncation (toward
 * zero, then normalised) lands on its start. Node replaces negative numbers with the current
 * time but takes numeric strings as they are, hence the string for dates before 1970.
 */
function utimesArg(ns: bigint): number | string {
  const us = floorDiv(ns, 1000n)
  const sec = floorDiv(us, 1_000_000n)
  const fraction = Number(us - sec * 1_000_000n) + (us >= 0n ? 0.5 : -0.5)
  const seconds = Number(sec) + fraction / 1e6
  return seconds >= 0 ? seconds : String(seconds)
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n && a < 0n ? q - 1n : q
}

async function writeXattrs(path: string | Buffer, node: Node, warnings: string[]): Promise<void> {
  const xattrs = node.xattrs as ExtendedAttribute[]
  const shown = String(path)
  let target: XattrTarget | undefined
  try {
    target = await openXattrTarget(path, node.type === 'dir')
    if (target === undefined) {
      await writeXattrsWithTool(path as Buffer, node, warnings)
      return
    }
    for (const { name, value } of xattrs) {
      try {
        await xattr().setAttribute(target.path, name, value)
      } catch (err) {
        warnings.push(`Cannot set extended attribute "${name}" of "${shown}": ${messageOf(err)}`)
      }
    }
  } catch (err) {
    warnings.push(`Cannot set extended attributes of "${shown}": ${messageOf(err)}`)
  } finally {
    await target?.handle?.close()
  }
}

// setfattr (attr package) on an inherited descriptor; device nodes are not opened because
// opening some devices has side effects.
async function writeXattrsWithTool(path: Buffer, node: Node, warnings: string[]): Promise<void> {
  const shown = String(path)
  if (node.type !== 'file' && node.type !== 'fifo') {
    warnings.push(`Cannot set extended attributes of "${shown}": its name is not valid UTF-8`)
    return
  }
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  try {
    for (const { name, value } of node.xattrs as ExtendedAttribute[]) {
      const args = ['-n', name, ...(value.length > 0 ? ['-v', `0x${value.toString('hex')}`] : []), '/proc/self/fd/3']
      try {
        await runTool('setfattr', args, handle.fd)
      } catch (err) {
        warnings.push(`Cannot set extended attribute "${name}" of "${shown}": ${messageOf(err)}`)
      }
    }
  } finally {
    await handle.close()
  }
}
