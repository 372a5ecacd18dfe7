import { hostname as osHostname } from 'node:os'
import { lstatSync } from 'node:fs'
import { resolve } from 'node:path'
import { AppError } from '../base/index.js'
import { backup, backupStdin, checkPatterns, ExcludeMatcher, scanTotals, stdinPath, type BackupProgress, type BackupResult, type ScanTotals, type StdinBackupOptions } from '../archiver/index.js'
import { bytesFromGoString, findParentSnapshot, findSnapshot } from '../snapshots/index.js'
import type { Repository } from '../repository/index.js'
import { defaultRepository } from './default-repository.js'
import { globPaths, readListFiles } from './list-files.js'

/** A step of a backup run, as it begins (`scanned`: the count of what there is to back up is done). */
export type BackupStep =
  | { kind: 'load-index' }
  | { kind: 'scan' | 'backup'; paths: string[] }
  | { kind: 'scanned'; totals: ScanTotals; seconds: number }

export interface BackupRequest {
  paths: string[]
  /** Files listing paths, one a line (`#` comments and blank lines skipped, lines trimmed). */
  filesFrom?: string[]
  /** Files listing paths one a line, taken as they are (only empty lines skipped). */
  filesFromVerbatim?: string[]
  /** Files listing paths separated by NUL bytes (`find -print0`). */
  filesFromRaw?: string[]
  exclude?: string[]
  iexclude?: string[]
  excludeFile?: string[]
  /** Exclude files whose patterns ignore case. */
  iexcludeFile?: string[]
  excludeCaches?: boolean
  excludeIfPresent?: string[]
  excludeLargerThan?: number
  /** Per-directory ignore files in gitignore syntax (e.g. `.cairnignore`), honoured where found. */
  ignoreFiles?: string[]
  oneFileSystem?: boolean
  tags?: string[]
  host?: string
  parent?: string
  force?: boolean
  /** restic's --ignore-ctime and --ignore-inode: what does not count as a change of a file. */
  ignoreCtime?: boolean
  ignoreInode?: boolean
  /** The snapshot's time instead of now (restic's --time). */
  time?: Date
  /** Record access times as they are (restic's --with-atime). */
  withAtime?: boolean
  dryRun?: boolean
  signal?: AbortSignal
  progress?: BackupProgress
  /** Count files and bytes beside the backup, for a percentage and an ETA (costs extra stat calls). */
  onTotals?: (t: ScanTotals) => void
  /** The steps of the run as they begin, for restic's -v lines; `scanned` also counts (as onTotals). */
  onStep?: (step: BackupStep) => void
  /**
   * Back up standard input (or `input`) as one file at `filename` instead of paths (restic's
   * --stdin and --stdin-filename). Paths, --files-from and excludes do not go with it.
   */
  stdin?: Pick<StdinBackupOptions, 'filename' | 'input'>
}


/**
 * cairn's own files never go into a backup: a local repository (it may sit inside a backed-up
 * folder), the repository's cache (a copy of its metadata, rewritten by each run: backing up
 * the home folder would otherwise add the cache of the run before to every snapshot) and, for
 * the default repository, the file holding its password.
 */
function ownFiles(repo: Repository): string[] {
  const cache = repo.backend.cacheDir === undefined ? [] : [resolve(repo.backend.cacheDir)]
  if (!repo.backend.properties.local) return cache
  const own = [resolve(repo.location), ...cache]
  const def = defaultRepository()
  if (resolve(def.repository) === own[0]) own.push(resolve(def.passwordFile))
  return own
}

/** Runs one backup: resolves paths, excludes and the parent snapshot, then archives. */
export async function runBackup(repo: Repository, req: BackupRequest): Promise<BackupResult> {
  if (req.stdin !== undefined) return runStdinBackup(repo, req, req.stdin)
  // Lines of --files-from are patterns, as restic takes them; one that matches nothing is skipped.
  const listed: string[] = []
  for (const line of await readListFiles(req.filesFrom, 'files-from list')) {
    const matches = await globPaths(line)
    if (matches.length === 0) req.progress?.onWarning?.(line, 'the pattern from --files-from matches no file; skipped')
    listed.push(...matches)
  }
  const paths = [
    ...req.paths,
    ...listed,
    ...(await readListFiles(req.filesFromVerbatim, 'files-from-verbatim list', 'verbatim')),
    ...(await readListFiles(req.filesFromRaw, 'files-from-raw list', 'raw')),
  ]
  if (paths.length === 0) {
    throw new AppError('INVALID_ARGUMENT', 'Nothing to back up: no paths given', { hint: 'Name files or directories, or use --files-from' })
  }
  const exclude = [...(req.exclude ?? []), ...(await readListFiles(req.excludeFile, 'exclude file', 'patterns'))]
  checkPatterns('--exclude', exclude)
  const iexclude = [...(req.iexclude ?? []), ...(await readListFiles(req.iexcludeFile, 'iexclude file', 'patterns'))]
  checkPatterns('--iexclude', iexclude)
  const excludes = new ExcludeMatcher({
    exclude,
    iexclude,
    excludeCaches: req.excludeCaches,
    excludeIfPresent: req.excludeIfPresent,
    excludeLargerThan: req.excludeLargerThan,
    ignoreFiles: req.ignoreFiles,
    // Never back a local repository up into itself (it may sit inside a backed-up folder).
    excludePaths: ownFiles(repo),
  })
  // An empty --host is the machine's name, as restic takes it.
  const host = req.host || osHostname()
  req.onStep?.({ kind: 'load-index' })
  await repo.loadIndex()
  let parent
  if (!req.force) {
    // The snapshot will name the paths that exist: a missing one must not keep the parent away
    // (every file would be read again), as restic drops it first.
    const existing = paths.filter((p) => lstatOrUndefined(bytesFromGoString(p)) !== undefined)
    parent = req.parent ? await findSnapshot(repo, req.parent) : await findParentSnapshot(repo, host, existing.map((p) => resolve(p)), req.time)
  }
  req.onStep?.({ kind: 'scan', paths })
  if (req.onTotals || req.onStep) {
    const started = Date.now()
    void scanTotals(paths, excludes, req.onTotals ?? (() => {}), req.signal)
      .then((totals) => req.onStep?.({ kind: 'scanned', totals, seconds: (Date.now() - started) / 1000 }))
      .catch(() => {})
  }
  req.onStep?.({ kind: 'backup', paths })
  return backup(repo, {
    paths,
    excludes,
    // What restic records in the snapshot: the --exclude patterns as given, no others.
    excludePatterns: req.exclude ?? [],
    tags: req.tags,
    hostname: host,
    parent,
    oneFileSystem: req.oneFileSystem,
    force: req.force,
    // --ignore-inode implies --ignore-ctime, as in restic: where inodes are not stable (FUSE,
    // network file systems) change times are not either.
    ignoreCtime: req.ignoreCtime === true || req.ignoreInode === true,
    ignoreInode: req.ignoreInode,
    withAtime: req.withAtime,
    time: req.time,
    dryRun: req.dryRun,
    signal: req.signal,
    progress: req.progress,
  })
}

/** runBackup() of standard input: one file, whose earlier snapshots (same host and path) give the parent. */
async function runStdinBackup(repo: Repository, req: BackupRequest, stdin: NonNullable<BackupRequest['stdin']>): Promise<BackupResult> {
  if (req.paths.length > 0) {
    throw new AppError('INVALID_ARGUMENT', '--stdin was given together with paths to back up', { hint: 'Back up either standard input or paths, in two runs' })
  }
  if ((req.filesFrom?.length ?? 0) + (req.filesFromVerbatim?.length ?? 0) + (req.filesFromRaw?.length ?? 0) > 0) {
    throw new AppError('INVALID_ARGUMENT', '--stdin and --files-from cannot be used together')
  }
  const path = '/' + stdinPath(stdin.filename).join('/')
  // An empty --host is the machine's name, as restic takes it.
  const host = req.host || osHostname()
  await repo.loadIndex()
  const parent = req.parent ? await findSnapshot(repo, req.parent) : await findParentSnapshot(repo, host, [path], req.time)
  return backupStdin(repo, {
    ...stdin,
    tags: req.tags,
    hostname: host,
    parent,
    time: req.time,
    dryRun: req.dryRun,
    signal: req.signal,
    progress: req.progress,
  })
}

function lstatOrUndefined(path: Buffer): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path)
  } catch {
    return undefined
  }
}
