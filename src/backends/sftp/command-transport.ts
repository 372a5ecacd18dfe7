import { spawn } from 'node:child_process'
import { basename } from 'node:path'
import { AppError, errnoCode } from '../../base/index.js'
import type { SftpConnection } from './connection.js'
import { networkError } from './sftp-errors.js'
import { SftpClosedError, SftpSession } from './sftp-session.js'

const STDERR_LINES_KEPT = 10
const CLOSE_WAIT_MS = 2_000

/**
 * Runs `argv` (restic's `-o sftp.command`, or `ssh host … -s sftp`) and speaks SFTP over its
 * stdin and stdout, as restic does; ssh itself then handles keys, known_hosts and its config.
 * Its stderr lines go to `onMessage`. When the program exits before the session starts, the
 * error carries its last stderr lines: PERMISSION_DENIED when ssh says the login or the host
 * key was refused, INVALID_ARGUMENT when the program ended without an error yet spoke no SFTP,
 * NETWORK otherwise (final when ssh could not resolve the host name, as ENOTFOUND is). The message names only the program, never its arguments,
 * which may hold secrets.
 */
export async function startCommand(argv: readonly string[], onMessage?: (m: string) => void): Promise<SftpConnection> {
  const program = basename(argv[0])
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
  const stderrTail: string[] = []
  let partial = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (text: string) => {
    const lines = (partial + text).split(/\r?\n/)
    partial = lines.pop() ?? ''
    for (const line of lines) {
      if (line.trim() === '') continue
      stderrTail.push(line)
      if (stderrTail.length > STDERR_LINES_KEPT) stderrTail.shift()
      onMessage?.(`${program}: ${line}`)
    }
  })
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  child.stdin.on('error', () => {}) // EPIPE when the child is gone; the session reports it
  const lastWords = () => {
    const tail = [...stderrTail, partial].filter((l) => l.trim() !== '').join(' / ')
    const how = child.exitCode !== null ? `${program} exited with code ${child.exitCode}` : child.signalCode !== null ? `${program} was killed by ${child.signalCode}` : `${program} closed its output`
    return tail === '' ? how : `${how}: ${tail}`
  }

  const spawnFailed = new Promise<never>((_, reject) => {
    child.once('error', (err) => {
      const why = errnoCode(err) === 'ENOENT' ? 'program not found' : err.message
      reject(
        new AppError('INVALID_ARGUMENT', `Cannot run the SFTP command "${program}": ${why}`, {
          hint: 'Check -o sftp.command (or that ssh is installed, for -o sftp.args)',
          cause: err,
        }),
      )
    })
  })
  let session: SftpSession
  try {
    session = await Promise.race([SftpSession.start(child.stdout, child.stdin, { closeDetail: lastWords }), spawnFailed])
  } catch (err) {
    if (!(err instanceof SftpClosedError)) {
      child.kill('SIGKILL')
      throw err
    }
    const timer = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())
    await Promise.race([exited, timer])
    child.kill('SIGKILL')
    const said = lastWords()
    const message = `Cannot start an SFTP session with "${program}": ${said}`
    if (/permission denied|host key verification failed|authentication failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(said)) {
      throw new AppError('PERMISSION_DENIED', message, {
        hint: 'ssh refused the login or the host key; run the same ssh command by hand to see why',
        cause: err,
      })
    }
    // A host name that does not resolve stays so: NETWORK, but final (ENOTFOUND), as the built-in client's.
    if (/could not resolve hostname|name or service not known|no address associated with hostname/i.test(said)) {
      throw new AppError('NETWORK', message, { hint: 'Check the host name in the repository location, or in your ssh config', cause: Object.assign(new Error(said), { code: 'ENOTFOUND' }) })
    }
    if (child.exitCode === 0) {
      throw new AppError('INVALID_ARGUMENT', `${message}: the command ended without speaking SFTP`, {
        hint: 'The command must start an SFTP session on its standard input and output, as "ssh host -s sftp" does',
        cause: err,
      })
    }
    throw networkError(message, err)
  }
  session.onClose(() => child.stdin.end())
  return {
    session,
    async close() {
      session.end()
      for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
        if (child.exitCode !== null || child.signalCode !== null) return
        const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), CLOSE_WAIT_MS).unref())
        if ((await Promise.race([exited.then(() => 'exited' as const), timer])) === 'exited') return
        child.kill(signal)
      }
      await exited
    },
  }
}
