import type { Command } from 'commander'
import { AppError } from '../../base/index.js'
import { changeTags, forWriting, interruptSignal, withRepository } from '../../app/index.js'
import type { CommandContext } from '../context.js'

interface TagFlags {
  set?: string[]
  add?: string[]
  remove?: string[]
  host?: string[]
  tag?: string[]
  path?: string[]
}

const collect = (value: string, previous: string[] = []) => [...previous, value]

export function registerTag(program: Command, ctx: CommandContext): void {
  program
    .command('tag')
    .description('Modify the tags of snapshots')
    .argument('[snapshots...]', 'snapshot IDs, prefixes or "latest"; without them, every snapshot matching the filters')
    .option('--set <tags>', 'tags which replace the existing ones, "tag[,tag,...]" (repeatable; --set "" removes all)', collect)
    .option('--add <tags>', 'tags to add, "tag[,tag,...]" (repeatable)', collect)
    .option('--remove <tags>', 'tags to remove, "tag[,tag,...]" (repeatable)', collect)
    .option('-H, --host <host>', 'only snapshots of this host, when no snapshot ID is given (repeatable)', collect)
    .option('--tag <taglist>', 'only snapshots with all these tags, when no snapshot ID is given (repeatable)', collect)
    .option('--path <path>', 'only snapshots including this path, when no snapshot ID is given (repeatable)', collect)
    .addHelpText('after', '\nExamples:\n  cairn tag --add keep latest\n  cairn tag --set monthly,offsite 1a2b3c4d\n  cairn tag --remove temp --host laptop')
    .action(async (snapshots: string[], opts: TagFlags) => {
      const { signal, dispose } = interruptSignal()
      try {
        await tag(ctx, snapshots, opts, signal)
      } finally {
        dispose()
      }
    })
}

async function tag(ctx: CommandContext, snapshots: string[], opts: TagFlags, signal: AbortSignal): Promise<void> {
  await withRepository(forWriting({ ...ctx.repositoryOptions(), signal }), 'exclusive', async (repo) => {
    const result = await changeTags(
      repo,
      { snapshots, filter: { hosts: opts.host, tags: opts.tag, paths: opts.path }, set: opts.set, add: opts.add, remove: opts.remove, signal },
      (m) => ctx.term.warn(m),
    )
    if (ctx.term.json) {
      for (const c of result.changed) ctx.term.jsonLine({ message_type: 'changed', old_snapshot_id: c.oldId, new_snapshot_id: c.newId })
      ctx.term.jsonLine({ message_type: 'summary', changed_snapshot_count: result.changed.length })
    } else {
      for (const c of result.changed) if (ctx.term.verbose > 0) ctx.term.info(`snapshot ${c.oldId.slice(0, 8)} saved as ${c.newId.slice(0, 8)}`)
      ctx.term.info(result.changed.length === 0 ? 'no snapshots were modified' : `modified tags on ${result.changed.length} snapshots`)
    }
    if (result.failed > 0) failedTagging(result.failed)
  })
}

/** restic exits 0 here; a script that tags what it must keep has to know that some were not. */
function failedTagging(failed: number): never {
  throw new AppError('IO', `The tags of ${failed} snapshot${failed === 1 ? '' : 's'} could not be modified (see the messages above)`, {
    hint: 'Run the command again once the cause is fixed: snapshots already modified are left as they are',
  })
}
