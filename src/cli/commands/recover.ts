import type { Command } from 'commander'
import { interruptSignal, runRecover } from '../../app/index.js'
import type { CommandContext } from '../context.js'

/** Registers `recover`, restic's command for finding the trees of snapshots forgotten by mistake. */
export function registerRecover(program: Command, ctx: CommandContext): void {
  program
    .command('recover')
    .description('Save a snapshot of every folder tree in the repository that no snapshot reaches')
    .option('-H, --host <host>', 'hostname for the new snapshot (default: this machine)')
    .addHelpText(
      'after',
      '\nUse it when a snapshot was forgotten by mistake and "prune" has not removed its data yet.\nThe new snapshot has the path /recover and the tag "recovered"; each tree found is a folder\nnamed by its short ID. Restore or copy what you need from it, then forget it again.\n\nExamples:\n  cairn recover\n  cairn ls latest --tag recovered',
    )
    .action(async (opts: { host?: string }) => {
      const term = ctx.term
      const { signal, dispose } = interruptSignal()
      try {
        const result = await runRecover(ctx.repositoryOptions(), {
          hostname: opts.host,
          signal,
          progress: {
            phase: (phase, total) => {
              if (phase === 'index') term.info('ensuring index is complete')
              else if (phase === 'trees') term.info(`load ${total} trees`)
              else term.info('load snapshots')
            },
          },
        })
        const index = result.index
        if (index.rewritten) {
          term.info(`indexed ${index.addedPacks.length} pack file${index.addedPacks.length === 1 ? '' : 's'} that no index listed`)
        }
        for (const s of index.skippedPacks) term.warn(`skipped pack file ${s.id}: ${s.error}`)
        for (const t of result.unreadableTrees) term.warn(`unable to load tree ${t.id.slice(0, 8)}: ${t.error}`)
        for (const s of result.unreadableSnapshots) term.warn(`unable to load snapshot ${s.id.slice(0, 8)} (the trees only it used are recovered): ${s.error}`)
        if (term.json) {
          term.jsonLine({
            message_type: 'summary',
            trees: result.trees,
            unreadable_trees: result.unreadableTrees.map((t) => t.id),
            roots: result.roots,
            snapshot_id: result.snapshotId ?? null,
          })
          return
        }
        if (term.verbose > 0) for (const id of result.roots) term.info(`found root tree ${id.slice(0, 8)}`)
        term.info(`\nfound ${result.roots.length} unreferenced roots`)
        if (result.snapshotId === undefined) term.info('no snapshot to write.')
        else term.info(`saved new snapshot ${result.snapshotId.slice(0, 8)}`)
      } finally {
        dispose()
      }
    })
}
