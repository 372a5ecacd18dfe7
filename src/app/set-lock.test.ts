import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { acquireSetLock } from './set-lock.js'

const MODULE = new URL('./set-lock.js', import.meta.url).href

/** Starts `n` processes that try for the lock at the same instant; returns how many got it. */
async function race(dir: string, n: number): Promise<number> {
  const go = Date.now() + 1500
  const script = `
    import { acquireSetLock } from ${JSON.stringify(MODULE)}
    while (Date.now() < ${go}) {}
    const l = await acquireSetLock(${JSON.stringify(dir)}, '/etc/cairn.yaml', 'data')
    if (l.ok) { process.stdout.write('GOT'); await new Promise((r) => setTimeout(r, 1000)); await l.release() }
  `
  const outs = await Promise.all(
    Array.from({ length: n }, () => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
      let out = ''
      child.stdout.on('data', (b: Buffer) => (out += b.toString()))
      return new Promise<string>((resolve) => child.on('close', () => resolve(out)))
    }),
  )
  return outs.filter((o) => o === 'GOT').length
}

describe('acquireSetLock()', () => {
  let root: string
  let n = 0
  const fresh = () => join(root, `d${n++}`)
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'cairn-set-lock-'))
  })
  after(() => rm(root, { recursive: true, force: true }))

  it('lets exactly one of several processes that start at once hold it, also when they take over a dead holder\'s lock', async () => {
    // The file was created empty and filled afterwards, and a dead holder's lock was unlinked
    // and made again: several processes held it at once.
    const dir = fresh()
    assert.equal(await race(dir, 6), 1)
    assert.deepEqual(await readdir(dir), [], 'released, and no file left behind')
    const stale = await acquireSetLock(dir, '/etc/cairn.yaml', 'data')
    assert.ok(stale.ok)
    const [file] = await readdir(dir)
    const { spawnSync } = await import('node:child_process')
    const content = JSON.parse(await readFile(join(dir, file), 'utf8')) as Record<string, unknown>
    await writeFile(join(dir, file), JSON.stringify({ ...content, pid: spawnSync('true').pid }))
    assert.equal(await race(dir, 4), 1)
  })

  it('release() leaves alone a lock that another process holds now', async () => {
    const dir = fresh()
    const mine = await acquireSetLock(dir, '/etc/cairn.yaml', 'data')
    assert.ok(mine.ok)
    const [file] = await readdir(dir)
    const theirs = JSON.stringify({ pid: 1, hostname: 'other', startedAt: new Date().toISOString() })
    await writeFile(join(dir, file), theirs)
    await mine.release()
    assert.equal(await readFile(join(dir, file), 'utf8'), theirs)
    const refused = await acquireSetLock(dir, '/etc/cairn.yaml', 'data')
    assert.equal(refused.ok, false)
  })

  it('is one lock for a config file named through a symlink and named directly', async () => {
    // Keyed by the path as given, the same set could run twice at once on one repository.
    const dir = fresh()
    const config = join(root, 'cairn.yaml')
    await writeFile(config, 'sets: {}\n')
    await symlink(config, join(root, 'dotfiles-link.yaml'))
    const direct = await acquireSetLock(dir, config, 'data')
    assert.ok(direct.ok)
    const linked = await acquireSetLock(dir, join(root, 'dotfiles-link.yaml'), 'data')
    assert.equal(linked.ok, false)
    await direct.release()
  })
})
