import type { Command } from 'commander'
import { interruptSignal, runDump, withRepository } from '../../app/index.js'
import type { CommandContext } from '../context.js'

interface DumpFlags {
  archive: string
  zipMethod: string
  target?: string
  host?: string[]
  tag?: string[]
  path?: string[]
}

const collect = (value: string, previous: string[] = []) => [...previous, value]

export function registerDump(program: Command, ctx: CommandContext): void {
  program
    .command('dump')
    .description('Write a file from a snapshot to stdout, or a directory as a tar or zip archive')
    .argument('<snapshot>', 'snapshot ID, prefix or "latest" (SNAPSHOT:sub/dir makes that folder the archive root)')
    .argument('<path>', 'file or directory in the snapshot; "/" for everything')
    .option('-a, --archive <format>', 'archive format for directories: "tar" or "zip"', 'tar')
    .option('--zip-method <method>', 'how zip stores files: "store" or "deflate"', 'store')
    .option('-t, --target <file>', 'write to this file instead of stdout')
    .option('-H, --host <host>', 'for "latest": only snapshots of this host (repeatable)', collect)
    .option('--tag <taglist>', 'for "latest": only snapshots with these tags (repeatable)', collect)
    .option('--path <path>', 'for "latest": only snapshots including this path (repeatable)', collect)
    .addHelpText(
      'after',
      '\nExamples:\n  cairn dump latest /home/me/notes.txt > notes.txt\n  cairn dump latest /home/me/docs | tar -x\n  cairn dump --archive zip --target docs.zip 1a2b3c4d /home/me/docs\n  cairn dump latest:/home/me / > me.tar',
    )
    .action(async (snapshot: string, path: string, opts: DumpFlags) => {
      if (opts.archive !== 'tar' && opts.archive !== 'zip') throw new RangeError(`Unknown archive format "${opts.archive}": use tar or zip`)
      if (opts.zipMethod !== 'store' && opts.zipMethod !== 'deflate') throw new RangeError(`Unknown zip method "${opts.zipMethod}": use store or deflate`)
      const { signal, dispose } = interruptSignal()
      try {
        await withRepository(ctx.repositoryOptions(), 'shared', async (repo) => {
          await runDump(repo, {
            snapshot,
            path,
            filter: { hosts: opts.host, tags: opts.tag, paths: opts.path },
            archive: opts.archive as 'tar' | 'zip',
            zipMethod: opts.zipMethod as 'store' | 'deflate',
            target: opts.target,
            signal,
          })
        })
      } finally {
        dispose()
      }
    })
}
