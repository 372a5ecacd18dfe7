import { homedir, userInfo } from 'node:os'
import { join } from 'node:path'
import { AppError } from '../../base/index.js'
import { anyText, nonBlank, parseBackendOptions, wholeNumber } from '../options.js'
import type { BackendOptions, RepositoryLocation } from '../registry.js'
import { splitShellWords } from './shell-split.js'
import { sshHostConfig } from './ssh-config.js'

export type SftpLocation = Extract<RepositoryLocation, { scheme: 'sftp' }>

/** restic's `-o sftp.*` options (`command`, `args`, `connections`) plus cairn's `key` and `known-hosts`. */
const SFTP_OPTIONS = {
  command: (text: string) => nonBlank('the command is empty')(text).trim(),
  args: anyText,
  connections: wholeNumber(1, 128),
  key: nonBlank('the path is empty'),
  'known-hosts': nonBlank('the path is empty'),
}

/** Everything the sftp backend needs to connect, resolved from the location, `-o` options and environment. */
export interface SftpSettings {
  /** Login name: from the location, else $USER, else the current user. */
  user: string
  host: string
  port: number
  /** The repository directory on the server; relative paths start at the login directory. */
  path: string
  /** `-o sftp.connections`, default 5 as in restic. */
  connections: number
  /** The argv of an ssh child to speak SFTP over (sftp.command, or ssh with sftp.args); undefined: ssh2. */
  command?: string[]
  /** `-o sftp.key`: the one private key to log in with (the agent is still asked). */
  keyFile?: string
  /** IdentityFile entries of ~/.ssh/config for this host, tried before the default keys. */
  identityFiles?: string[]
  /** `-o sftp.known-hosts`, else ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts. */
  knownHostsFiles: string[]
  /** The directory holding `.ssh/`. */
  home: string
  /** $SSH_AUTH_SOCK. */
  agentSocket?: string
}

/**
 * Resolves the settings for an sftp location. Throws AppError INVALID_ARGUMENT for an unknown
 * `sftp.*` option, a bad value, or an sftp.command that cannot be split into words.
 */
export function sftpSettings(loc: SftpLocation, options: BackendOptions): SftpSettings {
  const env = options.env ?? process.env
  const o = parseBackendOptions('sftp', SFTP_OPTIONS, options.extended)
  if (o.command !== undefined && o.args !== undefined) {
    throw new AppError('INVALID_ARGUMENT', 'Invalid options: "-o sftp.command" and "-o sftp.args" cannot be used together', {
      hint: 'Put the extra ssh arguments into sftp.command',
    })
  }
  const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir()
  let port = loc.port ?? 22
  let host = loc.host.replace(/^\[(.*)\]$/, '$1') // URL syntax brackets IPv6 addresses
  let user = loc.user
  let identityFiles: string[] | undefined
  let command: string[] | undefined
  if (o.command !== undefined) command = words('sftp.command', o.command)
  else if (o.args !== undefined) {
    command = ['ssh', loc.host]
    if (loc.port !== undefined) command.push('-p', String(port))
    if (loc.user !== undefined) command.push('-l', loc.user)
    command.push(...words('sftp.args', o.args), '-s', 'sftp')
  } else {
    // Without a command of its own, what ~/.ssh/config says of the host applies, as it does to
    // restic's ssh; a host behind a ProxyJump is reached through the ssh program itself.
    const cfg = sshHostConfig(home, host, loc.user, loc.port)
    if (cfg?.proxied === true) {
      command = ['ssh', '-F', cfg.file, ...(loc.port === undefined ? [] : ['-p', String(port)]), ...(loc.user === undefined ? [] : ['-l', loc.user]), loc.host, '-s', 'sftp']
    } else if (cfg !== undefined) {
      host = cfg.hostname
      port = cfg.port
      user = cfg.user === '' ? user : cfg.user
      identityFiles = cfg.identityFiles
    }
  }
  return {
    user: user ?? env.USER ?? userInfo().username,
    host,
    port,
    path: loc.path,
    connections: o.connections ?? 5,
    ...(command === undefined ? {} : { command }),
    ...(o.key === undefined ? {} : { keyFile: o.key }),
    ...(identityFiles === undefined ? {} : { identityFiles }),
    knownHostsFiles: o['known-hosts'] !== undefined ? [o['known-hosts']] : [join(home, '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'],
    home,
    ...(env.SSH_AUTH_SOCK === undefined || env.SSH_AUTH_SOCK === '' ? {} : { agentSocket: env.SSH_AUTH_SOCK }),
  }
}

/** `sftp:user@host:/path`, or `sftp://user@host:port//path` when a port was given: for messages. */
export function formatSftpLocation(loc: SftpLocation): string {
  const user = loc.user === undefined ? '' : `${loc.user}@`
  if (loc.port === undefined) return `sftp:${user}${loc.host}:${loc.path}`
  const host = loc.host.includes(':') && !loc.host.startsWith('[') ? `[${loc.host}]` : loc.host
  return `sftp://${user}${host}:${loc.port}/${loc.path}`
}

function words(option: string, value: string): string[] {
  let out: string[]
  try {
    out = splitShellWords(value)
  } catch (err) {
    throw new AppError('INVALID_ARGUMENT', `Invalid option "-o ${option}": ${(err as Error).message}`, {
      hint: 'Close the quote, or quote the whole option for your shell only',
    })
  }
  if (out.length === 0) throw new AppError('INVALID_ARGUMENT', `Invalid option "-o ${option}": no command given`)
  return out
}
