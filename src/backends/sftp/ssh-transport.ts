import { readFileSync } from 'node:fs'
import { Socket } from 'node:net'
import { join } from 'node:path'
import type { AnyAuthMethod, Algorithms, ClientChannel } from 'ssh2'
import { AppError, errnoCode, lazyRequire } from '../../base/index.js'
import type { SftpSettings } from './config.js'
import type { SftpConnection } from './connection.js'
import { checkHostKey, keyFingerprint, keyTypeOf, knownHostsName, preferredHostKeyAlgorithms, readKnownHosts, type HostKeyVerdict } from './known-hosts.js'
import { authCandidates, type AuthCandidate } from './ssh-auth.js'
import { networkError } from './sftp-errors.js'
import { SftpClosedError, SftpSession } from './sftp-session.js'

const ssh2 = lazyRequire<typeof import('ssh2')>('ssh2')
const READY_TIMEOUT_MS = 20_000
const KEEPALIVE_MS = 15_000
const CLOSE_WAIT_MS = 2_000

/**
 * Connects with ssh2, checks the server's host key against known_hosts, logs in with the agent
 * or a key, and opens the `sftp` subsystem. Refuses unknown and changed host keys (AppError
 * PERMISSION_DENIED naming the fingerprint and how to trust it), a failed login is
 * PERMISSION_DENIED, and a refused, timed-out or dropped connection is NETWORK.
 */
export async function connectSsh(s: SftpSettings, onMessage?: (m: string) => void): Promise<SftpConnection> {
  // Both are read at once; when both fail, known_hosts is reported, every time.
  const [hosts, keys] = await Promise.allSettled([readKnownHostsOrFail(s), authCandidates(s, onMessage)])
  if (hosts.status === 'rejected') throw hosts.reason
  if (keys.status === 'rejected') throw keys.reason
  const entries = hosts.value
  const candidates = keys.value
  const target = `${s.user}@${s.host}${s.port === 22 ? '' : `:${s.port}`}`
  if (candidates.length === 0) {
    throw new AppError('PERMISSION_DENIED', `Cannot log in to "${target}": no SSH agent is running and no usable private key is in ${s.home}/.ssh`, {
      hint: 'Start ssh-agent and add a key (ssh-add), name a key with -o sftp.key=PATH, or let ssh connect with -o sftp.command="ssh … -s sftp"',
    })
  }
  const client = new (ssh2().Client)()
  let hostProblem: AppError | undefined
  let lastError: Error | undefined
  let clientClosed = false
  client.on('error', (err: Error) => (lastError = err)) // ssh2 emits errors after connecting too
  client.on('close', () => (clientClosed = true))
  // Without TCP_NODELAY, Nagle's algorithm holds back small requests while a reply is due:
  // every round trip that is not pipelined then takes 40 ms.
  const sock = new Socket()
  sock.setNoDelay(true)
  const queue = [...candidates]
  const tried: string[] = []
  const prefer = preferredHostKeyAlgorithms(entries, s.host, s.port)

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error & { level?: string }) => {
      cleanup()
      sock.destroy()
      reject(hostProblem ?? connectError(err, s, target, tried))
    }
    const onClose = () => {
      cleanup()
      sock.destroy()
      reject(hostProblem ?? networkError(`Cannot connect to "${s.host}:${s.port}": the server closed the connection during the SSH handshake`))
    }
    const onReady = () => {
      cleanup()
      resolve()
    }
    const cleanup = () => {
      client.off('error', onError)
      client.off('close', onClose)
      client.off('ready', onReady)
    }
    client.on('error', onError)
    client.on('close', onClose)
    client.on('ready', onReady)
    sock.connect({ host: s.host, port: s.port })
    client.connect({
      sock,
      host: s.host,
      port: s.port,
      username: s.user,
      readyTimeout: READY_TIMEOUT_MS,
      keepaliveInterval: KEEPALIVE_MS,
      keepaliveCountMax: 4,
      hostVerifier: (key: Buffer) => {
        const verdict = checkHostKey(entries, s.host, s.port, key)
        if (verdict.status === 'known') return true
        hostProblem = hostKeyError(verdict, key, s)
        return false
      },
      authHandler: (_methodsLeft, _partial, next) => {
        const c = queue.shift()
        if (c === undefined) return next(false as unknown as AnyAuthMethod)
        tried.push(c.label)
        next(toSsh2(c, s.user))
      },
      ...(prefer.length === 0 ? {} : { algorithms: { serverHostKey: { remove: prefer, prepend: prefer, append: [] } } as unknown as Algorithms }),
    })
  })

  let channel: ClientChannel
  try {
    channel = await new Promise<ClientChannel>((resolve, reject) => {
      client.subsys('sftp', (err, ch) => (err ? reject(err) : resolve(ch)))
    })
  } catch (err) {
    client.end()
    if (clientClosed) throw networkError(`Cannot start SFTP on "${target}": the connection was lost (${(err as Error).message})`, err)
    throw new AppError('UNSUPPORTED', `Cannot start SFTP on "${target}": ${(err as Error).message}`, {
      hint: 'The SSH server does not offer the "sftp" subsystem; enable it in sshd_config (Subsystem sftp internal-sftp)',
      cause: err,
    })
  }
  channel.on('error', (err: Error) => (lastError = err))
  let session: SftpSession
  try {
    session = await SftpSession.start(channel, channel, { closeDetail: () => lastError?.message })
  } catch (err) {
    client.end()
    if (err instanceof SftpClosedError) throw networkError(`Cannot start SFTP on "${target}": ${err.message}`, err)
    throw err
  }
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
  session.onClose(() => client.end())
  client.on('close', () => channel.destroy())
  return {
    session,
    async close() {
      session.end()
      client.end()
      const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), CLOSE_WAIT_MS).unref())
      if ((await Promise.race([closed, timer])) === 'timeout') client.destroy()
    },
  }
}

function toSsh2(c: AuthCandidate, username: string): AnyAuthMethod {
  return c.kind === 'agent' ? { type: 'agent', username, agent: c.socket } : { type: 'publickey', username, key: c.key }
}

async function readKnownHostsOrFail(s: SftpSettings) {
  try {
    return await readKnownHosts(s.knownHostsFiles)
  } catch (err) {
    throw new AppError('INVALID_ARGUMENT', `Cannot read the known hosts file: ${(err as Error).message}`, {
      hint: 'Check the path given with -o sftp.known-hosts, or the permissions of ~/.ssh/known_hosts',
      cause: err,
    })
  }
}

function connectError(err: Error & { level?: string }, s: SftpSettings, target: string, tried: string[]): AppError {
  if (err.level === 'client-authentication') {
    return new AppError('PERMISSION_DENIED', `Cannot log in to "${target}": the server refused ${tried.length === 0 ? 'every method' : `every key offered (${tried.join(', ')})`}`, {
      hint: `Add your public key to ~/.ssh/authorized_keys of "${s.user}" on the server (ssh-copy-id), or name the right key with -o sftp.key=PATH`,
      cause: err,
    })
  }
  const server = `"${s.host}:${s.port}"`
  if (err.level === 'client-timeout') {
    return networkError(`Cannot connect to ${server}: no SSH handshake within ${READY_TIMEOUT_MS / 1000} s`, err)
  }
  const code = errnoCode(err)
  const reasons: Record<string, string> = {
    ECONNREFUSED: 'connection refused (is sshd running on that port?)',
    ENOTFOUND: 'host name not found',
    EAI_AGAIN: 'host name lookup failed for now',
    ETIMEDOUT: 'connection timed out',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ECONNRESET: 'connection reset by the server',
  }
  const reason = code !== undefined && reasons[code] !== undefined ? `${reasons[code]} (${code})` : err.message
  if (code === 'ENOTFOUND') return networkError(`Cannot connect to ${server}: ${reason}`, err, unknownHostHint(s))
  return networkError(`Cannot connect to ${server}: ${reason}`, err)
}

/**
 * A name the resolver does not know is often a Host alias of ~/.ssh/config, which restic reaches
 * through the ssh program and cairn's own client does not read: say so, and how to use it.
 */
function unknownHostHint(s: SftpSettings): string {
  const viaSsh = `-o sftp.command="ssh ${s.user}@${s.host} -s sftp"`
  let config = ''
  try {
    config = readFileSync(join(s.home, '.ssh', 'config'), 'utf8')
  } catch {
    // no config file: the name is simply unknown
  }
  const alias = config.split('\n').some((line) => {
    const m = /^\s*Host\s+(.+)$/i.exec(line)
    return m !== null && m[1].split(/\s+/).includes(s.host)
  })
  if (alias) {
    return `"${s.host}" is a Host of ~/.ssh/config, which cairn's SSH client does not read: give its HostName (and Port, User) in the URL, or go through ssh with ${viaSsh}`
  }
  return `Check the host name; a Host alias of ~/.ssh/config works only through ssh: ${viaSsh}`
}

function hostKeyError(v: Exclude<HostKeyVerdict, { status: 'known' }>, key: Buffer, s: SftpSettings): AppError {
  const type = keyTypeOf(key)
  const fp = keyFingerprint(key)
  const name = knownHostsName(s.host, s.port)
  const file = s.knownHostsFiles[0]
  const portFlag = s.port === 22 ? '' : `-p ${s.port} `
  if (v.status === 'unknown') {
    const also = v.knownTypes.length === 0 ? '' : `; known_hosts only has ${v.knownTypes.join(', ')} keys for it`
    return new AppError('PERMISSION_DENIED', `Cannot connect to "${name}": its host key is not known (${type} ${fp})${also}`, {
      hint:
        `If ${fp} is the fingerprint of your server's key, trust it with "ssh-keyscan ${portFlag}${s.host} >> ${file}", ` +
        `or connect once with "ssh ${portFlag}${s.user}@${s.host}" and accept the key`,
    })
  }
  const where = `${v.entry.file} line ${v.entry.line}`
  if (v.status === 'revoked') {
    return new AppError('PERMISSION_DENIED', `Refusing to connect to "${name}": its host key ${type} ${fp} is marked @revoked in ${where}`, {
      hint: 'The server is using a key that was revoked; ask its administrator',
    })
  }
  return new AppError(
    'PERMISSION_DENIED',
    `WARNING: the host key of "${name}" has CHANGED: refusing to connect. The server offered ${type} ${fp}, ` +
      `but ${where} holds a different ${v.entry.keyType} key. Someone could be intercepting the connection (man-in-the-middle), ` +
      'or the server was reinstalled',
    {
      hint: `Only if you know the key changed legitimately: remove the old entry with "ssh-keygen -R '${name}' -f ${v.entry.file}", then trust the new key`,
    },
  )
}
