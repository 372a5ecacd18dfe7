import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { isAppError } from '../../base/index.js'
import { cairn, cairnMain, json, PASSWORD, restic, run, withTempRepo } from '../../app/interop-testing.js'
import { parseSnapshotTime } from './backup.js'

describe('backup --time', () => {
  it('parseSnapshotTime() reads restic\'s local "YYYY-MM-DD HH:MM:SS" and ISO 8601 with a zone', () => {
    assert.equal(parseSnapshotTime('2012-11-01 22:08:41').getTime(), new Date(2012, 10, 1, 22, 8, 41).getTime())
    assert.equal(parseSnapshotTime('2012-11-01 22:08').getTime(), new Date(2012, 10, 1, 22, 8, 0).getTime())
    assert.equal(parseSnapshotTime('2012-11-01T22:08:41Z').toISOString(), '2012-11-01T22:08:41.000Z')
    assert.equal(parseSnapshotTime('2012-11-01T22:08:41+02:00').toISOString(), '2012-11-01T20:08:41.000Z')
    for (const bad of ['yesterday', '2012-11-01 10:00:00x', '2012-13-01 10:00:00', '2012-11-01 25:00', '2013-02-29 10:00']) {
      assert.throws(() => parseSnapshotTime(bad), (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message === `Invalid --time "${bad}"`, bad)
    }
  })

  it('gives the snapshot that time', async () => {
    await withTempRepo('backup-time', async ({ tmpPath, repo }) => {
      await fs.writeFile(join(tmpPath, 'f.txt'), 'x')
      const r = await cairn(repo, ['backup', '--time', '2012-11-01T22:08:41Z', join(tmpPath, 'f.txt')], { TZ: 'UTC' })
      assert.equal(r.code, 0, r.stderr)
      const [snap] = json<Array<{ time: string }>>(await cairn(repo, ['--json', 'snapshots']))
      assert.match(snap.time, /^2012-11-01T22:08:41(\.0+)?(Z|\+00:00)$/)
    })
  })
})

describe('backup -vv', () => {
  it('lists each file and folder as new, modified or unchanged, in text and as JSON verbose_status', async () => {
    // Nothing was listed.
    await withTempRepo('backup-vv', async ({ tmpPath, repo, src }) => {
      await fs.mkdir(src)
      await fs.writeFile(join(src, 'a.txt'), 'a')
      await fs.writeFile(join(src, 'b.txt'), 'b')
      const first = await cairn(repo, ['backup', '-vv', src])
      assert.equal(first.code, 0, first.stderr)
      assert.match(first.stdout, new RegExp(`^new       ${join(src, 'a.txt')}$`, 'm'))
      assert.match(first.stdout, new RegExp(`^new       ${src}/$`, 'm'))
      await fs.writeFile(join(src, 'b.txt'), 'bb')
      const second = await cairn(repo, ['--json', 'backup', '-vv', src])
      assert.equal(second.code, 0, second.stderr)
      const items = second.stdout.split('\n').filter((l) => l.includes('verbose_status')).map((l) => JSON.parse(l) as { action: string; item: string })
      assert.deepEqual(items.map((i) => [i.action, i.item]).sort(), [['modified', join(src, 'b.txt')], ['modified', `${src}/`], ['unchanged', join(src, 'a.txt')]].sort())
      // A relative target: items named where they are in the snapshot, as restic names them
      const relative = await run(process.execPath, [cairnMain, '-r', repo, '--json', 'backup', '-vv', '--force', 'src'], {}, undefined, tmpPath)
      assert.equal(relative.code, 0, relative.stderr)
      const named = relative.stdout.split('\n').filter((l) => l.includes('verbose_status')).map((l) => (JSON.parse(l) as { item: string }).item)
      assert.deepEqual(named.sort(), ['/src/', '/src/a.txt', '/src/b.txt'])
      const quiet = await cairn(repo, ['backup', '-v', src])
      assert.doesNotMatch(quiet.stdout, /^unchanged /m, 'not at -v')
      // restic's lines on what the run does, at -v
      assert.match(quiet.stdout, new RegExp(`^open repository\nlock repository\nload index files\nstart scan on \\[${src}\\]\nstart backup on \\[${src}\\]\n`))
      assert.match(quiet.stdout, /^scan finished in \d+\.\d{3}s: 2 files, 3 B$/m)
      // restic's summary at -v: the blob counts, and the sizes padded as its %-5s pads them
      assert.match(quiet.stdout, /^Data Blobs: +\d+ new\nTree Blobs: +\d+ new\nAdded to the repository: \S+ \S+ *\(\S+ \S+ *stored\)$/m)
      const again = await cairn(repo, ['backup', '-v', src])
      assert.match(again.stdout, /^Added to the repository: 0 B {3}\(0 B {3}stored\)$/m)
    })
  })
})

describe('backup --json', () => {
  it("prints restic's status messages while it runs, and error messages on stderr, as restic does", async () => {
    // No status message was printed at all, and errors went to stdout among the results.
    await withTempRepo('backup-json', async ({ tmpPath, repo, src }) => {
      await fs.mkdir(src)
      await fs.writeFile(join(src, 'a.bin'), Buffer.alloc(8 * 1024 * 1024, 7))
      const missing = join(tmpPath, 'missing')
      const r = await cairn(repo, ['--json', 'backup', src, missing], { RESTIC_PROGRESS_FPS: '1000' })
      assert.equal(r.code, 3, r.stderr)
      const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      const status = out.filter((m) => m.message_type === 'status')
      assert.ok(status.length > 0, r.stdout)
      for (const m of status) {
        assert.equal(typeof m.percent_done, 'number')
        for (const [k, v] of Object.entries(m)) if (k !== 'percent_done' && k !== 'message_type') assert.notEqual(v, 0, `${k} is left out when 0`)
      }
      assert.deepEqual(out.map((m) => m.message_type).filter((t) => t !== 'status'), ['summary'], 'nothing but status and the summary on stdout')
      const errLines = r.stderr.trim().split('\n')
      const error = JSON.parse(errLines[0]) as { message_type: string; item: string; during: string }
      assert.deepEqual([error.message_type, error.item, error.during], ['error', missing, 'archival'])
      assert.equal(errLines.at(-1), 'Warning: at least one source file could not be read')
      const quiet = await cairn(repo, ['--json', '-q', 'backup', src], { RESTIC_PROGRESS_FPS: '1000' })
      assert.deepEqual(quiet.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { message_type: string }).message_type), ['summary'])
    })
  })
})

describe('backup of paths that are not UTF-8', () => {
  it('--files-from-raw and --files-from-verbatim back up a file whose name is not UTF-8, under its own bytes', async () => {
    // The bytes were read as UTF-8 (each bad byte became U+FFFD): the file was not found, and
    // not backed up.
    await withTempRepo('backup-raw-names', async ({ tmpPath, repo }) => {
      const name = Buffer.concat([Buffer.from('bad'), Buffer.of(0xff, 0xfe), Buffer.from('name')])
      const dir = Buffer.from(join(tmpPath, 'src'))
      await fs.mkdir(dir)
      const file = Buffer.concat([dir, Buffer.from('/'), name])
      await fs.writeFile(file, 'data')
      await fs.writeFile(join(tmpPath, 'raw'), Buffer.concat([file, Buffer.of(0)]))
      await fs.writeFile(join(tmpPath, 'verbatim'), Buffer.concat([file, Buffer.from('\n')]))
      for (const flag of ['--files-from-raw', '--files-from-verbatim']) {
        const r = await cairn(repo, ['backup', flag, join(tmpPath, flag === '--files-from-raw' ? 'raw' : 'verbatim')])
        assert.equal(r.code, 0, `${flag}: ${r.stderr}`)
        const target = join(tmpPath, `out${flag}`)
        assert.equal((await cairn(repo, ['restore', 'latest', '--target', target])).code, 0)
        const restored = await fs.readdir(Buffer.concat([Buffer.from(target), dir]), { encoding: 'buffer' })
        assert.deepEqual(restored, [name], flag)
      }
    })
  })
})

describe('backup of a path below a symlinked folder', () => {
  it('follows the symlink on the way to the target and stores a folder there, as restic does (same tree)', async () => {
    // The folder on the way was stored as the symlink (with a subtree): nothing below it could
    // be listed or restored, and the backup said it was fine.
    await withTempRepo('backup-symlinked-way', async ({ tmpPath, repo }) => {
      await fs.mkdir(join(tmpPath, 'data/home/u'), { recursive: true })
      await fs.writeFile(join(tmpPath, 'data/home/u/f.txt'), 'f')
      await fs.mkdir(join(tmpPath, 'way'))
      await fs.symlink('../data/home', join(tmpPath, 'way/home'))
      const target = join(tmpPath, 'way/home/u')
      const args = ['--host', 'h', '--time', '2020-01-01 00:00:00']
      assert.equal((await cairn(repo, ['backup', ...args, target])).code, 0)
      assert.equal((await restic(repo, ['backup', ...args, target], { RESTIC_PASSWORD: PASSWORD })).code, 0)
      const snaps = json<Array<{ tree: string }>>(await cairn(repo, ['--json', 'snapshots']))
      assert.equal(snaps.length, 2)
      // The trees of the folders from "way" down are the same. (Not the root trees: the times of
      // the temporary folder's ancestors change as other tests run beside this one.)
      const subtree = async (root: string, path: string[]): Promise<string> => {
        let id = root
        for (const name of path) {
          const nodes = JSON.parse((await cairn(repo, ['cat', 'tree', id])).stdout) as { nodes: Array<{ name: string; subtree?: string }> }
          id = nodes.nodes.find((n) => n.name === name)!.subtree!
        }
        return id
      }
      const way = [...tmpPath.split('/').filter((p) => p !== ''), 'way']
      assert.equal(await subtree(snaps[0].tree, way), await subtree(snaps[1].tree, way))
      const ls = await cairn(repo, ['ls', 'latest'])
      assert.match(ls.stdout, /way\/home\/u\/f\.txt/)
    })
  })
})

describe('backup with a path that does not exist', () => {
  it('still finds the parent snapshot of the paths that do, so unchanged files are not read again', async () => {
    // The missing path was part of the parent's lookup, which then never matched.
    await withTempRepo('backup-missing-parent', async ({ tmpPath, repo }) => {
      await fs.mkdir(join(tmpPath, 'src'))
      await fs.writeFile(join(tmpPath, 'src/a.txt'), 'a')
      const args = ['backup', join(tmpPath, 'src'), join(tmpPath, 'missing')]
      assert.equal((await cairn(repo, args)).code, 3)
      const second = await cairn(repo, args)
      assert.equal(second.code, 3)
      assert.match(second.stdout, /parent snapshot/i)
      assert.match(second.stdout, /0 new, +0 changed, +1 unmodified/)
    })
  })
})

describe('backup of a folder that cannot be listed', { skip: process.getuid?.() !== 0 ? 'needs root, to back up as another user' : false }, () => {
  it('leaves it out of the snapshot, as restic does, rather than storing it empty', async () => {
    // Stored empty, a restore showed it emptied rather than missing.
    const { spawn } = await import('node:child_process')
    await withTempRepo('backup-unlistable', async ({ tmpPath, repo }) => {
      await fs.chmod(tmpPath, 0o777)
      await fs.mkdir(join(tmpPath, 'src/open'), { recursive: true })
      await fs.mkdir(join(tmpPath, 'src/closed'), { mode: 0o700 })
      await fs.writeFile(join(tmpPath, 'src/open/a.txt'), 'a')
      await fs.writeFile(join(tmpPath, 'src/closed/secret.txt'), 's')
      await fs.chmod(join(tmpPath, 'src'), 0o755)
      const { execFileSync } = await import('node:child_process')
      execFileSync('chmod', ['-R', 'a+rwX', repo])
      const code = await new Promise<number>((resolve) => {
        const p = spawn(process.execPath, [cairnMain, '-r', repo, '--no-cache', 'backup', join(tmpPath, 'src')], {
          uid: 65534, gid: 65534, env: { ...process.env, HOME: tmpPath, CAIRN_PASSWORD: PASSWORD }, stdio: 'ignore',
        })
        p.on('close', (c) => resolve(c ?? -1))
      })
      assert.equal(code, 3)
      const ls = await cairn(repo, ['ls', 'latest'])
      assert.match(ls.stdout, /src\/open\/a\.txt/)
      assert.doesNotMatch(ls.stdout, /src\/closed/)
    })
  })
})
