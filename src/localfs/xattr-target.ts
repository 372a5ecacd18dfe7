import { isUtf8 } from 'node:buffer'
import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'

/** A string path the xattr binding can use for a file, and the handle that keeps it valid. */
export interface XattrTarget {
  path: string
  /** Close it when done. */
  handle?: FileHandle
}

/**
 * Names `path` for the xattr binding, which takes UTF-8 strings and acts on a final symlink
 * itself: a path it cannot spell is reached through a /proc/self/fd directory handle. Returns
 * undefined when only an open file can name it (a non-directory whose own name is not UTF-8).
 */
export async function openXattrTarget(path: string | Buffer, isDir: boolean): Promise<XattrTarget | undefined> {
  if (typeof path === 'string') return { path }
  if (isUtf8(path)) return { path: path.toString('utf8') }
  const slash = path.lastIndexOf(0x2f)
  const base = path.subarray(slash + 1)
  if (base.length > 0 && isUtf8(base)) {
    const dir = slash < 0 ? '.' : slash === 0 ? '/' : path.subarray(0, slash)
    const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY)
    return { path: `/proc/self/fd/${handle.fd}/${base.toString('utf8')}`, handle }
  }
  if (isDir) {
    const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW)
    // The trailing "." makes the kernel resolve the fd link instead of acting on the link itself.
    return { path: `/proc/self/fd/${handle.fd}/.`, handle }
  }
  return undefined
}
