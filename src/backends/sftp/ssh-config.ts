import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

/** What ~/.ssh/config says of a host, as `ssh -G` evaluates it (Host and Match blocks, defaults). */
export interface SshHostConfig {
  /** The file it was read from (`ssh -F`). */
  file: string
  hostname: string
  port: number
  user: string
  /** IdentityFile entries, `~` expanded; files that do not exist are left to the caller. */
  identityFiles: string[]
  /** A ProxyJump or ProxyCommand is set: only the ssh program can get there. */
  proxied: boolean
}

/**
 * The settings ~/.ssh/config (under `home`) gives `host`, with `user` and `port` from the
 * repository location taking precedence as they do on ssh's command line; undefined when there
 * is no such file or the ssh program cannot evaluate it. restic reaches SFTP servers through
 * ssh, so a location such as `sftp:nas:/srv/restic` may rely on that file's HostName, Port,
 * User and IdentityFile.
 */
export function sshHostConfig(home: string, host: string, user?: string, port?: number): SshHostConfig | undefined {
  const file = join(home, '.ssh', 'config')
  if (!existsSync(file)) return undefined
  let text: string
  try {
    const args = ['-G', '-F', file, ...(user === undefined ? [] : ['-l', user]), ...(port === undefined ? [] : ['-p', String(port)]), '--', host]
    text = execFileSync('ssh', args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] })
  } catch {
    return undefined // no ssh program, or a config it refuses: the location is taken as it is
  }
  const values = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    const i = line.indexOf(' ')
    if (i <= 0) continue
    const key = line.slice(0, i).toLowerCase()
    values.set(key, [...(values.get(key) ?? []), line.slice(i + 1).trim()])
  }
  const one = (key: string) => values.get(key)?.[0]
  const set = (key: string) => one(key) !== undefined && one(key)!.toLowerCase() !== 'none'
  const portValue = Number(one('port'))
  return {
    file,
    hostname: one('hostname') ?? host,
    port: Number.isInteger(portValue) && portValue > 0 ? portValue : 22,
    user: one('user') ?? user ?? '',
    identityFiles: (values.get('identityfile') ?? []).map((f) => (f.startsWith('~/') ? join(home, f.slice(2)) : f)),
    proxied: set('proxyjump') || set('proxycommand'),
  }
}
