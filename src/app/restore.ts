import { resolve as resolvePath } from 'node:path'
import { AppError, type Id } from '../base/index.js'
import { checkPatterns, ExcludeMatcher } from '../archiver/index.js'
import type { Repository } from '../repository/index.js'
import type { OverwritePolicy, RestoreProgress, RestoreSummary } from '../restorer/index.js'

export type { OverwritePolicy }
import { findSnapshot, type SnapshotEntry, type SnapshotFilter } from '../snapshots/index.js'
import { restorer } from './lazy-layers.js'
import { cleanSnapshotPath, resolveTreePath, splitSnapshotPath, subfolderTree } from './tree-path.js'

export interface RestoreRequest {
  /** "latest", an ID or prefix, optionally with ":/sub/folder". */
  snapshot: string
  target: string
  include?: string[]
  exclude?: string[]
  iinclude?: string[]
  iexclude?: string[]
  filter?: SnapshotFilter
  verify?: boolean
  /** What becomes of files that exist at the target already (default "always"). */
  overwrite?: OverwritePolicy
  /** Remove what the target holds and the snapshot does not. */
  delete?: boolean
  dryRun?: boolean
  signal?: AbortSignal
  progress?: RestoreProgress
}

export interface RestoreResult {
  snapshot: SnapshotEntry
  summary: RestoreSummary
}

export async function runRestore(repo: Repository, req: RestoreRequest): Promise<RestoreResult> {
  if (!req.target) throw new AppError('INVALID_ARGUMENT', 'No restore target given', { hint: 'Use --target DIR' })
  const { OVERWRITE_POLICIES, restore } = await restorer()
  if (req.overwrite !== undefined && !OVERWRITE_POLICIES.includes(req.overwrite)) {
    throw new AppError('INVALID_ARGUMENT', `Unknown overwrite policy "${String(req.overwrite)}"`, { hint: `Use one of: ${OVERWRITE_POLICIES.join(', ')}` })
  }
  checkPatterns('--exclude', req.exclude)
  checkPatterns('--iexclude', req.iexclude)
  checkPatterns('--include', req.include)
  checkPatterns('--iinclude', req.iinclude)
  const hasFilter = [req.include, req.iinclude, req.exclude, req.iexclude].some((l) => l !== undefined && l.length > 0)
  if (req.delete && resolvePath(req.target) === '/' && !hasFilter) {
    // restic 0.17 refuses it too: everything on the system the snapshot lacks would go.
    throw new AppError('INVALID_ARGUMENT', 'Refusing "--delete" with "--target /" and no filter: it would remove everything on this machine that the snapshot does not hold', {
      hint: 'Name what may be removed with --include or --exclude, or restore into another folder',
    })
  }
  if (req.dryRun && req.verify) {
    throw new AppError('INVALID_ARGUMENT', '"--dry-run" and "--verify" cannot be used together: a dry run writes nothing to verify', { hint: 'Drop one of them' })
  }
  const { snapshot: spec, path } = splitSnapshotPath(req.snapshot)
  const entry = await findSnapshot(repo, spec, req.filter)
  await repo.loadIndex()
  const tree = await subfolderTree(repo, entry, path, 'Use "cairn dump" for single files')
  const sub = path === undefined ? '/' : cleanSnapshotPath(path)
  const basePath = sub === '/' ? '' : sub
  const excl = new ExcludeMatcher({ exclude: req.exclude, iexclude: req.iexclude })
  const incl = new ExcludeMatcher({ exclude: req.include, iexclude: req.iinclude })
  const hasInclude = (req.include?.length ?? 0) + (req.iinclude?.length ?? 0) > 0
  const summary = await restore(repo, {
    tree,
    basePath,
    target: req.target,
    verify: req.verify,
    overwrite: req.overwrite,
    delete: req.delete,
    ...(req.delete ? { deleteWithin: await backedUpFolders(repo, entry.snapshot.tree, entry.snapshot.paths) } : {}),
    dryRun: req.dryRun,
    signal: req.signal,
    progress: req.progress,
    filter: (path, node, inIncluded) => {
      // SNAPSHOT:/sub restores the sub-folder as the root: patterns name paths inside it, as
      // restic's (0.16 and later) do.
      const p = basePath === '' ? path : path.slice(basePath.length) || '/'
      if (excl.excludedByPattern(p)) return 'exclude'
      if (!hasInclude || inIncluded) return 'include'
      // A path is included when it or one of its parents matches an include pattern.
      const parts = p.split('/')
      for (let i = parts.length; i > 1; i--) if (incl.excludedByPattern(parts.slice(0, i).join('/'))) return 'include'
      // A folder no include pattern can reach into is not read at all, as restic skips it.
      return node.type === 'dir' && incl.mayMatchBelow(p) ? 'descend' : 'exclude'
    },
  })
  return { snapshot: entry, summary }
}

/**
 * Where each backed-up path is in the snapshot's tree. An absolute path is there as it is
 * ("/home/me"), one given relative as what followed (".../fr/home/me" of "fr/home/me",
 * ".../me" of "../me"), and "." as the root itself: the longest end of the path that the tree
 * holds as a folder, else the root. The folders above only lead there.
 */
async function backedUpFolders(repo: Repository, root: Id, paths: string[]): Promise<string[]> {
  const out: string[] = []
  for (const p of paths) {
    const parts = p.split('/').filter((s) => s !== '')
    for (let k = 0; k <= parts.length; k++) {
      const candidate = '/' + parts.slice(k).join('/')
      if (candidate === '/') {
        out.push(candidate)
        break
      }
      const found = await resolveTreePath(repo, root, candidate).catch(() => undefined)
      if (found?.node === undefined) continue
      // A file backed up alone: nothing beside it is the snapshot's to remove.
      if (found.node.type === 'dir') out.push(candidate)
      break
    }
  }
  return out
}
