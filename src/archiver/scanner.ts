import { lstat, readdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import { createLimit } from '../base/index.js'
import type { ExcludeMatcher } from './exclude.js'

export interface ScanTotals {
  files: number
  dirs: number
  bytes: number
}

/**
 * Counts what a backup of `paths` will process, so progress can show a percentage and an ETA
 * (restic runs the same scan beside the backup). Only metadata is read; errors are ignored
 * here, the backup itself reports them. Stops early when `signal` fires.
 */
export async function scanTotals(
  paths: string[],
  excludes: ExcludeMatcher,
  onUpdate: (t: ScanTotals) => void,
  signal?: AbortSignal,
): Promise<ScanTotals> {
  const totals: ScanTotals = { files: 0, dirs: 0, bytes: 0 }
  const limit = createLimit(16)
  let last = 0
  const visit = async (path: string): Promise<void> => {
    if (signal?.aborted) return
    if (excludes.excludedByPattern(path)) return
    const st = await limit(() => lstat(path)).catch(() => undefined)
    if (!st) return
    if (st.isDirectory()) {
      totals.dirs++
      const names = await limit(() => readdir(path)).catch(() => [] as string[])
      await Promise.all(names.map((n) => visit(path === '/' ? `/${n}` : `${path}/${n}`)))
    } else if (st.isFile()) {
      if (excludes.excludedBySize(st.size)) return
      totals.files++
      totals.bytes += st.size
    }
    const now = Date.now()
    if (now - last > 200) {
      last = now
      onUpdate({ ...totals })
    }
  }
  await Promise.all(paths.map((p) => visit(resolve(p))))
  onUpdate({ ...totals })
  return totals
}
