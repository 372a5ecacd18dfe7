import { dirname, resolve } from 'node:path'
import { errnoCode } from './errors.js'

/** The calls makeDirectories() makes, as node:fs/promises offers them (a test may wrap them). */
export interface DirectoryFs {
  stat(path: string): Promise<{ isDirectory(): boolean }>
  mkdir(path: string, options: { mode?: number }): Promise<unknown>
}

/**
 * Makes `path` and the folders on its way that are missing, as `mkdir -p` does. Node's own
 * recursive mkdir spins forever where a folder cannot be made although its parent exists
 * (inside /proc or /sys); here that folder's error is thrown. No error when `path` exists.
 *
 * @example
 * await makeDirectories('/srv/restore/2024', 0o700, fsPromises)
 */
export async function makeDirectories(path: string, mode: number | undefined, fs: DirectoryFs): Promise<void> {
  const missing: string[] = []
  const target = resolve(path)
  for (let p = target; ; p = dirname(p)) {
    try {
      if ((await fs.stat(p)).isDirectory()) break
      // What mkdir -p meets: the path itself is a file, or a file is on its way.
      throw Object.assign(new Error(`${p} is not a folder`), { code: p === target ? 'EEXIST' : 'ENOTDIR' })
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err
      missing.push(p)
      if (dirname(p) === p) break
    }
  }
  for (const dir of missing.reverse()) {
    try {
      await fs.mkdir(dir, { mode })
    } catch (err) {
      // Made meanwhile by someone else: fine.
      if (errnoCode(err) !== 'EEXIST') throw err
    }
  }
}
