import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { appendFile, copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import { hashId, isAppError, type AppError } from '../../base/index.js'
import type { Handle } from '../backend.js'
import { isTransient } from '../wrap/transient.js'
import { SftpBackend } from './sftp-backend.js'
import { freePort, makeKey, sshdMissing, startSshd, type TestSshd } from './testing.js'

const execFileP = promisify(execFile)
const skip = await sshdMissing()

let srv: TestSshd | undefined
let counter = 0
before(async () => {
  if (!skip) srv = await startSshd()
})
after(async () => {
  await srv?.stop()
})

function server(): TestSshd {
  assert.ok(srv, 'sshd is not running')
  return srv
}

/** A fresh directory to act as $HOME, with an empty .ssh/. */
async function home(): Promise<string> {
  const dir = join(server().dir, `home-${++counter}`)
  await mkdir(join(dir, '.ssh'), { recursive: true })
  return dir
}

function backendFor(s: TestSshd, extended: Record<string, string>, env: NodeJS.ProcessEnv, onMessage?: (m: string) => void) {
  const path = join(s.dir, `repo-${++counter}`)
  return new SftpBackend({ scheme: 'sftp', user: s.user, host: s.host, port: s.port, path }, { extended, env, ...(onMessage ? { onMessage } : {}) })
}

function file(size: number): { h: Handle; data: Buffer } {
  const data = randomBytes(size)
  return { h: { type: 'data', name: hashId(data) }, data }
}

function expectError(code: AppError['code'], ...patterns: RegExp[]) {
  return (err: unknown) => {
    assert.ok(isAppError(err, code), `expected AppError ${code}, got ${String(err)}`)
    for (const p of patterns) assert.match(`${err.message}\n${err.hint ?? ''}`, p)
    return true
  }
}

/** Child processes of this test process running `name` (the ssh children of sftp.command). */
function childrenNamed(name: string): number[] {
  const out: number[] = []
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === process.pid && comm === name) out.push(Number(pid))
    } catch {
      // gone
    }
  }
  return out
}

describe('SftpBackend connecting', { skip }, () => {
  describe('host keys', () => {
    it('refuses an unknown host key, naming host, type and fingerprint, and its ssh-keyscan hint works', async () => {
      const s = server()
      const h = await home()
      const knownHosts = join(h, '.ssh', 'known_hosts')
      const be = backendFor(s, { 'sftp.key': s.userKey }, { HOME: h })
      try {
        await assert.rejects(
          be.create(),
          expectError(
            'PERMISSION_DENIED',
            new RegExp(`^Cannot connect to "\\[127\\.0\\.0\\.1\\]:${s.port}": its host key is not known \\(ssh-ed25519 ${s.hostKeyFingerprint.replace(/[+/]/g, '\\$&')}\\)`),
            new RegExp(`ssh-keyscan -p ${s.port} 127\\.0\\.0\\.1 >> ${knownHosts}`),
          ),
        )
        // Do what the hint says, then the same backend connects.
        const { stdout } = await execFileP('ssh-keyscan', ['-p', String(s.port), '127.0.0.1'])
        await appendFile(knownHosts, stdout)
        await be.create()
        const f = file(100)
        await be.save(f.h, f.data)
        assert.deepEqual(await be.load(f.h), f.data)
      } finally {
        await be.close()
      }
    })

    it('refuses a changed host key loudly, naming the file and line', async () => {
      const s = server()
      const h = await home()
      await makeKey(join(h, 'impostor'))
      const impostor = readFileSync(join(h, 'impostor.pub'), 'utf8').trim().split(/\s+/)
      const knownHosts = join(h, 'known_hosts')
      await writeFile(knownHosts, `# first line\n[127.0.0.1]:${s.port} ${impostor[0]} ${impostor[1]}\n`)
      const be = backendFor(s, { 'sftp.key': s.userKey, 'sftp.known-hosts': knownHosts }, { HOME: h })
      try {
        await assert.rejects(
          be.create(),
          expectError('PERMISSION_DENIED', /host key of "\[127\.0\.0\.1\]:\d+" has CHANGED/, new RegExp(`${knownHosts} line 2`), /man-in-the-middle/, /ssh-keygen -R/),
        )
      } finally {
        await be.close()
      }
    })

    it('accepts a hashed known_hosts entry from the default ~/.ssh/known_hosts', async () => {
      const s = server()
      const h = await home()
      const knownHosts = join(h, '.ssh', 'known_hosts')
      await writeFile(knownHosts, `${s.knownHostsLine}\n`)
      await execFileP('ssh-keygen', ['-H', '-f', knownHosts])
      assert.doesNotMatch(readFileSync(knownHosts, 'utf8'), /127\.0\.0\.1/)
      const be = backendFor(s, { 'sftp.key': s.userKey }, { HOME: h })
      try {
        await be.create()
      } finally {
        await be.close()
      }
    })
  })

  describe('logging in', () => {
    it('uses ~/.ssh/id_ed25519 and ~/.ssh/known_hosts with no options, passing over a dead agent socket', async () => {
      const s = server()
      const h = await home()
      await copyFile(s.userKey, join(h, '.ssh', 'id_ed25519'))
      await writeFile(join(h, '.ssh', 'known_hosts'), `${s.knownHostsLine}\n`)
      const messages: string[] = []
      const be = backendFor(s, {}, { HOME: h, SSH_AUTH_SOCK: join(h, 'gone.sock') }, (m) => messages.push(m))
      try {
        await be.create()
        const f = file(10)
        await be.save(f.h, f.data)
      } finally {
        await be.close()
      }
      assert.deepEqual(messages, [`Not using ssh-agent: cannot reach it at SSH_AUTH_SOCK="${join(h, 'gone.sock')}" (ENOENT)`])
    })

    it('skips a passphrase-protected default key with a note and logs in through ssh-agent', async () => {
      const s = server()
      const h = await home()
      await makeKey(join(h, '.ssh', 'id_ed25519'), 'secret passphrase')
      const sock = join(h, 'agent.sock')
      const agent: ChildProcess = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' })
      try {
        for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20))
        await execFileP('ssh-add', [s.userKey], { env: { ...process.env, SSH_AUTH_SOCK: sock } })
        const messages: string[] = []
        const be = backendFor(s, { 'sftp.known-hosts': s.knownHostsFile }, { HOME: h, SSH_AUTH_SOCK: sock }, (m) => messages.push(m))
        try {
          await be.create()
        } finally {
          await be.close()
        }
        assert.equal(messages.length, 1, messages.join('\n'))
        assert.match(messages[0], /^Skipping SSH key ".*\/\.ssh\/id_ed25519": it is protected by a passphrase.*ssh-add/)
      } finally {
        agent.kill()
      }
    })

    it('a key the server does not accept is PERMISSION_DENIED naming user@host', async () => {
      const s = server()
      const h = await home()
      await makeKey(join(h, 'wrong'))
      const be = backendFor(s, { 'sftp.key': join(h, 'wrong'), 'sftp.known-hosts': s.knownHostsFile }, { HOME: h })
      try {
        await assert.rejects(
          be.stat({ type: 'config', name: '' }),
          expectError('PERMISSION_DENIED', new RegExp(`^Cannot log in to "${s.user}@127\\.0\\.0\\.1:${s.port}": the server refused every key offered \\(.*wrong\\)`), /authorized_keys/),
        )
      } finally {
        await be.close()
      }
    })

    it('no agent and no key is PERMISSION_DENIED before connecting; a missing -o sftp.key file is INVALID_ARGUMENT', async () => {
      const s = server()
      const h = await home()
      const none = backendFor(s, { 'sftp.known-hosts': s.knownHostsFile }, { HOME: h })
      await assert.rejects(none.create(), expectError('PERMISSION_DENIED', /no SSH agent is running and no usable private key/, /ssh-add/))
      const missing = backendFor(s, { 'sftp.key': join(h, 'nope') }, { HOME: h })
      await assert.rejects(missing.create(), expectError('INVALID_ARGUMENT', /Cannot read the SSH key ".*nope" given with -o sftp.key/))
    })
  })

  describe('sftp.command and sftp.args', () => {
    it('sftp.args adds options to restic\'s ssh command line', async () => {
      const s = server()
      const args = `-F none -i ${s.userKey} -o UserKnownHostsFile=${s.knownHostsFile} -o StrictHostKeyChecking=yes -o BatchMode=yes`
      const be = backendFor(s, { 'sftp.args': args }, {})
      try {
        await be.create()
        const f = file(1000)
        await be.save(f.h, f.data)
        assert.deepEqual(await be.load(f.h), f.data)
      } finally {
        await be.close()
      }
    })

    it('ssh refusing the host key is PERMISSION_DENIED with ssh\'s words, and its stderr reaches onMessage', async () => {
      const s = server()
      const h = await home()
      const empty = join(h, 'empty_known_hosts')
      await writeFile(empty, '')
      const command = s.sftpCommand.replace(s.knownHostsFile, empty)
      const messages: string[] = []
      const be = backendFor(s, { 'sftp.command': command }, {}, (m) => messages.push(m))
      await assert.rejects(be.create(), expectError('PERMISSION_DENIED', /^Cannot start an SFTP session with "ssh": ssh exited with code 255: .*Host key verification failed/))
      assert.ok(messages.some((m) => /^ssh: .*Host key verification failed/.test(m)), messages.join('\n'))
    })

    it('a command that does not exist is INVALID_ARGUMENT', async () => {
      const be = backendFor(server(), { 'sftp.command': '/nonexistent/ssh-wrapper -s sftp' }, {})
      await assert.rejects(be.create(), expectError('INVALID_ARGUMENT', /^Cannot run the SFTP command "ssh-wrapper": program not found/))
    })

    it('ssh that cannot resolve the host, or a command that ends without speaking SFTP, is final: not retried', async () => {
      // Both were retried for about a minute; the built-in client fails at once for an unknown host.
      const s = server()
      const unresolved = backendFor(s, { 'sftp.command': 'ssh -F none -o BatchMode=yes no-such-host.invalid -s sftp' }, {})
      await assert.rejects(unresolved.create(), (err: unknown) => isAppError(err, 'NETWORK') && /Could not resolve hostname/i.test(err.message) && !isTransient(err))
      const silent = backendFor(s, { 'sftp.command': 'echo hello' }, {})
      await assert.rejects(silent.create(), expectError('INVALID_ARGUMENT', /^Cannot start an SFTP session with "echo": echo exited with code 0.*the command ended without speaking SFTP/))
    })

    it('close() ends the ssh child', async () => {
      const s = server()
      const before = childrenNamed('ssh').length
      const be = backendFor(s, { 'sftp.command': s.sftpCommand }, {})
      await be.create()
      assert.equal(childrenNamed('ssh').length, before + 1)
      await be.close()
      assert.equal(childrenNamed('ssh').length, before)
    })
  })

  describe('lost connections', () => {
    it('a refused connection is NETWORK', async () => {
      const s = server()
      const port = await freePort()
      const be = new SftpBackend({ scheme: 'sftp', user: s.user, host: '127.0.0.1', port, path: '/tmp/x' }, { extended: s.extended, env: { HOME: s.dir } })
      await assert.rejects(be.create(), expectError('NETWORK', new RegExp(`^Cannot connect to "127\\.0\\.0\\.1:${port}": connection refused`)))
    })

    it('a host name that does not resolve is NETWORK, not retried, with a hint about ssh', async () => {
      const s = server()
      const open = (host: string) => new SftpBackend({ scheme: 'sftp', user: s.user, host, port: 22, path: '/tmp/x' }, { extended: s.extended, env: { HOME: s.dir } })
      await assert.rejects(open('no-such-host.invalid').create(), (err: unknown) => {
        assert.ok(isAppError(err, 'NETWORK'))
        assert.match(err.message, /^Cannot connect to "no-such-host\.invalid:22": host name not found \(ENOTFOUND\)/)
        assert.match(err.hint ?? '', /^Check the host name/)
        assert.equal(isTransient(err), false)
        return true
      })
    })

    /** A home whose ~/.ssh has `config` (given the home) and the test server's known_hosts. */
    async function homeWithSshConfig(s: TestSshd, config: (home: string) => string): Promise<string> {
      const home = await mkdtemp(join(s.dir, 'home-'))
      await mkdir(join(home, '.ssh'))
      await copyFile(s.extended['sftp.known-hosts'], join(home, '.ssh', 'known_hosts'))
      await writeFile(join(home, '.ssh', 'config'), config(home))
      return home
    }

    /** Creates a repository at `host`:HOME/repo, as the home's ssh config leads there, and reads back what it saved. */
    async function roundTrip(host: string, home: string): Promise<void> {
      const be = new SftpBackend({ scheme: 'sftp', host, path: join(home, 'repo') }, { env: { HOME: home } })
      try {
        await be.create()
        await be.save({ type: 'config', name: '' }, Buffer.from(host))
        assert.deepEqual(await be.load({ type: 'config', name: '' }), Buffer.from(host))
      } finally {
        await be.close()
      }
    }

    it('a Host of ~/.ssh/config is reached with its HostName, Port, User and IdentityFile, as restic reaches it through ssh', async () => {
      // The alias was looked up as a host name: not found, or port 22 refused, after a minute of retries.
      const s = server()
      const home = await homeWithSshConfig(s, () => `Host other\n  HostName 10.0.0.1\nHost nas-alias.invalid backup\n  HostName ${s.host}\n  Port ${s.port}\n  User ${s.user}\n  IdentityFile ${s.extended['sftp.key']}\n`)
      await roundTrip('nas-alias.invalid', home)
    })

    it('a Host of ~/.ssh/config behind a ProxyCommand is reached through the ssh program', async () => {
      const s = server()
      const home = await homeWithSshConfig(
        s,
        (h) =>
          `Host jumped.invalid\n  HostName ${s.host}\n  Port ${s.port}\n  User ${s.user}\n  IdentityFile ${s.extended['sftp.key']}\n  IdentitiesOnly yes\n` +
          `  UserKnownHostsFile ${join(h, '.ssh', 'known_hosts')}\n  BatchMode yes\n  ProxyCommand ${process.execPath} ${join(h, 'relay.cjs')}\n`,
      )
      await writeFile(join(home, 'relay.cjs'), `const c = require('node:net').connect(${s.port}, ${JSON.stringify(s.host)}); process.stdin.pipe(c); c.pipe(process.stdout)\n`)
      await roundTrip('jumped.invalid', home)
    })

    it('a server that does not speak SSH is NETWORK', async () => {
      const s = server()
      const http = createServer((sock) => sock.end('HTTP/1.1 400 Bad Request\r\n\r\n'))
      await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
      const port = (http.address() as AddressInfo).port
      try {
        const be = new SftpBackend({ scheme: 'sftp', user: s.user, host: '127.0.0.1', port, path: '/tmp/x' }, { extended: s.extended, env: { HOME: s.dir } })
        await assert.rejects(be.create(), expectError('NETWORK', new RegExp(`^Cannot connect to "127\\.0\\.0\\.1:${port}"`)))
      } finally {
        http.close()
      }
    })

    for (const transport of ['ssh2', 'command'] as const) {
      it(`over ${transport}: a server killed mid-session gives NETWORK, and the same backend works once it is back`, async () => {
        const own = await startSshd()
        try {
          const extended = transport === 'ssh2' ? own.extended : { 'sftp.command': own.sftpCommand }
          const be = backendFor(own, extended, { HOME: own.dir })
          try {
            await be.create()
            const kept = file(1000)
            await be.save(kept.h, kept.data)
            // Kill while a 32 MiB save is in flight.
            const big = file(32 * 1024 * 1024)
            const saving = be.save(big.h, big.data).then(
              () => assert.fail('the save finished before the server was killed'),
              (err: unknown) => err,
            )
            await new Promise((r) => setTimeout(r, 30))
            await own.kill()
            expectError('NETWORK', /^Cannot write ".*" on "sftp:\/\/.*": the connection was lost/)(await saving)
            // Down: the next call tries to connect again and fails the same retryable way.
            await assert.rejects(be.load(kept.h), expectError('NETWORK'))
            await own.restart()
            assert.deepEqual(await be.load(kept.h), kept.data)
            const names = []
            for await (const fi of be.list('data')) names.push(fi.name)
            assert.deepEqual(names, [kept.h.name], 'the interrupted save left no file under its name')
            await be.save(big.h, big.data)
            assert.ok((await be.load(big.h)).equals(big.data))
          } finally {
            await be.close()
          }
        } finally {
          await own.stop()
        }
      })
    }
  })
})
