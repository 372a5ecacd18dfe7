import type { Command } from 'commander'
import { listObjects, listType, LIST_TYPES, withRepository } from '../../app/index.js'
import type { CommandContext } from '../context.js'

/** Lines are written in batches of about this many characters: one write per line is slow for millions of blobs. */
const BATCH = 64 * 1024

export function registerList(program: Command, ctx: CommandContext): void {
  program
    .command('list')
    .description('List the IDs of the objects of a type in the repository, one per line, as restic does')
    .argument('<type>', LIST_TYPES.join('|'))
    .addHelpText('after', '\nExamples:\n  cairn list snapshots\n  cairn list locks\n  cairn list blobs | grep -c "^tree "')
    .action(async (name: string) => {
      const type = listType(name)
      // As restic: listing locks takes none, so that our own does not show.
      await withRepository(ctx.repositoryOptions(), type === 'locks' ? 'none' : 'shared', async (repo) => {
        let lines = ''
        for await (const line of listObjects(repo, type)) {
          lines += line + '\n'
          if (lines.length >= BATCH) {
            ctx.term.out(lines)
            lines = ''
          }
        }
        if (lines !== '') ctx.term.out(lines)
      })
    })
}
