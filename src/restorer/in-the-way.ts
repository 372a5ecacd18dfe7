import { lstatSync, rmdirSync, rmSync, unlinkSync } from 'node:fs'
import { AppError, errnoCode } from '../base/index.js'

/**
 * Removes what stands where a restore must create something else: a file, a symlink (never
 * followed), a special file or an empty folder. A folder with content is never deleted: that
 * is the user's data, so the restore of that one item fails with a clear error instead (restic
 * deletes it only when asked to with --delete, and so does cairn: `removeFolders`). Nothing
 * there is fine.
 */
export function clearTheWay(path: Buffer, removeFolders = false): void {
  let isDir: boolean
  try {
    isDir = lstatSync(path).isDirectory()
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return
    throw err
  }
  if (!isDir) return unlinkSync(path)
  // Recursive removal never follows a symlink: one inside is removed as a link.
  if (removeFolders) return rmSync(path, { recursive: true, force: true })
  try {
    rmdirSync(path)
  } catch (err) {
    const code = errnoCode(err)
    if (code === 'ENOTEMPTY' || code === 'EEXIST') throw folderInTheWay(path)
    throw err
  }
}

export function folderInTheWay(path: Buffer): AppError {
  return new AppError('IO', `Cannot restore "${path.toString('utf8')}": a folder with content is in the way, and restore never deletes a folder's content`, {
    hint: 'Move that folder away, restore into an empty --target, or restore with --delete (which removes it)',
  })
}
