import type { Command } from 'commander'
import { initRepository, repositoryLocation } from '../../app/index.js'
import type { CommandContext } from '../context.js'

export function registerInit(program: Command, ctx: CommandContext): void {
  program
    .command('init')
    .description('Create a new repository')
    .option('--repository-version <v>', 'repository format version: 1, 2, stable or latest', 'stable')
    .addHelpText('after', '\nExamples:\n  cairn -r /srv/backup init\n  CAIRN_PASSWORD_FILE=~/.cairn-pass cairn -r /media/usb/cairn init')
    .action(async (opts: { repositoryVersion: string }) => {
      const v = opts.repositoryVersion
      const version = v === '1' ? 1 : v === '2' || v === 'stable' || v === 'latest' ? 2 : undefined
      if (version === undefined) throw new RangeError(`Invalid repository version "${v}": use 1, 2, stable or latest`)
      const o = ctx.repositoryOptions()
      const repo = await initRepository(o, { version })
      const { url } = repositoryLocation(o)
      if (ctx.term.json) ctx.term.jsonLine({ message_type: 'initialized', id: repo.config.id, repository: url })
      else
        ctx.term.info(
          `created restic repository ${repo.config.id.slice(0, 10)} at ${repo.location}\n\n` +
            'Please note that knowledge of your password is required to access\n' +
            'the repository. Losing your password means that your data is\n' +
            'irrecoverably lost.',
        )
      await repo.close()
    })
}
