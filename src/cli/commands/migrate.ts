import type { Command } from 'commander'
import { interruptSignal, runMigrate } from '../../app/index.js'
import type { CommandContext } from '../context.js'

/** Registers `migrate`, restic's command for upgrading a repository's format. */
export function registerMigrate(program: Command, ctx: CommandContext): void {
  program
    .command('migrate')
    .description('List the migrations that apply to a repository, or apply them')
    .argument('[name...]', 'migrations to apply (upgrade_repo_v2)')
    .option('-f, --force', 'apply a migration even when its check says it does not apply')
    .addHelpText(
      'after',
      '\nupgrade_repo_v2 turns a repository of format version 1 (restic before 0.14) into version 2,\nwhich stores new data compressed. It checks the repository first and changes only the config\nfile; data already stored stays as it is ("cairn prune --repack-uncompressed" compresses it).\n\nExamples:\n  cairn migrate\n  cairn migrate upgrade_repo_v2',
    )
    .action(async (names: string[], opts: { force?: boolean }) => {
      const term = ctx.term
      const { signal, dispose } = interruptSignal()
      try {
        const result = await runMigrate(ctx.repositoryOptions(), {
          names,
          force: opts.force,
          signal,
          onStatus: (m) => term.info(m),
          onWarning: (m) => term.warn(m),
        })
        if (term.json) {
          term.jsonLine({ message_type: 'summary', available: result.available, applied: result.applied, skipped: result.skipped })
          return
        }
        if (names.length === 0) {
          term.out('available migrations:')
          if (result.available.length === 0) term.out('no migrations found')
          for (const m of result.available) term.out(`  ${m.name}\t${m.description}`)
        }
        for (const s of result.skipped) {
          if (opts.force) term.info(`migration ${s.name}: nothing to do (${s.reason})`)
          else term.warn(`migration ${s.name} cannot be applied: ${s.reason}\nIf you want to apply this migration anyway, re-run with option --force`)
        }
      } finally {
        dispose()
      }
    })
}
