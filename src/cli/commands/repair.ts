import type { Command } from 'commander'
import { interruptSignal, runRepairIndex, runRepairPacks, runRepairSnapshots, type RepairIndexResult, type RepairPacksResult, type RepairSnapshotsResult } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { formatTime } from '../output/format.js'
import type { Terminal } from '../output/terminal.js'

const INDEX_PHASE_TEXT = {
  'load-index': 'loading indexes...',
  'list-packs': 'getting pack files to read...',
  'read-packs': 'reading pack files',
  'write-index': 'saving new index files',
  'remove-old-index': 'removing old index files',
} as const

/** Registers `repair index`, `repair snapshots`, and `rebuild-index` (restic 0.14's name for `repair index`). */
export function registerRepair(program: Command, ctx: CommandContext): void {
  const repair = program
    .command('repair')
    .description('Repair the index or snapshots of a damaged repository')
    .addHelpText('after', '\nExamples:\n  cairn repair index\n  cairn repair snapshots --dry-run')
  const indexAction = async (opts: { readAllPacks?: boolean }) => {
    const term = ctx.term
    const { signal, dispose } = interruptSignal()
    try {
      const result = await runRepairIndex(ctx.repositoryOptions(), {
        readAllPacks: opts.readAllPacks,
        signal,
        progress: { phase: (p) => term.info(INDEX_PHASE_TEXT[p]) },
      })
      if (term.json) term.jsonLine({ message_type: 'summary', ...result })
      else printIndexResult(term, result)
    } finally {
      dispose()
    }
  }
  const indexHelp = '\nExamples:\n  cairn repair index\n  cairn repair index --read-all-packs'
  repair
    .command('index')
    .description('Build a new index from the pack files (replaces every index file)')
    .option('--read-all-packs', 'read the header of every pack, ignoring the old index')
    .addHelpText('after', indexHelp)
    .action(indexAction)
  program
    .command('rebuild-index')
    .description('Same as "repair index" (the name restic 0.14 uses)')
    .option('--read-all-packs', 'read the header of every pack, ignoring the old index')
    .addHelpText('after', indexHelp)
    .action(indexAction)

  repair
    .command('packs')
    .description('Salvage damaged pack files: store again every blob in them that is intact, then remove them')
    .argument('<pack...>', 'IDs (or unique prefixes) of the damaged packs, as "cairn check --read-data" reports them')
    .addHelpText(
      'after',
      '\nA copy of each pack is saved in the current folder first (pack-<ID>). Blobs that cannot be read are lost unless another pack holds them: ' +
        'back the files up again if they still exist, then run "cairn repair snapshots --forget".\n\nExamples:\n  cairn repair packs 1a2b3c4d\n  cd /tmp && cairn -r /srv/backup repair packs 1a2b3c4d 5e6f7a8b',
    )
    .action(async (packs: string[]) => {
      const term = ctx.term
      const { signal, dispose } = interruptSignal()
      try {
        term.info('saving a copy of each pack file in the current folder, then salvaging the intact data')
        const result = await runRepairPacks(ctx.repositoryOptions(), {
          packs,
          copiesDir: process.cwd(),
          signal,
          onCopied: (_id, path) => term.info(`saved a copy as ${path}`),
          onPack: (p) => {
            if (term.json) return
            if (p.missing) term.warn(`pack ${p.id.slice(0, 8)}: the file is missing; its blobs leave the index`)
            else if (p.unknown) return // told with the summary
            else if (p.headerError !== undefined) term.warn(`pack ${p.id.slice(0, 8)}: its header cannot be read (${p.headerError}); using the index's list of its blobs`)
            term.info(`pack ${p.id.slice(0, 8)}: ${p.salvaged} blob${p.salvaged === 1 ? '' : 's'} saved again, ${p.lost.length} lost`)
            for (const l of p.lost) term.warn(`  lost ${l.type} blob ${l.id}: ${l.error}`)
          },
        })
        if (term.json) term.jsonLine({ message_type: 'summary', ...result })
        else printPacksResult(term, result)
      } finally {
        dispose()
      }
    })

  repair
    .command('snapshots')
    .description('Rewrite snapshots around missing data: files keep what exists, unreadable folders become empty')
    .argument('[snapshot...]', 'only these snapshots (IDs or prefixes); all by default')
    .option('--forget', 'remove the original snapshots after saving the repaired ones')
    .option('-n, --dry-run', 'only print what would change')
    .addHelpText(
      'after',
      '\nRun "cairn repair index" first, so the index matches the packs. Data that is lost stays lost: back the files up again if they still exist.\n\nExamples:\n  cairn repair snapshots --dry-run\n  cairn repair snapshots --forget',
    )
    .action(async (snapshots: string[], opts: { forget?: boolean; dryRun?: boolean }) => {
      const term = ctx.term
      const { signal, dispose } = interruptSignal()
      try {
        const result = await runRepairSnapshots(ctx.repositoryOptions(), { snapshots, forget: opts.forget, dryRun: opts.dryRun, signal })
        if (term.json) term.jsonLine({ message_type: 'summary', ...result })
        else printSnapshotsResult(term, result, opts.dryRun === true, opts.forget === true)
      } finally {
        dispose()
      }
    })
}

function listed(term: Terminal, ids: string[], line: (id: string) => string, summary: string): void {
  if (ids.length === 0) return
  if (ids.length <= 20 || term.verbose > 0) for (const id of ids) term.info(line(id))
  else term.info(summary)
}

function printIndexResult(term: Terminal, r: RepairIndexResult): void {
  for (const u of r.unreadableIndexes) term.warn(`removing invalid index ${u.id}: ${u.error}`)
  listed(term, r.addedPacks, (id) => `adding pack file to index ${id}`, `adding ${r.addedPacks.length} pack files to the index`)
  listed(term, r.reindexedPacks, (id) => `reindexing pack file ${id} with unexpected size`, `reindexing ${r.reindexedPacks.length} pack files with unexpected size`)
  listed(term, r.removedPacks, (id) => `removing not found pack file ${id}`, `removing ${r.removedPacks.length} pack files that were not found`)
  for (const s of r.skippedPacks) term.warn(`skipped incomplete pack file ${s.id}: ${s.error}`)
  for (const k of r.keptPacks) term.warn(`kept the old index entries of pack ${k.id}, whose header cannot be read (${k.error})`)
  if (r.keptPacks.length > 0) {
    term.warn(`salvage the intact blobs of ${r.keptPacks.length === 1 ? 'that pack' : 'those packs'} with: cairn repair packs ${r.keptPacks.map((k) => k.id.slice(0, 8)).join(' ')}`)
  }
  term.info(`saved ${r.newIndexes.length} index files for ${r.packs} packs and ${r.blobs} blobs, removed ${r.oldIndexes.length} old index files`)
  term.info('done')
}

function printPacksResult(term: Terminal, r: RepairPacksResult): void {
  term.info(`wrote ${r.packsWritten} new pack${r.packsWritten === 1 ? '' : 's'} and a new index; removed ${r.packsDeleted} damaged pack file${r.packsDeleted === 1 ? '' : 's'}`)
  for (const e of r.deleteErrors) term.warn(`could not remove ${e}; "cairn prune" removes it later`)
  const unknown = r.packs.filter((p) => p.unknown)
  for (const p of unknown) {
    term.warn(`pack ${p.id.slice(0, 8)} was kept: its header cannot be read (${p.headerError}) and no index lists its blobs, so what it holds is unknown. Its copy pack-${p.id} in this folder is the one to keep safe`)
  }
  const lost = r.packs.reduce((n, p) => n + p.lost.length, 0)
  if (lost > 0) term.warn(`\n${lost} blob${lost === 1 ? ' is' : 's are'} lost. Back up the affected files again if they still exist, then run "cairn repair snapshots --forget" to drop what is still missing from the snapshots`)
  else if (unknown.length > 0) term.warn('\nThe blobs of the kept packs cannot be salvaged. Back up the affected files again if they still exist, then run "cairn repair snapshots --forget" to drop what is missing from the snapshots')
  else term.info('every blob was saved again: nothing is lost')
}

const CHANGE_TEXT = {
  'content-removed': (p: string) => `  file ${JSON.stringify(p)}: removed missing content`,
  'size-fixed': (p: string) => `  file ${JSON.stringify(p)}: fixed incorrect size`,
  'dir-emptied': (p: string) => `  dir ${JSON.stringify(p)}: replaced with empty directory`,
  'root-unreadable': (p: string) => `  dir ${JSON.stringify(p)}: not readable`,
} as const

function printSnapshotsResult(term: Terminal, r: RepairSnapshotsResult, dryRun: boolean, forget: boolean): void {
  for (const u of r.unreadable) term.warn(`skipping snapshot ${u.id.slice(0, 8)}: ${u.error}`)
  for (const s of r.repaired) {
    term.info(`\nsnapshot ${s.id.slice(0, 8)} of [${s.snapshot.paths.join(' ')}] at ${formatTime(s.snapshot.time)}`)
    for (const c of s.changes) term.info(CHANGE_TEXT[c.kind](c.path))
    const rootLost = s.changes.some((c) => c.kind === 'root-unreadable')
    if (rootLost) term.info(dryRun ? 'would delete empty snapshot' : `removed empty snapshot ${s.id.slice(0, 8)}`)
    else if (dryRun) term.info(forget ? 'would save new snapshot\nwould remove old snapshot' : 'would save new snapshot')
    else {
      term.info(s.reused ? `already repaired as snapshot ${s.newId!.slice(0, 8)} (by an earlier run)` : `saved new snapshot ${s.newId!.slice(0, 8)}`)
      if (s.removed) term.info(`removed old snapshot ${s.id.slice(0, 8)}`)
    }
  }
  term.info('')
  // A snapshot an earlier run repaired, and whose original stays, was not modified now.
  const n = r.repaired.filter((s) => dryRun || !s.reused || s.removed).length
  if (n === 0) term.info(dryRun ? 'no snapshots would be modified' : 'no snapshots were modified')
  else term.info(dryRun ? `would modify ${n} snapshots` : `modified ${n} snapshots`)
}
