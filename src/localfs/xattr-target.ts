import { isUtf8 } from 'node:buffer'
import { constants, openSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'

/** A string path the xattr binding can use for a file, and the handle that keeps it valid. */
export interface XattrTarget {
  path: string
  /** Close it when done. */
  handle?: FileHandle
}

/** XattrTarget with a plain descriptor, for synchronous callers. */
export interface XattrTargetSync {
  path: string
  /** Close it (closeSync) when done. */
  fd?: number
}

/**
 * Names `path` for the xattr binding, which takes UTF-8 strings and acts on a final symlink
 * itself: a path it cannot spell is reached through a /proc/self/fd directory handle. Returns
 * undefined when only an open file can name it (a non-directory whose own name is not UTF-8).
 */
export async function openXattrTarget(path: string | Buffer, isDir: boolean): Promise<XattrTarget | undefined> {
  const plan = planTarget(path, isDir)
  if (plan === undefined || !('open' in plan)) return plan
  const handle = await open(plan.open, plan.flags)
  return { path: `/proc/self/fd/${handle.fd}/${plan.rest}`, handle }
}

/** openXattrTarget, synchronously. */
export function openXattrTargetSync(path: string | Buffer, isDir: boolean): XattrTargetSync | undefined {
  const plan = planTarget(path, isDir)
  if (plan === undefined || !('open' in plan)) return plan
  const fd = openSync(plan.open, plan.flags)
  return { path: `/proc/self/fd/${fd}/${plan.rest}`, fd }
}

/** The path as it is, or what to open and the rest of the path below the descriptor. */
function planTarget(path: string | Buffer, isDir: boolean): { path: string } | { open: string | Buffer; flags: number; rest: string } | undefined {
  if (typeof path === 'string') return { path }
  if (isUtf8(path)) return { path: path.toString('utf8') }
  const slash = path.lastIndexOf(0x2f)
  const base = path.subarray(slash + 1)
  if (base.length > 0 && isUtf8(base)) {
    const dir = slash < 0 ? '.' : slash === 0 ? '/' : path.subarray(0, slash)
    return { open: dir, flags: constants.O_RDONLY | constants.O_DIRECTORY, rest: base.toString('utf8') }
  }
  // The trailing "." makes the kernel resolve the fd link instead of acting on the link itself.
  if (isDir) return { open: path, flags: constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW, rest: '.' }
  return undefined
}
