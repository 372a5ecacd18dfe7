import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FX, OPEN } from './sftp-packets.js'
import { SftpClosedError, SftpSession, SftpStatusError } from './sftp-session.js'
import { readRange, writeAll } from './sftp-transfer.js'

const SFTP_SERVER = '/usr/lib/openssh/sftp-server'
const skip = existsSync(SFTP_SERVER) ? false : `${SFTP_SERVER} is not installed (apt-get install openssh-sftp-server)`

let dir = ''
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-sftp-session-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** OpenSSH's sftp-server, run directly: the same server sshd runs, speaking over stdin/stdout. */
async function server(): Promise<{ s: SftpSession; child: ChildProcess }> {
  const child = spawn(SFTP_SERVER, ['-e', '-l', 'ERROR'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const s = await SftpSession.start(child.stdout!, child.stdin!)
  return { s, child }
}

async function withServer(fn: (s: SftpSession, child: ChildProcess) => Promise<void>): Promise<void> {
  const { s, child } = await server()
  try {
    await fn(s, child)
  } finally {
    s.end()
    child.kill()
  }
}

const isStatus = (status: number) => (err: unknown) => err instanceof SftpStatusError && err.status === status

describe('SftpSession against OpenSSH sftp-server', { skip }, () => {
  it('start() learns the extensions and the read and write sizes from limits@openssh.com', () =>
    withServer(async (s) => {
      for (const ext of ['posix-rename@openssh.com', 'fsync@openssh.com', 'limits@openssh.com']) assert.ok(s.extensions.has(ext), ext)
      assert.ok(s.readChunk > 32 * 1024 && s.readChunk <= 256 * 1024, `read chunk ${s.readChunk}`)
      assert.ok(s.writeChunk > 32 * 1024 && s.writeChunk <= 256 * 1024, `write chunk ${s.writeChunk}`)
    }))

  it('writes with many requests in flight, fsyncs, and reads back whole and in ranges', () =>
    withServer(async (s) => {
      const data = randomBytes(3 * 1024 * 1024 + 17)
      const path = join(dir, 'big')
      const h = await s.open(path, OPEN.WRITE | OPEN.CREAT | OPEN.EXCL)
      await writeAll(s, h, data)
      await s.fsync(h)
      await s.close(h)
      assert.ok((await readFile(path)).equals(data))
      const r = await s.open(path, OPEN.READ)
      assert.equal((await s.fstat(r)).size, data.length)
      const whole = await readRange(s, r, 0, data.length)
      assert.equal(whole.short, false)
      assert.ok(whole.data.equals(data))
      const part = await readRange(s, r, 1_000_001, 500_000)
      assert.ok(part.data.equals(data.subarray(1_000_001, 1_500_001)))
      assert.equal((await readRange(s, r, data.length - 10, 11)).short, true)
      assert.equal((await readRange(s, r, data.length + 5, 1)).short, true)
      assert.equal(await s.read(r, data.length, 10), null, 'READ at the end is EOF')
      await s.close(r)
    }))

  it('readRange() asks again when the server sends less than a request asked for', () =>
    withServer(async (s) => {
      const data = randomBytes(2 * 1024 * 1024)
      const path = join(dir, 'capped')
      await writeFile(path, data)
      const r = await s.open(path, OPEN.READ)
      const one = await s.read(r, 0, 1024 * 1024)
      assert.ok(one !== null && one.length < 1024 * 1024, 'sftp-server caps a READ below 1 MiB')
      s.readChunk = 1024 * 1024 // more than the server sends per READ
      const { data: got, short } = await readRange(s, r, 0, data.length)
      assert.equal(short, false)
      assert.ok(got.equals(data))
      await s.close(r)
    }))

  it('rename() refuses to replace an existing file; posixRename() replaces it', () =>
    withServer(async (s) => {
      const a = join(dir, 'rename-a')
      const b = join(dir, 'rename-b')
      await writeFile(a, 'new')
      await writeFile(b, 'old')
      await assert.rejects(s.rename(a, b), isStatus(FX.FAILURE))
      assert.equal(await readFile(b, 'utf8'), 'old')
      await s.posixRename(a, b)
      assert.equal(await readFile(b, 'utf8'), 'new')
      assert.equal(existsSync(a), false)
    }))

  it('reports a missing file, an exclusive create of an existing one, and lists directories', () =>
    withServer(async (s) => {
      await assert.rejects(s.stat(join(dir, 'nope')), isStatus(FX.NO_SUCH_FILE))
      await assert.rejects(s.open(join(dir, 'nope'), OPEN.READ), isStatus(FX.NO_SUCH_FILE))
      await writeFile(join(dir, 'exists'), 'x')
      await assert.rejects(s.open(join(dir, 'exists'), OPEN.WRITE | OPEN.CREAT | OPEN.EXCL), isStatus(FX.FAILURE))
      const sub = join(dir, 'listing')
      await s.mkdir(sub, { permissions: 0o700 })
      await Promise.all(Array.from({ length: 250 }, (_, i) => writeFile(join(sub, `f${i}`), 'x'.repeat(i))))
      const entries = await s.readdirAll(sub)
      const files = entries.filter((e) => e.name.startsWith('f'))
      assert.equal(files.length, 250, 'READDIR batches are all read')
      assert.equal(files.find((e) => e.name === 'f42')?.attrs.size, 42)
      assert.deepEqual((await readdir(sub)).length, 250)
    }))

  it('fails every request in flight, and every later one, when the server dies', () =>
    withServer(async (s, child) => {
      const path = join(dir, 'dies')
      await writeFile(path, randomBytes(8 * 1024 * 1024))
      const r = await s.open(path, OPEN.READ)
      const reading = readRange(s, r, 0, 8 * 1024 * 1024)
      child.kill('SIGKILL')
      await assert.rejects(reading, SftpClosedError)
      await assert.rejects(s.stat(path), SftpClosedError)
      assert.ok(s.closed instanceof SftpClosedError)
    }))
})
