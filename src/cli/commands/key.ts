import type { Command } from 'commander'
import { addKey, changePassword, listKeys, readNewPassword, removeKey, forWriting, withRepository } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { goJson } from '../output/terminal.js'
import { formatTime, table } from '../output/format.js'
import { passwordInput } from '../output/prompt.js'

interface KeyFlags {
  newPasswordFile?: string
  user?: string
  host?: string
}

export function registerKey(program: Command, ctx: CommandContext): void {
  const key = program
    .command('key')
    .description('Manage keys (passwords) of the repository')
    .option('--new-password-file <file>', 'file from which to read the new password (also CAIRN_NEW_PASSWORD)')
    .option('--user <name>', 'the username for new keys')
    .option('--host <name>', 'the hostname for new keys')
    .addHelpText('after', '\nExamples:\n  cairn key list\n  cairn key add --new-password-file ~/second-pass\n  cairn key remove 1a2b3c4d\n  cairn key passwd')
  const flags = (cmd: Command): KeyFlags => ({ ...key.opts<KeyFlags>(), ...cmd.opts<KeyFlags>() })
  const newPassword = (f: KeyFlags) =>
    readNewPassword({
      file: f.newPasswordFile,
      prompt: passwordInput('new password', (m) => ctx.notice(m), { twice: true, hint: 'Pipe the new password into the command, or use --new-password-file FILE or CAIRN_NEW_PASSWORD' }),
    })

  key
    .command('list')
    .description('List the keys; * marks the one in use')
    .addHelpText('after', '\nExamples:\n  cairn key list\n  cairn key list --json')
    .action(async () => {
      await withRepository(ctx.repositoryOptions(), 'shared', async (repo) => {
        const keys = await listKeys(repo, (m) => ctx.term.warn(m))
        if (ctx.term.json) {
          ctx.term.out(goJson(JSON.stringify(keys.map((k) => ({ current: k.current, id: k.id.slice(0, 8), userName: k.username, hostName: k.hostname, created: formatTime(k.created) })))))
          return
        }
        const rows = keys.map((k) => [(k.current ? '*' : ' ') + k.id.slice(0, 8), k.username, k.hostname, formatTime(k.created)])
        ctx.term.out(table([' ID', 'User', 'Host', 'Created'], rows))
      })
    })

  key
    .command('add')
    .description('Add a key for another password')
    .addHelpText('after', '\nExamples:\n  cairn key add\n  cairn key add --new-password-file ~/second-pass --user backup --host nas')
    .option('--new-password-file <file>', 'file from which to read the new password')
    .option('--user <name>', 'the username for the new key')
    .option('--host <name>', 'the hostname for the new key')
    .action(async (_opts: KeyFlags, cmd: Command) => {
      const f = flags(cmd)
      await withRepository(forWriting(ctx.repositoryOptions()), 'shared', async (repo) => {
        const id = await addKey(repo, { password: await newPassword(f), username: f.user, hostname: f.host })
        ctx.term.info(`saved new key as ${id}`)
      })
    })

  key
    .command('remove')
    .description('Remove a key (not the one in use)')
    .addHelpText('after', '\nExamples:\n  cairn key list\n  cairn key remove 1a2b3c4d')
    .argument('<id>', 'key ID or unique prefix')
    .action(async (id: string) => {
      await withRepository(forWriting(ctx.repositoryOptions()), 'exclusive', async (repo) => {
        const removed = await removeKey(repo, id)
        ctx.term.info(`removed key ${removed}`)
      })
    })

  key
    .command('passwd')
    .description('Change the password: add a key for the new one, remove the one in use')
    .addHelpText('after', '\nExamples:\n  cairn key passwd\n  cairn key passwd --new-password-file ~/new-pass --user backup --host nas')
    .option('--new-password-file <file>', 'file from which to read the new password')
    .option('--user <name>', 'the username for the new key')
    .option('--host <name>', 'the hostname for the new key')
    .action(async (_opts: KeyFlags, cmd: Command) => {
      const f = flags(cmd)
      await withRepository(forWriting(ctx.repositoryOptions()), 'exclusive', async (repo) => {
        const { newId } = await changePassword(repo, { password: await newPassword(f), username: f.user, hostname: f.host })
        ctx.term.info(`saved new key as ${newId}`)
      })
    })
}
