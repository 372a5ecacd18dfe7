import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { cairn, withTempRepo } from '../../app/interop-testing.js'

describe('restore --overwrite, --delete, --dry-run', () => {
  it('lists each action at -vv, sums them up as restic does in JSON, and refuses an unknown policy', async () => {
    await withTempRepo('restore-cli', async ({ tmpPath, repo, src }) => {
      await fs.mkdir(src)
      await fs.writeFile(join(src, 'a.txt'), 'aaa')
      await fs.writeFile(join(src, 'b.txt'), 'bbb')
      assert.equal((await cairn(repo, ['backup', src])).code, 0)
      const target = join(tmpPath, 'target')
      assert.equal((await cairn(repo, ['restore', 'latest', '--target', target])).code, 0)
      const root = join(target, src)
      await fs.writeFile(join(root, 'b.txt'), 'changed')
      await fs.writeFile(join(root, 'extra.txt'), 'x')
      // Beside the folders that only lead to the backed-up one: never deleted.
      await fs.writeFile(join(target, 'beside.txt'), 'y')

      const dry = await cairn(repo, ['restore', 'latest', '--target', target, '--delete', '--dry-run', '-vv'])
      assert.equal(dry.code, 0, dry.stderr)
      assert.match(dry.stdout, new RegExp(`unchanged +${join(root, 'a.txt')}`))
      assert.match(dry.stdout, new RegExp(`updated +${join(root, 'b.txt')}`))
      assert.match(dry.stdout, new RegExp(`deleted +${join(root, 'extra.txt')}`))
      assert.match(dry.stdout, /would restore snapshot .*: 1 file,/)
      assert.match(dry.stdout, /would leave 1 file \(3 B\) as found/)
      assert.equal(await fs.readFile(join(root, 'b.txt'), 'utf8'), 'changed')

      const real = await cairn(repo, ['--json', 'restore', 'latest', '--target', target, '--delete'])
      assert.equal(real.code, 0, real.stderr)
      const summary = JSON.parse(real.stdout.trim().split('\n').pop()!) as Record<string, unknown>
      assert.equal(summary.message_type, 'summary')
      assert.equal(summary.files_restored, 1)
      assert.equal(summary.files_skipped, 1)
      assert.equal(summary.files_deleted, 1)
      assert.equal(summary.bytes_restored, 3)
      assert.equal(summary.bytes_skipped, 3)
      assert.equal(summary.total_files, 2, "restic's total_files: restored and skipped")
      assert.equal(summary.total_bytes, 6)
      assert.equal(await fs.readFile(join(root, 'b.txt'), 'utf8'), 'bbb')
      await assert.rejects(fs.access(join(root, 'extra.txt')))
      assert.equal(await fs.readFile(join(target, 'beside.txt'), 'utf8'), 'y')

      const bad = await cairn(repo, ['restore', 'latest', '--target', target, '--overwrite', 'sometimes'])
      assert.notEqual(bad.code, 0)
      assert.match(bad.stderr, /sometimes/)
      assert.match(bad.stderr, /always, if-changed, if-newer, never/)
    })
  })
})

describe('restore --json', () => {
  it("prints restic's status messages while it runs", async () => {
    await withTempRepo('restore-json', async ({ tmpPath, repo, src }) => {
      await fs.mkdir(src)
      await fs.writeFile(join(src, 'a.bin'), Buffer.alloc(4 * 1024 * 1024, 1))
      assert.equal((await cairn(repo, ['backup', src])).code, 0)
      const r = await cairn(repo, ['--json', 'restore', 'latest', '--target', join(tmpPath, 'target')], { RESTIC_PROGRESS_FPS: '1000' })
      assert.equal(r.code, 0, r.stderr)
      const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      const status = out.filter((m) => m.message_type === 'status')
      assert.ok(status.length > 0, r.stdout)
      for (const m of status) assert.equal(typeof m.percent_done, 'number')
      assert.equal(out.at(-1)?.message_type, 'summary')
    })
  })
})
