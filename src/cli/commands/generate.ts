import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Command } from 'commander'
import { AppError, messageOf } from '../../base/index.js'
import { bashCompletion, fishCompletion, manPages, zshCompletion } from '../completion.js'
import type { CommandContext } from '../context.js'

interface GenerateFlags {
  bashCompletion?: string
  zshCompletion?: string
  fishCompletion?: string
  man?: string
}

/** Registers `generate`: shell completions and man pages, as restic's command of that name. */
export function registerGenerate(program: Command, ctx: CommandContext): void {
  program
    .command('generate')
    .description('Write shell completion scripts and man pages')
    .option('--bash-completion <file>', 'write a bash completion script to this file ("-" for standard output)')
    .option('--zsh-completion <file>', 'write a zsh completion script to this file ("-" for standard output)')
    .option('--fish-completion <file>', 'write a fish completion script to this file ("-" for standard output)')
    .option('--man <directory>', 'write a man page for each command into this directory')
    .addHelpText(
      'after',
      '\nExamples:\n  cairn generate --bash-completion /etc/bash_completion.d/cairn\n  cairn generate --fish-completion ~/.config/fish/completions/cairn.fish\n  cairn generate --man /usr/local/share/man/man1',
    )
    .action(async (opts: GenerateFlags) => {
      if (!opts.bashCompletion && !opts.zshCompletion && !opts.fishCompletion && !opts.man) {
        throw new AppError('INVALID_ARGUMENT', 'Nothing to generate', { hint: 'Give --bash-completion, --zsh-completion, --fish-completion or --man' })
      }
      // Every command, not only the ones this run loaded.
      const { buildProgram } = await import('../program.js')
      const { program: full } = await buildProgram([])
      const put = async (file: string, text: string, what: string) => {
        if (file === '-') return void process.stdout.write(text)
        try {
          await writeFile(file, text)
        } catch (err) {
          throw new AppError('IO', `Cannot write the ${what} to "${file}": ${messageOf(err)}`, { cause: err })
        }
        ctx.term.info(`writing ${what} to ${file}`)
      }
      if (opts.bashCompletion) await put(opts.bashCompletion, bashCompletion(full), 'bash completion file')
      if (opts.zshCompletion) await put(opts.zshCompletion, zshCompletion(full), 'zsh completion file')
      if (opts.fishCompletion) await put(opts.fishCompletion, fishCompletion(full), 'fish completion file')
      if (opts.man) {
        try {
          await mkdir(opts.man, { recursive: true })
        } catch (err) {
          throw new AppError('IO', `Cannot create the folder "${opts.man}" for man pages: ${messageOf(err)}`, { cause: err })
        }
        const pages = manPages(full)
        for (const [name, text] of pages) await put(join(opts.man, name), text, 'man page')
      }
    })
}
