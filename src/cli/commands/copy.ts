import type { Command } from 'commander'
import { copySnapshots, interruptSignal, withFromRepository, forWriting, withRepository, type CopyProgress, type CopyResult, type FromRepositoryFlags } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { formatTime } from '../output/format.js'
import { collect } from '../options.js'
import type { Terminal } from '../output/terminal.js'

interface CopyFlags extends FromRepositoryFlags {
  host?: string[]
  tag?: string[]
  path?: string[]
}

/**
 * restic's `--from-*` flags for a second repository (copy's source, init's chunker donor).
 * `role` completes "source repository …" in the help texts.
 */
export function addFromRepositoryOptions(cmd: Command, role: string): Command {
  return cmd
    .option('--from-repo <repository>', `source repository ${role} (also CAIRN_FROM_REPOSITORY, RESTIC_FROM_REPOSITORY)`)
    .option('--from-repository-file <file>', `file holding the source repository location ${role} (also RESTIC_FROM_REPOSITORY_FILE)`)
    .option('--from-password-file <file>', 'file to read the source repository password from (also RESTIC_FROM_PASSWORD_FILE; or set RESTIC_FROM_PASSWORD)')
    .option('--from-password-command <command>', 'shell command printing the source repository password (also RESTIC_FROM_PASSWORD_COMMAND)')
    .option('--from-key-hint <id>', 'key ID to try first on the source repository (also RESTIC_FROM_KEY_HINT)')
}

/** The `--from-*` values of a command's parsed options. */
export function fromRepositoryFlags(opts: FromRepositoryFlags): FromRepositoryFlags {
  const { fromRepo, fromRepositoryFile, fromPasswordFile, fromPasswordCommand, fromKeyHint } = opts
  return { fromRepo, fromRepositoryFile, fromPasswordFile, fromPasswordCommand, fromKeyHint }
}

export function registerCopy(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('copy')
    .description('Copy snapshots from one repository to another')
    .argument('[snapshots...]', 'source snapshot IDs, prefixes or "latest"; without them, every snapshot matching the filters')
  addFromRepositoryOptions(cmd, 'to copy snapshots from')
    .option('-H, --host <host>', 'only snapshots of this host, when no snapshot ID is given (repeatable)', collect)
    .option('--tag <taglist>', 'only snapshots with all these tags, when no snapshot ID is given (repeatable)', collect)
    .option('--path <path>', 'only snapshots including this (absolute) path, when no snapshot ID is given (repeatable)', collect)
    .addHelpText(
      'after',
      '\nThe repository given with -r receives the snapshots; --from-repo names where they come from.\n' +
        'Every blob is read and re-encrypted (the repositories have different keys), so a copy reads and\n' +
        'writes whole snapshots. Snapshots copied before are skipped. Create the destination with\n' +
        '"init --copy-chunker-params --from-repo SRC" so that files backed up into both deduplicate.\n\n' +
        'Examples:\n  cairn -r /media/usb/backup copy --from-repo /srv/backup --from-password-file ~/.src-pass\n' +
        '  RESTIC_FROM_PASSWORD=… cairn -r sftp:nas:/backup copy --from-repo /srv/backup latest',
    )
    .action(async (snapshots: string[], opts: CopyFlags) => {
      const term = ctx.term
      const { signal, dispose } = interruptSignal()
      const base = ctx.repositoryOptions()
      try {
        const result = await withFromRepository(base, fromRepositoryFlags(opts), 'shared', (src) =>
          // restic always locks the destination, --no-lock or not
          withRepository(forWriting(base), 'shared', (dst) =>
            copySnapshots(src, dst, { snapshots, filter: { hosts: opts.host, tags: opts.tag, paths: opts.path }, signal, progress: copyProgress(term) }, (m) =>
              term.warn(m),
            ),
          ),
        )
        term.done()
        if (term.json) printJson(term, result)
        else if (term.verbose > 0) {
          term.info(`\n${result.copied.length} snapshots copied, ${result.skipped.length} skipped: ${result.dataBlobs} data and ${result.treeBlobs} tree blobs added`)
        }
      } finally {
        dispose()
      }
    })
}

/** restic's copy messages, plus a packs line on a terminal. */
function copyProgress(term: Terminal): CopyProgress {
  const short = (id: string) => id.slice(0, 8)
  return {
    snapshotStarted: (e) => term.info(`\nsnapshot ${short(e.id)} of [${e.snapshot.paths.join(' ')}] at ${formatTime(e.snapshot.time)}`),
    snapshotSkipped: (e, copyId) => term.info(`skipping source snapshot ${short(e.id)}, was already copied to snapshot ${short(copyId)}`),
    copyStarted: () => term.info('  copy started, this may take a while...'),
    packRead: (done, total) => term.status(`${done} / ${total} packs copied`),
    snapshotCopied: (_e, id) => term.info(`snapshot ${short(id)} saved`),
  }
}

/** restic 0.14's copy has no JSON output: one line per snapshot, then a summary. */
function printJson(term: Terminal, r: CopyResult): void {
  for (const s of r.skipped) term.jsonLine({ message_type: 'snapshot_skipped', source_id: s.sourceId, copy_id: s.copyId })
  for (const c of r.copied) term.jsonLine({ message_type: 'snapshot_copied', source_id: c.sourceId, snapshot_id: c.id })
  term.jsonLine({
    message_type: 'summary',
    snapshots_copied: r.copied.length,
    snapshots_skipped: r.skipped.length,
    data_blobs: r.dataBlobs,
    tree_blobs: r.treeBlobs,
    bytes_copied: r.bytes,
    packs_read: r.packsRead,
  })
}
