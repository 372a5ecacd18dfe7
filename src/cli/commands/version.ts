import type { Command } from 'commander'
import type { CommandContext } from '../context.js'

export const VERSION = '0.1.0'

export function registerVersion(program: Command, ctx: CommandContext): void {
  program
    .command('version')
    .description('Print version information')
    .addHelpText('after', '\nExamples:\n  cairn version\n  cairn version --json')
    .action(() => {
      const text = `cairn ${VERSION} compiled with node ${process.version} on ${process.platform}/${process.arch}`
      if (ctx.term.json) ctx.term.jsonLine({ message_type: 'version', version: VERSION, node: process.version, platform: process.platform, arch: process.arch })
      else ctx.term.out(text)
    })
}
