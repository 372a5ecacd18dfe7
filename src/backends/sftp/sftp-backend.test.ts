import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readdir, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { hashId, isAppError } from '../../base/index.js'
import type { FileInfo, FileType, Handle } from '../backend.js'
import { NotFoundError } from '../errors.js'
import { openBackend } from '../registry.js'
import { runConformanceSuite } from '../testing/conformance.js'
import { SftpBackend } from './sftp-backend.js'
import { sshdMissing, startSshd, type TestSshd } from './testing.js'

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

/** A backend for a repository directory that does not exist yet, over ssh2 or over an ssh child. */
function backend(transport: 'ssh2' | 'command', extra: Record<string, string> = {}): { be: SftpBackend; path: string } {
  const s = server()
  const path = join(s.dir, `repo-${++counter}`)
  const extended = transport === 'ssh2' ? { ...s.extended, ...extra } : { 'sftp.command': s.sftpCommand, ...extra }
  const be = new SftpBackend({ scheme: 'sftp', user: s.user, host: s.host, port: s.port, path }, { extended, env: { HOME: s.dir } })
  return { be, path }
}

function file(type: FileType, size: number): { h: Handle; data: Buffer } {
  const data = randomBytes(size)
  return { h: { type, name: hashId(data) }, data }
}

async function collect(be: SftpBackend, type: FileType): Promise<FileInfo[]> {
  const out: FileInfo[] = []
  for await (const fi of be.list(type)) out.push(fi)
  return out
}

const modeOf = async (p: string) => (await stat(p)).mode & 0o777

describe('SftpBackend', { skip }, () => {
  runConformanceSuite('SftpBackend over ssh2', async () => backend('ssh2').be)
  runConformanceSuite('SftpBackend over sftp.command', async () => backend('command').be)

  describe('layout', () => {
    it('create() makes restic\'s directories with data/00..ff, mode 0700, and files are 0400', async () => {
      const { be, path } = backend('ssh2')
      try {
        await be.create()
        assert.deepEqual((await readdir(path)).sort(), ['data', 'index', 'keys', 'locks', 'snapshots'])
        const sub = (await readdir(join(path, 'data'))).sort()
        assert.equal(sub.length, 256)
        assert.equal(sub[0], '00')
        assert.equal(sub[255], 'ff')
        for (const d of [path, join(path, 'keys'), join(path, 'data', '7f')]) assert.equal(await modeOf(d), 0o700, d)
        const pack = file('data', 100)
        await be.save(pack.h, pack.data)
        await be.save({ type: 'config', name: '' }, Buffer.from('cfg'))
        const packPath = join(path, 'data', pack.h.name.slice(0, 2), pack.h.name)
        assert.equal((await stat(packPath)).size, 100)
        assert.equal(await modeOf(packPath), 0o400)
        assert.equal(await modeOf(join(path, 'config')), 0o400)
        assert.deepEqual(await readdir(join(path, 'data', pack.h.name.slice(0, 2))), [pack.h.name], 'no temp file is left')
      } finally {
        await be.close()
      }
    })

    it('in a repository shared with a group (config group-readable), files are 0440 and new folders 0770, as restic and LocalBackend make them', async () => {
      // Files were 0400 and folders 0700 whatever config said: group members lost snapshots and indexes.
      const { be: first, path } = backend('ssh2')
      await first.create()
      await first.save({ type: 'config', name: '' }, Buffer.from('cfg'))
      await first.close()
      await chmod(join(path, 'config'), 0o440)
      await rm(join(path, 'data', 'ab'), { recursive: true })
      for (const transport of ['ssh2', 'command'] as const) {
        const s = server()
        const extended = transport === 'ssh2' ? s.extended : { 'sftp.command': s.sftpCommand }
        const be = new SftpBackend({ scheme: 'sftp', user: s.user, host: s.host, port: s.port, path }, { extended, env: { HOME: s.dir } })
        try {
          const snap = file('snapshots', 50)
          await be.save(snap.h, snap.data)
          assert.equal(await modeOf(join(path, 'snapshots', snap.h.name)), 0o440, transport)
          const data = randomBytes(100)
          const name = 'ab' + hashId(data).slice(2)
          await be.save({ type: 'data', name }, data)
          assert.equal(await modeOf(join(path, 'data', 'ab')), 0o770, transport)
          assert.equal(await modeOf(join(path, 'data', 'ab', name)), 0o440, transport)
          await rm(join(path, 'data', 'ab'), { recursive: true })
        } finally {
          await be.close()
        }
      }
    })

    it('create() makes missing parent directories', async () => {
      const { be, path } = backend('ssh2')
      const deep = new SftpBackend(
        { scheme: 'sftp', user: server().user, host: server().host, port: server().port, path: join(path, 'a', 'b') },
        { extended: server().extended, env: { HOME: server().dir } },
      )
      try {
        await deep.create()
        assert.equal((await readdir(join(path, 'a', 'b', 'data'))).length, 256)
      } finally {
        await deep.close()
        await be.close()
      }
    })

    it('save() makes a missing data/xx directory, and list() skips temp files and junk', async () => {
      const { be, path } = backend('command')
      try {
        await be.create()
        const pack = file('data', 10)
        const prefix = pack.h.name.slice(0, 2)
        await rm(join(path, 'data', prefix), { recursive: true })
        await be.save(pack.h, pack.data)
        assert.deepEqual(await be.load(pack.h), pack.data)
        const other = file('snapshots', 10)
        await be.save(other.h, other.data)
        await writeFile(join(path, 'snapshots', `${other.h.name}-tmp-0123`), 'partial')
        await writeFile(join(path, 'snapshots', 'README'), 'junk')
        await mkdir(join(path, 'snapshots', 'a'.repeat(64))) // a directory with an ID name
        await writeFile(join(path, 'data', prefix === 'ab' ? 'cd' : 'ab', pack.h.name), 'in the wrong subdirectory')
        await mkdir(join(path, 'data', 'zz'))
        assert.deepEqual(await collect(be, 'snapshots'), [{ name: other.h.name, size: 10 }])
        assert.deepEqual(await collect(be, 'data'), [{ name: pack.h.name, size: 10 }])
      } finally {
        await be.close()
      }
    })

    it('save() into a repository whose folder is gone fails (NO_REPOSITORY), and makes nothing where it was', async () => {
      // It made the whole path again (on the server's other disk, when the repository's was
      // unmounted), wrote the backup there and called it a success.
      const { be, path } = backend('command')
      try {
        await be.create()
        await rename(path, `${path}-away`)
        const pack = file('data', 10)
        await assert.rejects(be.save(pack.h, pack.data), (err) => isAppError(err, 'NO_REPOSITORY') && err.message.includes('is gone'))
        await assert.rejects(be.save(file('snapshots', 10).h, Buffer.alloc(10)), (err) => isAppError(err, 'NO_REPOSITORY'))
        assert.equal(existsSync(path), false, 'nothing made in its place')
        await rename(`${path}-away`, path)
        await rm(join(path, 'data'), { recursive: true })
        await be.save(pack.h, pack.data)
        assert.deepEqual(await be.load(pack.h), pack.data, 'a missing data folder inside the repository is still made')
      } finally {
        await be.close()
      }
    })

    it('removeTemporaryFiles() removes the temp files of killed saves, also through openBackend(); a dry run only counts', async () => {
      const s = server()
      const path = join(s.dir, `repo-${++counter}`)
      const be = await openBackend(`sftp://${s.user}@127.0.0.1:${s.port}/${path}`, { extended: s.extended, env: { HOME: s.dir } })
      try {
        await be.create()
        const pack = file('data', 10)
        await be.save(pack.h, pack.data)
        const left = [
          join(path, 'data', pack.h.name.slice(0, 2), `${pack.h.name}-tmp-0123456789abcdef`),
          join(path, 'snapshots', `${'c'.repeat(64)}-tmp-fedcba9876543210`),
          join(path, 'locks', `${'e'.repeat(64)}-tmp-1111111111111111`),
        ]
        const old = new Date(Date.now() - 3600_000)
        for (const f of left) {
          await writeFile(f, Buffer.alloc(500))
          await utimes(f, old, old)
        }
        await writeFile(join(path, 'index', `${'d'.repeat(64)}-tmp-0000000000000000`), 'young: may be under way')
        await writeFile(join(path, 'snapshots', 'README'), 'junk')
        assert.deepEqual(await be.removeTemporaryFiles?.({ dryRun: true }), { files: 3, bytes: 1500 })
        assert.deepEqual(await be.removeTemporaryFiles?.(), { files: 3, bytes: 1500 })
        for (const f of left) await assert.rejects(stat(f), /ENOENT/)
        await stat(join(path, 'snapshots', 'README'))
        await stat(join(path, 'index', `${'d'.repeat(64)}-tmp-0000000000000000`))
        assert.deepEqual(await be.load(pack.h), pack.data)
      } finally {
        await be.close()
      }
    })

    it('list() and stat() follow a symlink to a file', async () => {
      const { be, path } = backend('ssh2')
      try {
        await be.create()
        const target = join(server().dir, `target-${counter}`)
        const data = randomBytes(77)
        await writeFile(target, data)
        const name = hashId(data)
        await symlink(target, join(path, 'index', name))
        assert.deepEqual(await collect(be, 'index'), [{ name, size: 77 }])
        assert.deepEqual(await be.stat({ type: 'index', name }), { name, size: 77 })
        assert.deepEqual(await be.load({ type: 'index', name }), data)
      } finally {
        await be.close()
      }
    })

    it('stat() of a directory with a file\'s name is NotFoundError', async () => {
      const { be, path } = backend('ssh2')
      try {
        await be.create()
        const name = 'b'.repeat(64)
        await mkdir(join(path, 'keys', name))
        await assert.rejects(be.stat({ type: 'keys', name }), NotFoundError)
      } finally {
        await be.close()
      }
    })
  })

  describe('options and location', () => {
    it('properties: 5 connections by default, -o sftp.connections sets them, never local', () => {
      assert.deepEqual(backend('ssh2').be.properties, { connections: 5, local: false, listsAfterWrite: true })
      assert.deepEqual(backend('ssh2', { 'sftp.connections': '12' }).be.properties, { connections: 12, local: false, listsAfterWrite: true })
    })

    it('openBackend() opens both location forms, and location names the server', async () => {
      const s = server()
      const path = join(s.dir, `repo-${++counter}`)
      const opts = { extended: s.extended, env: { HOME: s.dir } }
      const viaUrl = await openBackend(`sftp://${s.user}@127.0.0.1:${s.port}/${path}`, opts)
      assert.deepEqual(viaUrl.properties, { connections: 5, local: false, listsAfterWrite: true })
      assert.equal(viaUrl.location, `sftp://${s.user}@127.0.0.1:${s.port}/${path}`)
      // The short form has no port: it reaches the test server through restic's sftp.command.
      const short = await openBackend(`sftp:${s.user}@127.0.0.1:${path}`, { extended: { 'sftp.command': s.sftpCommand } })
      assert.equal(short.location, `sftp:${s.user}@127.0.0.1:${path}`)
      try {
        await viaUrl.create()
        const f = file('keys', 42)
        await viaUrl.save(f.h, f.data)
        assert.deepEqual(await readdir(join(path, 'keys')), [f.h.name])
        assert.deepEqual(await short.load(f.h), f.data, 'the sftp:user@host:/path form reaches the same directory')
      } finally {
        await viaUrl.close()
        await short.close()
      }
    })
  })

  describe('throughput', () => {
    for (const transport of ['ssh2', 'command'] as const) {
      it(`moves a 16 MiB pack over ${transport} and reports MB/s`, async (t) => {
        const { be } = backend(transport)
        try {
          await be.create()
          const saves: number[] = []
          const loads: number[] = []
          for (let i = 0; i < 3; i++) {
            const { h, data } = file('data', 16 * 1024 * 1024)
            let start = performance.now()
            await be.save(h, data)
            saves.push(16 / ((performance.now() - start) / 1000))
            start = performance.now()
            const back = await be.load(h)
            loads.push(16 / ((performance.now() - start) / 1000))
            assert.ok(back.equals(data))
          }
          const show = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ')
          t.diagnostic(`${transport}: save ${show(saves)} MB/s; load ${show(loads)} MB/s (16 MiB, loopback)`)
          assert.ok(Math.max(...saves) > 5 && Math.max(...loads) > 5, 'at least 5 MB/s on loopback')
        } finally {
          await be.close()
        }
      })
    }
  })
})
