import type { Command } from 'commander'
import { interruptSignal, runRewrite, forWriting, withRepository } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { collect } from '../options.js'
import { formatTime } from '../output/format.js'

interface RewriteFlags {
  exclude?: string[]
  iexclude?: string[]
  excludeFile?: string[]
  iexcludeFile?: string[]
  forget?: boolean
  dryRun?: boolean
  host?: string[]
  tag?: string[]
  path?: string[]
}

export function registerRewrite(program: Command, ctx: CommandContext): void {
  program
    .command('rewrite')
    .description('Rewrite snapshots without the files and folders an exclude pattern picks (a secret backed up by mistake)')
    .argument('[snapshots...]', 'snapshot IDs, prefixes or "latest"; without them, every snapshot matching the filters (all by default)')
    .option('-e, --exclude <pattern>', 'leave out paths matching a pattern (repeatable)', collect)
    .option('--iexclude <pattern>', 'like --exclude, ignoring case', collect)
    .option('--exclude-file <file>', 'read exclude patterns from a file', collect)
    .option('--iexclude-file <file>', 'like --exclude-file, ignoring case', collect)
    .option('--forget', 'remove the original snapshots once the new ones are saved (prune then frees their data)')
    .option('-n, --dry-run', 'only show which snapshots would change and what would be left out')
    .option('-H, --host <host>', 'only snapshots of this host, when no snapshot ID is given (repeatable)', collect)
    .option('--tag <taglist>', 'only snapshots with all these tags, when no snapshot ID is given (repeatable)', collect)
    .option('--path <path>', 'only snapshots including this path, when no snapshot ID is given (repeatable)', collect)
    .addHelpText(
      'after',
      '\nThe new snapshots keep time, host, paths and tags, record the old one as "original" and are\ntagged "rewrite" unless --forget removes the originals. Run "cairn prune" afterwards to free\nthe space of what was left out.\n\nExamples:\n  cairn rewrite --exclude "/home/me/.ssh" --dry-run\n  cairn rewrite --exclude "*.iso" --forget\n  cairn rewrite --exclude-file excludes.txt latest',
    )
    .action(async (snapshots: string[], opts: RewriteFlags) => {
      const term = ctx.term
      const { signal, dispose } = interruptSignal()
      try {
        const mode = opts.dryRun ? 'none' : opts.forget ? 'exclusive' : 'shared'
        await withRepository(forWriting(ctx.repositoryOptions(), opts.dryRun === true), mode, async (repo) => {
          const result = await runRewrite(repo, {
            snapshots,
            filter: { hosts: opts.host, tags: opts.tag, paths: opts.path },
            exclude: opts.exclude,
            iexclude: opts.iexclude,
            excludeFile: opts.excludeFile,
            iexcludeFile: opts.iexcludeFile,
            forget: opts.forget,
            dryRun: opts.dryRun,
            signal,
            onWarning: (m) => term.warn(m),
          })
          // A snapshot an earlier run rewrote, and whose original stays, was not modified now.
          const modified = result.rewritten.filter((r) => opts.dryRun || !r.reused || r.removed)
          if (term.json) {
            for (const r of result.rewritten) {
              term.jsonLine({ message_type: 'rewritten', snapshot_id: r.entry.id, new_snapshot_id: r.newId ?? null, removed: r.removed, ...(r.reused ? { reused: true } : {}), excluded: r.removedPaths })
            }
            term.jsonLine({ message_type: 'summary', rewritten_snapshots: modified.length, unchanged_snapshots: result.unchanged + result.rewritten.length - modified.length, dry_run: opts.dryRun === true })
            return
          }
          for (const r of result.rewritten) {
            const s = r.entry.snapshot
            term.info(`\nsnapshot ${r.entry.id.slice(0, 8)} of [${s.paths.join(' ')}] at ${formatTime(s.time)}:`)
            for (const p of r.removedPaths) term.info(`  ${opts.dryRun ? 'would exclude' : 'excluded'} ${p}`)
            if (r.newId !== undefined) term.info(r.reused ? `already rewritten as snapshot ${r.newId.slice(0, 8)} (by an earlier run)` : `saved new snapshot ${r.newId.slice(0, 8)}`)
            if (r.removed) term.info(`removed old snapshot ${r.entry.id.slice(0, 8)}`)
          }
          const n = modified.length
          term.info('')
          if (opts.dryRun) term.info(n === 0 ? 'no snapshots would be modified' : `would modify ${n} snapshots`)
          else term.info(n === 0 ? 'no snapshots were modified' : `modified ${n} snapshots`)
        })
      } finally {
        dispose()
      }
    })
}
