import { constants, lstatSync, type BigIntStats } from 'node:fs'

/** The parts of a file's `lstat` that move when its content does (or when it is replaced). */
export type ContentMark = Pick<BigIntStats, 'size' | 'mtimeNs' | 'ctimeNs' | 'ino' | 'dev'>

/** What one `lstat` after reading a file says about the read. */
export type AfterRead =
  /** Nothing moved: the bytes read are the file as `before` describes it. */
  | { kind: 'same' }
  /** The file changed between `before` and the end of the read; `st` is its state now. */
  | { kind: 'changed'; st: BigIntStats }
  /** The path cannot be stat'ed any more (removed or renamed away after it was read). */
  | { kind: 'gone'; error: unknown }

const SAME: AfterRead = Object.freeze({ kind: 'same' })

/**
 * Checks whether a file changed while it was read: the read is consistent when the size, mtime,
 * ctime, inode and device still equal `before` (the stat the read started from). Timestamps are
 * compared in nanoseconds; a write within the file system's timestamp granularity that keeps the
 * size cannot be seen, as with GNU tar's and borg's checks.
 *
 * The number of bytes read is not compared with `before.size`: a regular file that grew or shrank
 * shows it in its stat, and one whose stat does not tell its size (/proc/version says 0 bytes and
 * holds 124, a /sys file says 4096) is read whole and is consistent when nothing in its stat
 * moved; the caller records the bytes read as its size, as restic does.
 *
 * `readEnd`, when the reader took it, is the state of the file read (contentMarkText of an
 * fstat of its descriptor as the read ended): matching `before`, it settles the check.
 * Otherwise one synchronous `lstat` of the path after the read does (a few microseconds on a
 * warm cache, cheaper than a round trip through the thread pool), and gives the state to read
 * again from. Never throws: a failing `lstat` gives `gone`.
 */
export function checkAfterRead(path: string | Buffer, before: ContentMark, readEnd?: string): AfterRead {
  if (readEnd !== undefined && contentMarkText(before) === readEnd) return SAME
  let st: BigIntStats
  try {
    st = lstatSync(path, { bigint: true })
  } catch (error) {
    return { kind: 'gone', error }
  }
  return sameContentMark(before, st) ? SAME : { kind: 'changed', st }
}

/**
 * A ContentMark as text, for a worker to send its fstat in: cloning five BigInts between
 * threads costs about 1 µs, their text a tenth of that.
 */
export function contentMarkText(m: ContentMark): string {
  return `${m.size}:${m.mtimeNs}:${m.ctimeNs}:${m.ino}:${m.dev}`
}

/** True when two stats agree on size, mtime, ctime, inode and device. */
export function sameContentMark(a: ContentMark, b: ContentMark): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino && a.dev === b.dev
}

/**
 * A file is opened as the file its lstat saw, or not at all: never through a symlink put in its
 * place meanwhile (root would store, say, /etc/shadow under a user's file name), and never
 * blocking on a fifo put there (O_NONBLOCK changes nothing for a regular file). The check after
 * reading then reports the change.
 */
export const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK
