import { AppError } from '../base/index.js'
import { checkPatterns, ExcludeMatcher } from '../archiver/index.js'
import type { RewriteSnapshotsResult } from '../maintenance/index.js'
import type { Repository } from '../repository/index.js'
import { loadSnapshots, type SnapshotEntry, type SnapshotFilter } from '../snapshots/index.js'
import { maintenance } from './lazy-layers.js'
import { readListFiles } from './list-files.js'
import { selectSnapshots } from './snapshot-selection.js'

export interface RewriteRequest {
  /** Snapshot IDs, prefixes or "latest"; when empty, every snapshot matching `filter` (all by default, as restic). */
  snapshots?: string[]
  filter?: SnapshotFilter
  exclude?: string[]
  iexclude?: string[]
  /** Files of exclude patterns, one a line (`#` comments and blank lines skipped). */
  excludeFile?: string[]
  iexcludeFile?: string[]
  forget?: boolean
  dryRun?: boolean
  signal?: AbortSignal
  /** Told about each snapshot as its turn comes. */
  onSnapshot?: (entry: SnapshotEntry) => void
  onWarning?: (message: string) => void
}

/**
 * restic's `rewrite`: new snapshots without the paths the exclude patterns pick (the patterns of
 * backup, matched against paths inside the snapshot). Refuses to run without a pattern.
 */
export async function runRewrite(repo: Repository, req: RewriteRequest): Promise<RewriteSnapshotsResult> {
  const exclude = [...(req.exclude ?? []), ...(await readListFiles(req.excludeFile, 'exclude file', 'patterns'))]
  const iexclude = [...(req.iexclude ?? []), ...(await readListFiles(req.iexcludeFile, 'iexclude file', 'patterns'))]
  if (exclude.length === 0 && iexclude.length === 0) {
    throw new AppError('INVALID_ARGUMENT', 'Nothing to do: no exclude patterns given', { hint: 'Give what to leave out with --exclude, --iexclude or --exclude-file' })
  }
  checkPatterns('--exclude', exclude)
  checkPatterns('--iexclude', iexclude)
  const matcher = new ExcludeMatcher({ exclude, iexclude })
  const entries = await selectSnapshots(repo, { ids: req.snapshots, filter: req.filter }, req.onWarning)
  await repo.loadIndex()
  const { rewriteSnapshots } = await maintenance()
  return rewriteSnapshots(repo, entries, {
    excluded: (path) => matcher.excludedByPattern(path),
    existing: await loadSnapshots(repo, () => {}),
    forget: req.forget,
    dryRun: req.dryRun,
    signal: req.signal,
    progress: { snapshot: (entry) => req.onSnapshot?.(entry) },
  })
}
