import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import * as fsp from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { hashId, isAppError } from '../../base/index.js'
import type { FileType, Handle } from '../backend.js'
import { FileExistsError, NotFoundError } from '../errors.js'
import { LocalBackend } from './local-backend.js'
import { fsWithFiles, withMembers } from '../testing/overrides.js'
import type { LocalFs } from './local-fs.js'

let root = ''
let counter = 0
before(async () => {
  root = await fsp.mkdtemp(join(tmpdir(), 'cairn-local-faults-'))
})
after(async () => {
  await fsp.rm(root, { recursive: true, force: true })
})

function file(type: FileType, size: number): { h: Handle; data: Buffer } {
  const data = randomBytes(size)
  return { h: { type, name: hashId(data) }, data }
}

function errno(code: string, syscall: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: injected failure, ${syscall}`)
  err.code = code
  err.syscall = syscall
  return err
}

/** The real file system, except that one method of every opened file fails with `code`. */
function failingFileMethod(method: 'write' | 'sync', code: string): LocalFs {
  return fsWithFiles((fd, _path, flags) => (flags === 'wx' ? withMembers<FileHandle>(fd, { [method]: async () => Promise.reject(errno(code, method)) }) : fd))
}

async function repoWith(fs?: LocalFs): Promise<{ be: LocalBackend; path: string }> {
  const path = join(root, `repo-${++counter}`)
  const be = new LocalBackend(path, fs === undefined ? {} : { fs })
  await be.create()
  return { be, path }
}

describe('LocalBackend faults', () => {
  it('save() on a full disk fails with IO naming the file and leaves no temp file', async () => {
    const { be, path } = await repoWith(failingFileMethod('write', 'ENOSPC'))
    const { h, data } = file('data', 5000)
    const final = join(path, 'data', h.name.slice(0, 2), h.name)
    await assert.rejects(be.save(h, data), (err: unknown) => {
      assert.ok(isAppError(err, 'IO'))
      assert.equal(err.message, `Cannot write "${final}": no space left on device (ENOSPC)`)
      assert.match(err.hint ?? '', /Free up space/)
      return true
    })
    assert.deepEqual(await fsp.readdir(join(path, 'data', h.name.slice(0, 2))), [])
    await assert.rejects(be.stat(h), NotFoundError)
  })

  it('a staged pack on a full disk fails with IO, and abort() leaves no temp file', async () => {
    const { be, path } = await repoWith(failingFileMethod('write', 'ENOSPC'))
    const staged = be.stage('data')
    await assert.rejects(staged.write(randomBytes(5000), 0), (err: unknown) => {
      assert.ok(isAppError(err, 'IO'))
      assert.equal(err.message, `Cannot write "${join(path, 'data')}": no space left on device (ENOSPC)`)
      return true
    })
    await staged.abort()
    assert.deepEqual(await fsp.readdir(join(path, 'data'), { recursive: true }).then((fs) => fs.filter((f) => f.includes('-tmp'))), [])
  })

  it('a staged pack whose fsync fails is neither published nor left behind', async () => {
    const { be, path } = await repoWith(failingFileMethod('sync', 'EIO'))
    const data = randomBytes(5000)
    const staged = be.stage('data')
    await staged.write(data, 0)
    await assert.rejects(staged.commit(hashId(data)), (err: unknown) => isAppError(err, 'IO') && /input\/output error/.test(err.message))
    const left = (await fsp.readdir(join(path, 'data'), { recursive: true })).filter((f) => f.length > 2)
    assert.deepEqual(left, [])
  })

  it('save() whose fsync fails leaves neither the file nor a temp file', async () => {
    const { be, path } = await repoWith(failingFileMethod('sync', 'EIO'))
    const { h, data } = file('index', 100)
    await assert.rejects(be.save(h, data), (err: unknown) => isAppError(err, 'IO') && /input\/output error/.test(err.message))
    assert.deepEqual(await fsp.readdir(join(path, 'index')), [])
  })

  it('save() works on a file system without hard links, and still refuses to overwrite', async () => {
    let links = 0
    const fs: LocalFs = {
      ...fsp,
      link: async () => {
        links++
        throw errno('EPERM', 'link')
      },
    }
    const { be, path } = await repoWith(fs)
    const { h, data } = file('keys', 100)
    await be.save(h, data)
    assert.equal(links, 1)
    assert.deepEqual(await be.load(h), data)
    assert.deepEqual(await fsp.readdir(join(path, 'keys')), [h.name])
    await assert.rejects(be.save(h, Buffer.from('other')), FileExistsError)
    assert.deepEqual(await fsp.readdir(join(path, 'keys')), [h.name])
    assert.deepEqual(await be.load(h), data)
  })

  it('save() into a read-only directory fails with a permission error and leaves nothing', async () => {
    const { path } = await repoWith()
    // Root ignores directory permissions, so then the save runs in a child as an unprivileged user.
    const asRoot = process.getuid?.() === 0
    const snapshots = join(path, 'snapshots')
    if (asRoot) {
      for (const dir of [root, path, snapshots]) await fsp.chmod(dir, 0o755) // owned by root: read-only for nobody
    } else {
      await fsp.chmod(snapshots, 0o500)
    }
    const { h, data } = file('snapshots', 100)
    let result: { code?: string; message?: string; hint?: string; ok?: boolean }
    try {
      if (asRoot) {
        result = saveAsNobody(path, h, data)
      } else {
        result = await new LocalBackend(path).save(h, data).then(
          () => ({ ok: true }),
          (err: { code?: string; message?: string; hint?: string }) => ({ code: err.code, message: err.message, hint: err.hint }),
        )
      }
    } finally {
      await fsp.chmod(snapshots, 0o700)
    }
    assert.equal(result.ok, undefined, 'the save must fail')
    assert.equal(result.code, 'IO')
    assert.equal(result.message, `Cannot write "${join(path, 'snapshots', h.name)}": permission denied (EACCES)`)
    assert.match(result.hint ?? '', /may read and write/)
    assert.deepEqual(await fsp.readdir(snapshots), [])
  })
})

/** Runs one save in a child process as user `nobody` and reports how it ended. */
function saveAsNobody(path: string, h: Handle, data: Buffer): { code?: string; message?: string; hint?: string; ok?: boolean } {
  const moduleUrl = new URL('./local-backend.js', import.meta.url).href
  const script = `
    const { LocalBackend } = await import(${JSON.stringify(moduleUrl)})
    const be = new LocalBackend(${JSON.stringify(path)})
    try {
      await be.save(${JSON.stringify(h)}, Buffer.from(${JSON.stringify(data.toString('base64'))}, 'base64'))
      console.log(JSON.stringify({ ok: true }))
    } catch (err) {
      console.log(JSON.stringify({ code: err.code, message: err.message, hint: err.hint }))
    }`
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    uid: 65534,
    gid: 65534,
    cwd: '/',
    encoding: 'utf8',
  })
  assert.equal(child.status, 0, `child failed: ${child.stderr} (module ${fileURLToPath(moduleUrl)})`)
  return JSON.parse(child.stdout.trim())
}
