import type { Command } from 'commander'
import { interruptSignal, parseFindTime, runBackup, forWriting, withRepository, type BackupStep, type RepositoryOptions } from '../../app/index.js'
import { parseSize, type BackupResult } from '../../archiver/index.js'
import { AppError } from '../../base/index.js'
import type { CommandContext } from '../context.js'
import { capYoungGeneration } from '../heap.js'
import { collect } from '../options.js'
import { formatBytes, formatDuration } from '../output/format.js'
import { omitZeros } from '../output/json.js'
import { stdinIsTerminal } from '../output/prompt.js'

interface BackupFlags {
  exclude?: string[]
  iexclude?: string[]
  excludeFile?: string[]
  excludeCaches?: boolean
  excludeIfPresent?: string[]
  ignoreFile?: string[]
  excludeLargerThan?: string
  oneFileSystem?: boolean
  filesFrom?: string[]
  filesFromVerbatim?: string[]
  filesFromRaw?: string[]
  iexcludeFile?: string[]
  tag?: string[]
  host?: string
  parent?: string
  force?: boolean
  dryRun?: boolean
  stdin?: boolean
  stdinFilename: string
  ignoreCtime?: boolean
  ignoreInode?: boolean
  withAtime?: boolean
  time?: string
}

export function registerBackup(program: Command, ctx: CommandContext): void {
  program
    .command('backup')
    .description('Create a new snapshot of files and directories')
    .argument('[paths...]', 'files and directories to back up')
    .option('-e, --exclude <pattern>', 'exclude a pattern (repeatable)', collect)
    .option('--iexclude <pattern>', 'like --exclude, ignoring case', collect)
    .option('--exclude-file <file>', 'read exclude patterns from a file', collect)
    .option('--iexclude-file <file>', 'like --exclude-file, ignoring case', collect)
    .option('--exclude-caches', 'exclude directories holding a CACHEDIR.TAG')
    .option('--exclude-if-present <file[:header]>', 'exclude directories holding this file', collect)
    .option('--ignore-file <name>', 'honour ignore files of this name (gitignore syntax, e.g. .cairnignore) in every directory', collect)
    .option('--exclude-larger-than <size>', 'skip files larger than SIZE (k, M, G, T)')
    .option('-x, --one-file-system', 'do not cross file system boundaries')
    .option('--files-from <file>', 'read paths to back up from a file ("-" for stdin)', collect)
    .option('--files-from-verbatim <file>', 'read paths from a file, one a line, taken as they are', collect)
    .option('--files-from-raw <file>', 'read paths from a file, separated by NUL bytes (find -print0)', collect)
    .option('--tag <tag>', 'add tags to the snapshot (a,b or repeated)', collect)
    .option('-H, --host <host>', 'host name to record (default: this machine)')
    .option('--parent <snapshot>', 'use this snapshot as the parent instead of the latest of the same paths')
    .option('-f, --force', 'read all files, even unchanged ones')
    .option('--ignore-ctime', 'a file whose ctime changed is still unchanged')
    .option('--ignore-inode', 'a file whose inode number changed is still unchanged (FUSE and network file systems)')
    .option('--with-atime', 'record access times as they are (by default the access time stored is the mtime, as restic does)')
    .option('--time <time>', 'the snapshot\'s time instead of now, e.g. "2012-11-01 22:08:41" (local time)')
    .option('-n, --dry-run', 'do not write anything, only report what would be done')
    .option('--stdin', 'back up what comes in on standard input, as one file')
    .option('--stdin-filename <name>', 'the file name (or path) standard input is stored as', 'stdin')
    .addHelpText(
      'after',
      '\nExamples:\n  cairn -r /srv/backup backup ~/Documents ~/Pictures\n  cairn backup --exclude "*.tmp" --exclude-caches /home\n  cairn backup --tag nightly --files-from list.txt\n  pg_dump mydb | cairn backup --stdin --stdin-filename mydb.sql\n\nWithout -r or CAIRN_REPOSITORY, backups go to the default repository in\n~/.local/share/cairn/repository (created on first use, password kept in\n~/.config/cairn/repository.password).',
    )
    .action(async (paths: string[], opts: BackupFlags) => {
      capYoungGeneration()
      const term = ctx.term
      const { signal, dispose } = interruptSignal()
      const start = Date.now()
      let files = 0
      let bytes = 0
      let errors = 0
      let totals: { files: number; bytes: number } | undefined
      const stopProgress = term.progress(() => {
        const secs = (Date.now() - start) / 1000
        const rate = bytes / Math.max(secs, 0.001)
        let line = `[${formatDuration(secs)}] `
        const known = totals !== undefined && totals.bytes > 0
        const eta = known && rate > 0 ? Math.max(0, (totals!.bytes - bytes) / rate) : 0
        if (known) {
          const pct = Math.min(100, (100 * bytes) / totals!.bytes)
          line += `${pct.toFixed(2)}%  ${files} / ${totals!.files} files  ${formatBytes(bytes)} / ${formatBytes(totals!.bytes)}  ${formatBytes(rate)}/s  ETA ${formatDuration(eta)}`
        } else line += `${files} files ${formatBytes(bytes)}, ${formatBytes(rate)}/s`
        // restic's status message; its zero fields left out, as Go's omitempty does
        const json = omitZeros({
          seconds_elapsed: Math.floor(secs),
          seconds_remaining: Math.floor(eta),
          percent_done: known ? Math.min(1, bytes / totals!.bytes) : 0,
          total_files: totals?.files ?? 0,
          files_done: files,
          total_bytes: totals?.bytes ?? 0,
          bytes_done: bytes,
          error_count: errors,
        }, ['percent_done'])
        return { line: `${line}  ${errors} errors`, json }
      })
      let finished = false
      // restic's -v lines on what the run is doing
      const steps = term.verbose >= 1 && !term.json && !term.quiet
      if (steps) term.info('open repository')
      try {
        const result = await withRepository(
          forWriting(dataOnStdin(ctx.repositoryOptions(), opts), opts.dryRun === true),
          opts.dryRun ? 'none' : 'shared',
          (repo) => {
            if (steps && !opts.dryRun) term.info('lock repository')
            return runBackup(repo, {
              paths,
              filesFrom: opts.filesFrom,
              filesFromVerbatim: opts.filesFromVerbatim,
              filesFromRaw: opts.filesFromRaw,
              iexcludeFile: opts.iexcludeFile,
              exclude: opts.exclude,
              iexclude: opts.iexclude,
              excludeFile: opts.excludeFile,
              excludeCaches: opts.excludeCaches,
              excludeIfPresent: opts.excludeIfPresent,
              ignoreFiles: opts.ignoreFile,
              excludeLargerThan: opts.excludeLargerThan === undefined ? undefined : parseSize(opts.excludeLargerThan),
              oneFileSystem: opts.oneFileSystem,
              tags: opts.tag?.flatMap((t) => t.split(',')).filter((t) => t !== ''),
              host: opts.host,
              parent: opts.parent,
              force: opts.force,
              ignoreCtime: opts.ignoreCtime,
              ignoreInode: opts.ignoreInode,
              withAtime: opts.withAtime,
              ...(opts.time === undefined ? {} : { time: parseSnapshotTime(opts.time) }),
              dryRun: opts.dryRun,
              ...(opts.stdin ? { stdin: { filename: opts.stdinFilename } } : {}),
              signal,
              onTotals: term.interactive || (term.json && !term.quiet) ? (t) => (totals = t) : undefined,
              onStep: steps ? (step) => term.info(stepLine(step)) : undefined,
              progress: {
                onItem: (p, kind, status, size) => {
                  if (kind === 'file') files++
                  // Each file and folder at -vv, as restic lists them.
                  if (term.verbose < 2) return
                  const action = status === 'changed' ? 'modified' : status === 'unmodified' ? 'unchanged' : 'new'
                  if (term.json) term.jsonLine({ message_type: 'verbose_status', action, item: kind === 'dir' ? `${p}/` : p, data_size: kind === 'file' ? size : 0 })
                  else term.info(`${action.padEnd(9)} ${p}${kind === 'dir' ? '/' : ''}`)
                },
                onBytes: (n) => {
                  bytes += n
                },
                onWarning: (p, m) => {
                  // restic has no JSON warning message; ours mirrors its error message's shape
                  if (term.json) term.jsonError({ message_type: 'warning', warning: { message: m }, during: 'archival', item: p })
                  else term.warn(`warning: ${p}: ${m}`)
                },
                onError: (p, err) => {
                  errors++
                  if (term.json) term.jsonError({ message_type: 'error', error: { message: err.message }, during: 'archival', item: p })
                  else term.warn(`error: ${p}: ${err.message}`)
                },
              },
            })
          },
          true,
        )
        finished = true
        stopProgress()
        term.done()
        report(ctx, result, (Date.now() - start) / 1000, opts.dryRun === true)
        if (result.summary.errors > 0) {
          term.warn(`Warning: at least one source file could not be read`)
          ctx.exitCode = 3
        }
      } finally {
        stopProgress()
        dispose()
        // A signal that came once the snapshot was saved changes nothing: the backup is done.
        if (signal.aborted && !finished) throw new AppError('INTERRUPTED', 'Backup interrupted: no snapshot was written')
      }
    })
}

/** A step of the run in restic's -v words. */
function stepLine(step: BackupStep): string {
  if (step.kind === 'load-index') return 'load index files'
  if (step.kind === 'scanned') return `scan finished in ${step.seconds.toFixed(3)}s: ${step.totals.files} files, ${formatBytes(step.totals.bytes)}`
  return `start ${step.kind} on [${step.paths.join(' ')}]`
}

/**
 * The repository options for a backup that reads its data or its list of files from standard
 * input: the password can then not come from there too, as restic refuses it.
 */
function dataOnStdin(o: RepositoryOptions, opts: BackupFlags): RepositoryOptions {
  const lists = [...(opts.filesFrom ?? []), ...(opts.filesFromVerbatim ?? []), ...(opts.filesFromRaw ?? [])]
  const what = opts.stdin === true ? '--stdin' : lists.includes('-') ? '--files-from -' : undefined
  if (what === undefined || stdinIsTerminal()) return o
  return {
    ...o,
    prompt: async () => {
      throw new AppError('NO_PASSWORD', `No password given for the repository, and standard input cannot carry it: ${what} reads it`, {
        hint: 'Give the password with CAIRN_PASSWORD, --password-file or --password-command',
      })
    },
  }
}

function report(ctx: CommandContext, r: BackupResult, seconds: number, dryRun: boolean): void {
  const s = r.summary
  const term = ctx.term
  if (term.json) {
    term.jsonLine({
      message_type: 'summary',
      files_new: s.filesNew,
      files_changed: s.filesChanged,
      files_unmodified: s.filesUnmodified,
      dirs_new: s.dirsNew,
      dirs_changed: s.dirsChanged,
      dirs_unmodified: s.dirsUnmodified,
      data_blobs: s.dataBlobs,
      tree_blobs: s.treeBlobs,
      data_added: s.dataAdded,
      data_added_packed: s.dataAddedPacked,
      total_files_processed: s.totalFilesProcessed,
      total_bytes_processed: s.totalBytesProcessed,
      total_duration: seconds,
      files_reread: s.filesReread,
      files_changed_while_read: s.filesChangedWhileRead,
      ...(r.snapshotId ? { snapshot_id: r.snapshotId } : {}),
      dry_run: dryRun || undefined,
    })
    return
  }
  const pad = (n: number) => String(n).padStart(5)
  const lines = [
    r.snapshot.parent ? `using parent snapshot ${r.snapshot.parent.slice(0, 8)}` : 'no parent snapshot found, will read all files',
    '',
    `Files:       ${pad(s.filesNew)} new, ${pad(s.filesChanged)} changed, ${pad(s.filesUnmodified)} unmodified`,
    `Dirs:        ${pad(s.dirsNew)} new, ${pad(s.dirsChanged)} changed, ${pad(s.dirsUnmodified)} unmodified`,
    ...(term.verbose > 0 ? [`Data Blobs:  ${pad(s.dataBlobs)} new`, `Tree Blobs:  ${pad(s.treeBlobs)} new`] : []),
    // restic's %-5s
    `${dryRun ? 'Would add' : 'Added'} to the repository: ${formatBytes(s.dataAdded).padEnd(5)} (${formatBytes(s.dataAddedPacked).padEnd(5)} stored)`,
    '',
    ...(s.filesReread > 0
      ? [`${s.filesReread} files changed while read and were read again; ${s.filesChangedWhileRead} kept changing (see the warnings above)`]
      : []),
    `processed ${s.totalFilesProcessed} files, ${formatBytes(s.totalBytesProcessed)} in ${formatDuration(seconds)}`,
    r.snapshotId ? `snapshot ${r.snapshotId.slice(0, 8)} saved` : 'dry run: no snapshot saved',
  ]
  term.info(lines.join('\n'))
}

/**
 * restic's --time: a local time in the forms find takes ("2012-11-01 22:08:41", seconds or the
 * time optional, an offset such as +0200 allowed), or ISO 8601 with a zone. Throws
 * INVALID_ARGUMENT naming the value otherwise.
 */
export function parseSnapshotTime(text: string): Date {
  const t = text.trim()
  if (/^\d{4}-\d{2}-\d{2}T.*(?:[zZ]|[+-]\d{2}:?\d{2})$/.test(t) && !Number.isNaN(new Date(t).getTime())) return new Date(t)
  try {
    return new Date(Number(parseFindTime(t) / 1_000_000n))
  } catch {
    throw new AppError('INVALID_ARGUMENT', `Invalid --time "${text}"`, { hint: 'Give it as "2012-11-01 22:08:41" (local time), or in ISO 8601 with a zone' })
  }
}
