/**
 * Test helpers: a throwaway OpenSSH server on 127.0.0.1 with generated host and user keys.
 * Tests only; never imported by library code.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const execFileP = promisify(execFile)

export const SSHD = '/usr/sbin/sshd'

/** A running sshd; `stop()` ends it and removes its directory. */
export interface TestSshd {
  readonly host: '127.0.0.1'
  readonly port: number
  /** The user the tests log in as: the user running them. */
  readonly user: string
  /** The temp directory holding keys, config and anything the test puts there. */
  readonly dir: string
  /** The private key whose public half is in authorized_keys (no passphrase). */
  readonly userKey: string
  /** A known_hosts file holding only `knownHostsLine`. */
  readonly knownHostsFile: string
  /** `[127.0.0.1]:PORT ssh-ed25519 AAAA…` */
  readonly knownHostsLine: string
  /** The host key's `SHA256:…` fingerprint, as ssh prints it. */
  readonly hostKeyFingerprint: string
  /** restic's `-o sftp.command=…` for this server: ssh with the user key and known_hosts, no prompts. */
  readonly sftpCommand: string
  /** `-o` options for cairn's own ssh2 transport: `sftp.key` and `sftp.known-hosts`. */
  readonly extended: Readonly<Record<string, string>>
  /** Kills sshd and every session process it started (SIGKILL), as a crashed server would go. */
  kill(): Promise<void>
  /** Starts sshd again on the same port with the same keys. */
  restart(): Promise<void>
  /** Kills the server and removes its directory. */
  stop(): Promise<void>
}

/** Why the sftp tests cannot run here (sshd or ssh missing), or false when they can. */
export async function sshdMissing(): Promise<string | false> {
  const missing: string[] = []
  if (!existsSync(SSHD)) missing.push(`${SSHD} is not installed (apt-get install openssh-server)`)
  for (const tool of ['ssh', 'ssh-keygen']) {
    try {
      await execFileP('sh', ['-c', `command -v ${tool}`])
    } catch {
      missing.push(`${tool} is not installed (apt-get install openssh-client)`)
    }
  }
  if (missing.length === 0 && !existsSync('/run/sshd') && process.getuid?.() !== 0) {
    missing.push('sshd needs /run/sshd, which only root can create')
  }
  return missing.length > 0 ? missing.join('; ') : false
}

/** Makes an unencrypted ed25519 key pair at `path` (+ `.pub`). */
export async function makeKey(path: string, passphrase = ''): Promise<void> {
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'cairn-test', '-f', path])
}

/** The `SHA256:…` fingerprint of a public key file, from ssh-keygen itself. */
export async function fingerprint(pubFile: string): Promise<string> {
  const { stdout } = await execFileP('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubFile])
  return stdout.split(/\s+/)[1]
}

/**
 * Starts `sshd -D -e -f CONFIG` on 127.0.0.1 at a free port: public-key login only, with a
 * fresh host key and user key in a temp directory, sftp through internal-sftp. Resolves once
 * the server answers with its SSH banner.
 */
export async function startSshd(): Promise<TestSshd> {
  for (let attempt = 1; ; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-sshd-'))
    try {
      return await launch(dir)
    } catch (err) {
      await rm(dir, { recursive: true, force: true })
      // The free port was taken by another test between picking it and sshd binding it.
      if (attempt < 3 && /Address already in use|Cannot bind any address/.test((err as Error).message)) continue
      throw err
    }
  }
}

async function launch(dir: string): Promise<TestSshd> {
  if (!existsSync('/run/sshd')) await mkdir('/run/sshd', { mode: 0o755 })
  const hostKey = join(dir, 'host_ed25519')
  const userKey = join(dir, 'id_ed25519')
  await Promise.all([makeKey(hostKey), makeKey(userKey)])
  await writeFile(join(dir, 'authorized_keys'), await readFile(`${userKey}.pub`))
  const port = await freePort()
  const config = join(dir, 'sshd_config')
  await writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PermitRootLogin yes',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  )
  const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/)
  const knownHostsLine = `[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}`
  const knownHostsFile = join(dir, 'known_hosts')
  await writeFile(knownHostsFile, `${knownHostsLine}\n`)
  const user = userInfo().username
  const sftpCommand = [
    'ssh -F none',
    `-i ${userKey}`,
    `-p ${port}`,
    `-o UserKnownHostsFile=${knownHostsFile}`,
    '-o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes',
    `${user}@127.0.0.1 -s sftp`,
  ].join(' ')

  let child = await runSshd(config, port)
  const killAll = async () => {
    const victims = [child.pid!, ...descendants(child.pid!)]
    const exited = new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())))
    for (const pid of victims) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone already
      }
    }
    await exited
  }
  return {
    host: '127.0.0.1',
    port,
    user,
    dir,
    userKey,
    knownHostsFile,
    knownHostsLine,
    hostKeyFingerprint: await fingerprint(`${hostKey}.pub`),
    sftpCommand,
    extended: { 'sftp.key': userKey, 'sftp.known-hosts': knownHostsFile },
    kill: killAll,
    async restart() {
      child = await runSshd(config, port)
    },
    async stop() {
      await killAll()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** Starts sshd and waits (up to 10 s) until it greets a TCP client with its banner. */
async function runSshd(config: string, port: number): Promise<ChildProcess> {
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()))
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited with code ${child.exitCode}: ${stderr.trim()}`)
    if (await greets(port)) return child
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`sshd did not answer on port ${port} within 10 s: ${stderr.trim()}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}

function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port })
    const done = (ok: boolean) => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(2000, () => done(false))
    sock.once('data', (b: Buffer) => done(b.toString('latin1').startsWith('SSH-')))
    sock.once('error', () => done(false))
  })
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** Every process below `pid` (sshd forks a process per connection, and those fork again). */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>()
  let entries: string[] = []
  try {
    entries = readdirSync('/proc')
  } catch {
    return []
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      parentOf.set(Number(name), ppid)
    } catch {
      // exited while we looked
    }
  }
  const out: number[] = []
  const walk = (p: number) => {
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child)
        walk(child)
      }
    }
  }
  walk(pid)
  return out
}
