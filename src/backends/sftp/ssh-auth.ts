import { readFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import type { ParsedKey } from 'ssh2'
import { AppError, errnoCode, lazyRequire } from '../../base/index.js'
import type { SftpSettings } from './config.js'


const ssh2 = lazyRequire<typeof import('ssh2')>('ssh2')
/** One way to log in, tried in order. */
export type AuthCandidate = { kind: 'agent'; socket: string; label: string } | { kind: 'key'; key: ParsedKey; label: string }

/** OpenSSH's default identity files that ssh2 can use, in ssh's order of preference. */
const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa']

/**
 * The login methods to try: the key named by `-o sftp.key` (which must be usable), then the
 * SSH agent ($SSH_AUTH_SOCK), then, without `sftp.key`, the IdentityFiles ~/.ssh/config names
 * for the host and the default keys in ~/.ssh (those that exist). Keys
 * protected by a passphrase are skipped with a note through `onMessage`, since there is no
 * one to ask; the agent is the way to use them.
 */
export async function authCandidates(s: SftpSettings, onMessage?: (m: string) => void): Promise<AuthCandidate[]> {
  const out: AuthCandidate[] = []
  if (s.keyFile !== undefined) out.push({ kind: 'key', key: await explicitKey(s.keyFile), label: s.keyFile })
  if (s.agentSocket !== undefined) {
    // ssh2 gives up on the whole connection when the agent cannot be reached, so look first.
    const problem = await unreachable(s.agentSocket)
    if (problem === undefined) out.push({ kind: 'agent', socket: s.agentSocket, label: 'ssh-agent' })
    else onMessage?.(`Not using ssh-agent: cannot reach it at SSH_AUTH_SOCK="${s.agentSocket}" (${problem})`)
  }
  if (s.keyFile === undefined) {
    const files = [...(s.identityFiles ?? []), ...DEFAULT_KEYS.map((name) => join(s.home, '.ssh', name))]
    for (const file of new Set(files)) {
      const parsed = await loadKey(file)
      if (parsed === undefined) continue
      if (parsed instanceof Error) {
        onMessage?.(
          /passphrase/i.test(parsed.message)
            ? `Skipping SSH key "${file}": it is protected by a passphrase, which cairn cannot ask for; add it to ssh-agent (ssh-add ${file}) to use it`
            : `Skipping SSH key "${file}": ${parsed.message}`,
        )
        continue
      }
      out.push({ kind: 'key', key: parsed, label: file })
    }
  }
  return out
}

/** Why the agent's socket cannot be connected to, or undefined when it can. */
function unreachable(socket: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const conn = connect(socket)
    conn.setTimeout(2000, () => {
      conn.destroy()
      resolve('no answer within 2 s')
    })
    conn.once('connect', () => {
      conn.destroy()
      resolve(undefined)
    })
    conn.once('error', (err) => resolve(errnoCode(err) ?? err.message))
  })
}

/** The parsed private key, an Error when it cannot be used, or undefined when the file is missing. */
async function loadKey(file: string): Promise<ParsedKey | Error | undefined> {
  let data: Buffer
  try {
    data = await readFile(file)
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined
    return err instanceof Error ? err : new Error(String(err))
  }
  const parsed = ssh2().utils.parseKey(data)
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (key instanceof Error) return key
  if (key === undefined || !key.isPrivateKey()) return new Error('not a private key')
  return key
}

async function explicitKey(file: string): Promise<ParsedKey> {
  const key = await loadKey(file)
  if (key === undefined) {
    throw new AppError('INVALID_ARGUMENT', `Cannot read the SSH key "${file}" given with -o sftp.key: no such file`, {
      hint: 'Give the path of a private key file, for example ~/.ssh/id_ed25519',
    })
  }
  if (key instanceof Error) {
    const encrypted = /passphrase/i.test(key.message)
    throw new AppError(
      'INVALID_ARGUMENT',
      `Cannot use the SSH key "${file}" given with -o sftp.key: ${encrypted ? 'it is protected by a passphrase' : key.message}`,
      {
        hint: encrypted
          ? `Add the key to ssh-agent (ssh-add ${file}) and leave out -o sftp.key, or use -o sftp.command="ssh … -s sftp"`
          : 'Give the path of an OpenSSH or PEM private key file',
      },
    )
  }
  return key
}
