import { Option, type Command } from 'commander'
import { interruptSignal, runRestore, withRepository, type OverwritePolicy } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { keepYoungGenerationSmall } from '../heap.js'
import { collect } from '../options.js'
import { formatBytes, formatDuration } from '../output/format.js'
import { omitZeros } from '../output/json.js'

interface RestoreFlags {
  target?: string
  include?: string[]
  exclude?: string[]
  iinclude?: string[]
  iexclude?: string[]
  host?: string[]
  tag?: string[]
  path?: string[]
  verify?: boolean
  overwrite?: OverwritePolicy
  delete?: boolean
  dryRun?: boolean
}

export function registerRestore(program: Command, ctx: CommandContext): void {
  program
    .command('restore')
    .description('Restore a snapshot (or part of it) into a directory')
    .argument('<snapshot>', 'snapshot ID, "latest", or SNAPSHOT:/sub/dir')
    .requiredOption('-t, --target <dir>', 'directory to restore into')
    .option('-i, --include <pattern>', 'restore only paths matching a pattern', collect)
    .option('-e, --exclude <pattern>', 'do not restore paths matching a pattern', collect)
    .option('--iinclude <pattern>', 'like --include, ignoring case', collect)
    .option('--iexclude <pattern>', 'like --exclude, ignoring case', collect)
    .option('-H, --host <host>', 'for "latest": only snapshots of this host', collect)
    .option('--tag <tags>', 'for "latest": only snapshots with these tags', collect)
    .option('--path <path>', 'for "latest": only snapshots including this path', collect)
    .option('--verify', 'read the restored files back and check them')
    .addOption(
      new Option('--overwrite <policy>', 'files that exist at the target: "always" writes what differs, "if-changed" trusts same size and mtime, "if-newer" only older ones, "never" leaves them')
        .choices(['always', 'if-changed', 'if-newer', 'never'])
        .default('always'),
    )
    .option('--delete', 'remove files and folders the target has and the snapshot does not (where --include/--exclude would restore them), inside the backed-up folders only: never beside them, in the folders that lead there (a snapshot of /home/me restored into / leaves /etc alone); with --target / it needs an --include or --exclude')
    .option('-n, --dry-run', 'change nothing: tell what would be restored, updated and deleted (each file with -vv)')
    .addHelpText(
      'after',
      '\nExamples:\n  cairn restore latest --target /tmp/restore\n  cairn restore 1a2b3c4d:/home/me/docs --target ~/docs-back\n  cairn restore latest --target / --include /etc/nginx\n  cairn restore latest --target ~/docs --delete --dry-run -vv\n\nA restore into a folder that holds files already writes into each only the parts that\ndiffer, so a restore that was cut short goes on where it stopped.',
    )
    .action(async (snapshot: string, opts: RestoreFlags) => {
      keepYoungGenerationSmall()
      const term = ctx.term
      const { signal, dispose } = interruptSignal()
      const start = Date.now()
      let total = 0
      let planned = false
      let done = 0
      let errors = 0
      let totalFiles = 0
      let filesDone = 0
      const stopProgress = term.progress(() => {
        const secs = (Date.now() - start) / 1000
        // Until the whole tree was read, the total is what was found so far.
        const pct = planned && total > 0 ? ((100 * done) / total).toFixed(1) + '%  ' : ''
        const line = `[${formatDuration(secs)}] ${pct}${formatBytes(done)} / ${planned ? '' : 'at least '}${formatBytes(total)}`
        // restic's (0.16 and later) status message, its zero fields left out as Go's omitempty does
        const json = omitZeros(
          {
            seconds_elapsed: Math.floor(secs),
            percent_done: planned && total > 0 ? Math.min(1, done / total) : 0,
            total_files: totalFiles,
            files_restored: filesDone,
            total_bytes: total,
            bytes_restored: done,
          },
          ['percent_done'],
        )
        return { line, json }
      })
      try {
        await withRepository(ctx.repositoryOptions(), 'shared', async (repo) => {
          const result = await runRestore(repo, {
            snapshot,
            target: opts.target!,
            include: opts.include,
            exclude: opts.exclude,
            iinclude: opts.iinclude,
            iexclude: opts.iexclude,
            filter: { hosts: opts.host, tags: opts.tag, paths: opts.path },
            verify: opts.verify,
            overwrite: opts.overwrite,
            delete: opts.delete,
            dryRun: opts.dryRun,
            signal,
            progress: {
              onPlan: (files, bytes, complete) => {
                totalFiles = files
                total = bytes
                planned = complete
              },
              onBytes: (n) => {
                done += n
              },
              onFile: () => {
                filesDone++
              },
              onAction: (p, action, bytes) => {
                // Each file at -vv, as restic lists them.
                if (term.verbose < 2) return
                if (term.json) term.jsonLine({ message_type: 'verbose_status', action, item: p, size: bytes })
                else term.info(`${action.padEnd(9)} ${p}`)
              },
              onError: (p, err) => {
                errors++
                if (term.json) term.jsonError({ message_type: 'error', error: { message: err.message }, during: 'restore', item: p })
                else term.warn(`ignoring error for ${p}: ${err.message}`)
              },
            },
          })
          stopProgress()
          term.done()
          const s = result.summary
          const snap = result.snapshot
          if (term.json) {
            term.jsonLine({
              message_type: 'summary',
              dry_run: opts.dryRun === true,
              seconds_elapsed: Math.round((Date.now() - start) / 1000),
              total_files: s.files + s.skipped,
              files_restored: s.files,
              files_skipped: s.skipped,
              files_deleted: s.deleted,
              dirs_restored: s.dirs,
              total_bytes: s.bytes + s.skippedBytes,
              bytes_restored: s.bytes,
              bytes_skipped: s.skippedBytes,
              errors: s.errors,
              verified: s.verified,
              snapshot_id: snap.id,
            })
          } else {
            const files = (n: number) => `${n} file${n === 1 ? '' : 's'}`
            const verb = opts.dryRun ? 'would restore' : 'restored'
            term.info(`${verb} snapshot ${snap.id.slice(0, 8)} of [${snap.snapshot.paths.join(' ')}] to ${opts.target}: ${files(s.files)}, ${formatBytes(s.bytes)} in ${formatDuration((Date.now() - start) / 1000)}`)
            const kept = opts.overwrite === 'never' || opts.overwrite === 'if-newer' ? `unchanged, or kept by --overwrite ${opts.overwrite}` : 'unchanged'
            if (s.skipped > 0) term.info(`${opts.dryRun ? 'would leave' : 'left'} ${files(s.skipped)} (${formatBytes(s.skippedBytes)}) as found: ${kept}`)
            if (s.deleted > 0) term.info(`${opts.dryRun ? 'would delete' : 'deleted'} ${s.deleted} ${s.deleted === 1 ? 'item' : 'files and folders'} the snapshot does not have`)
            if (s.verified !== undefined) term.info(`verified ${s.verified} files`)
          }
          if (errors > 0) {
            term.warn(`There were ${errors} errors`)
            ctx.exitCode = 1
          }
        })
      } finally {
        stopProgress()
        dispose()
      }
    })
}
