import { AppError, errnoCode } from '../../base/index.js'

/** What the backend was doing, for the message: `Cannot write "/repo/data/ab/ab12…": …`. */
export type IoAction = 'create' | 'write' | 'read' | 'list' | 'remove'

const REASONS: Record<string, { reason: string; hint: string }> = {
  ENOSPC: {
    reason: 'no space left on device',
    hint: 'Free up space on the disk that holds the repository, then run the command again',
  },
  EDQUOT: {
    reason: 'disk quota exceeded',
    hint: 'Free up space or raise the quota for the disk that holds the repository, then run the command again',
  },
  EACCES: {
    reason: 'permission denied',
    hint: 'Check that the user running cairn may read and write the repository directory and everything below it',
  },
  EPERM: {
    reason: 'operation not permitted',
    hint: 'Check that the user running cairn may read and write the repository directory and everything below it',
  },
  EROFS: {
    reason: 'read-only file system',
    hint: 'The repository is on a read-only file system: commands that only read it (snapshots, ls, restore, check, dump, find, diff, stats) work with --no-lock; mount it read-write to change it',
  },
  ENOENT: {
    reason: 'no such file or directory',
    hint: 'Check the repository path, or run "init" to create a repository there',
  },
  EEXIST: {
    reason: 'a file is in the way, not a folder',
    hint: 'Give the path of a folder, or of one that can be made, for the repository',
  },
  ENOTDIR: {
    reason: 'a part of the path is not a directory',
    hint: 'Check the repository path: it must be a directory made by "init"',
  },
  EMFILE: {
    reason: 'too many open files',
    hint: 'Raise the open-file limit (ulimit -n), or lower the number of connections',
  },
  ENFILE: {
    reason: 'too many open files in the system',
    hint: 'Raise the system open-file limit, or lower the number of connections',
  },
  EIO: {
    reason: 'input/output error',
    hint: 'The disk or file system that holds the repository reports a fault; check it (dmesg, fsck)',
  },
}

/**
 * Turns a Node file system error into AppError('IO') naming the path the user knows (the final
 * file name, never the temp name) and what to do about it.
 */
export function ioError(action: IoAction, path: string, err: unknown): AppError {
  const code = errnoCode(err)
  const known = code === undefined ? undefined : REASONS[code]
  const reason = known ? `${known.reason} (${code})` : err instanceof Error ? err.message : String(err)
  return new AppError('IO', `Cannot ${action} "${path}": ${reason}`, {
    hint: known?.hint ?? 'Check the disk and the file system that hold the repository',
    cause: err,
  })
}
