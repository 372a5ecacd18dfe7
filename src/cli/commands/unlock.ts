import type { Command } from 'commander'
import { unlockRepository, withRepository } from '../../app/index.js'
import type { CommandContext } from '../context.js'

export function registerUnlock(program: Command, ctx: CommandContext): void {
  program
    .command('unlock')
    .description('Remove stale locks (left by processes that are gone)')
    .option('--remove-all', 'remove all locks, even those of running processes')
    .addHelpText('after', '\nExamples:\n  cairn unlock\n  cairn unlock --remove-all')
    .action(async (opts: { removeAll?: boolean }) => {
      await withRepository(ctx.repositoryOptions(), 'none', async (repo) => {
        const removed = await unlockRepository(repo, opts.removeAll === true)
        if (ctx.term.json) ctx.term.jsonLine({ removed })
        else ctx.term.info(removed.length > 0 ? `successfully removed ${removed.length} locks` : 'no locks to remove')
      })
    })
}
