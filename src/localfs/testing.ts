import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setAttribute } from '@napi-rs/xattr'

/** Whether the file system holding `dir` accepts `user.*` extended attributes (tests skip otherwise). */
export async function supportsUserXattrs(dir: string): Promise<boolean> {
  const probe = join(dir, '.xattr-probe')
  await writeFile(probe, '')
  try {
    await setAttribute(probe, 'user.probe', Buffer.from('1'))
    return true
  } catch {
    return false
  }
}
