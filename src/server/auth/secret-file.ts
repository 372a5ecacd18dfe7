import { randomBytes } from 'node:crypto'
import { open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { AppError, errnoCode } from '../../base/index.js'

/**
 * Replaces a credentials file atomically with mode 0600: a temp file in the same directory,
 * written and fsynced, then renamed over the old one, so the server never reads half a file.
 */
export async function writeSecretFile(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`)
  try {
    const fd = await open(tmp, 'wx', 0o600)
    try {
      await fd.writeFile(text, 'utf8')
      await fd.chmod(0o600)
      await fd.sync()
    } finally {
      await fd.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw new AppError('IO', `Cannot write "${path}": ${errnoCode(err) ?? (err instanceof Error ? err.message : String(err))}`, {
      hint: 'Check that the directory exists and that you may write to it',
      cause: err,
    })
  }
}

/** The file's text, or undefined when it does not exist. */
export async function readOptionalFile(path: string): Promise<string | undefined> {
  try {
    const fd = await open(path, 'r')
    try {
      return await fd.readFile('utf8')
    } finally {
      await fd.close()
    }
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined
    throw new AppError('IO', `Cannot read "${path}": ${errnoCode(err) ?? (err instanceof Error ? err.message : String(err))}`, {
      hint: 'Check the path and its permissions',
      cause: err,
    })
  }
}
