import type { Command } from 'commander'
import { AppError } from '../../base/index.js'
import { initRepository, namesFromRepository, repositoryLocation, withFromRepository, type FromRepositoryFlags } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { addFromRepositoryOptions, fromRepositoryFlags } from './copy.js'
import { passwordInput } from '../output/prompt.js'

interface InitFlags extends FromRepositoryFlags {
  repositoryVersion: string
  copyChunkerParams?: boolean
}

/** restic's --repository-version: "latest" (or empty) and "stable" are 2, else a number from 1 to 2. */
function repositoryVersion(v: string): 1 | 2 {
  if (v === 'latest' || v === '' || v === 'stable') return 2
  if (!/^\d+$/.test(v)) throw new AppError('INVALID_ARGUMENT', `Invalid repository version "${v}"`, { hint: 'Use 1, 2, stable or latest' })
  const n = Number(v)
  if (n !== 1 && n !== 2) throw new AppError('INVALID_ARGUMENT', `Only repository versions between 1 and 2 are allowed, not ${v}`, { hint: 'Use 1, 2, stable or latest' })
  return n
}

export function registerInit(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('init')
    .description('Create a new repository')
    .option('--repository-version <v>', 'repository format version: 1, 2, stable or latest', 'stable')
    .option('--copy-chunker-params', 'copy the chunker parameters from the repository given with --from-repo (useful with the copy command)')
  addFromRepositoryOptions(cmd, 'to copy chunker parameters from').addHelpText(
    'after',
    '\nExamples:\n  cairn -r /srv/backup init\n  CAIRN_PASSWORD_FILE=~/.cairn-pass cairn -r /media/usb/cairn init\n' +
      '  cairn -r /media/usb/copy init --copy-chunker-params --from-repo /srv/backup --from-password-file ~/.src-pass',
  )
  cmd.action(async (opts: InitFlags) => {
    const version = repositoryVersion(opts.repositoryVersion)
    const o = ctx.repositoryOptions()
    const from = fromRepositoryFlags(opts)
    let polynomial: bigint | undefined
    if (opts.copyChunkerParams) {
      // read before the new repository's password is asked for, as restic does
      polynomial = await withFromRepository(o, from, 'none', async (src) => src.config.chunkerPolynomial)
    } else if (namesFromRepository(from)) {
      throw new AppError('INVALID_ARGUMENT', 'A source repository must only be given when copying the chunker parameters', {
        hint: 'Add --copy-chunker-params, or leave out --from-repo/--from-repository-file',
      })
    }
    // A new repository's password is typed twice: a typing mistake would lock the data away.
    const ask = passwordInput('repository password', (m) => ctx.notice(m), { twice: true })
    const repo = await initRepository({ ...o, prompt: () => ask('enter password for new repository: ') }, { version, ...(polynomial === undefined ? {} : { polynomial }) })
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
