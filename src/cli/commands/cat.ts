import type { Command } from 'commander'
import { CAT_TYPES, catObject, withRepository } from '../../app/index.js'
import type { CommandContext } from '../context.js'

export function registerCat(program: Command, ctx: CommandContext): void {
  program
    .command('cat')
    .description('Print the decrypted content of a repository object')
    .argument('<type>', CAT_TYPES.join('|'))
    .argument('[id]', 'ID (or unique prefix) of the object')
    .addHelpText('after', '\nExamples:\n  cairn cat config\n  cairn cat snapshot 1a2b3c4d\n  cairn cat tree latest:/home/me/docs\n  cairn cat tree <tree-id>\n  cairn cat blob <blob-id> > chunk.bin')
    .action(async (type: string, id: string | undefined) => {
      await withRepository(ctx.repositoryOptions(), 'none', async (repo) => {
        const out = await catObject(repo, type, id)
        await new Promise<void>((resolve, reject) => process.stdout.write(out, (err) => (err ? reject(err) : resolve())))
      })
    })
}
