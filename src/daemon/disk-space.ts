/**
 * Free space and repository size of local destinations, for the low-space warning and the
 * Prometheus metrics. Both are best effort: undefined when the path cannot be read.
 */
import { lstat, readdir, statfs } from 'node:fs/promises'
import { join } from 'node:path'

/** Bytes available to an unprivileged user on the file system holding `path`. */
export async function freeSpace(path: string): Promise<number | undefined> {
  try {
    const s = await statfs(path)
    return Number(s.bavail) * Number(s.bsize)
  } catch {
    return undefined
  }
}

/** The total size of the files below `dir` (a local repository), walking it without following links. */
export async function directorySize(dir: string): Promise<number | undefined> {
  try {
    let total = 0
    const stack = [dir]
    while (stack.length > 0) {
      const d = stack.pop() as string
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name)
        if (e.isDirectory()) stack.push(p)
        else if (e.isFile()) total += (await lstat(p)).size
      }
    }
    return total
  } catch {
    return undefined
  }
}
