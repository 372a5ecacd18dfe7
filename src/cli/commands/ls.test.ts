import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { cairn, interopSkipReason, PASSWORD, restic, withTempRepo } from '../../app/interop-testing.js'

describe('ls -l', { skip: await interopSkipReason() }, () => {
  it("prints restic's lines: numeric owner, its widths and mode letters, a symlink's target", async () => {
    // cairn printed owner names and a size column 9 wide; find -l printed restic's.
    await withTempRepo('ls-long', async ({ repo, src }) => {
      await fs.mkdir(join(src, 'sub'), { recursive: true })
      await fs.writeFile(join(src, 'sub', 'a.txt'), 'x'.repeat(1234567))
      await fs.symlink('sub/a.txt', join(src, 'link'))
      await fs.chmod(join(src, 'sub'), 0o1750)
      assert.equal((await cairn(repo, ['backup', src])).code, 0)
      const env = { TZ: 'UTC' }
      const ours = await cairn(repo, ['ls', '-l', 'latest'], env)
      const theirs = await restic(repo, ['ls', '-l', 'latest'], { ...env, RESTIC_PASSWORD: PASSWORD })
      assert.equal(ours.code, 0, ours.stderr)
      assert.equal(theirs.code, 0, theirs.stderr)
      const entries = (out: string) => out.split('\n').filter((l) => l.includes(src) && !l.startsWith('snapshot '))
      assert.ok(entries(ours.stdout).some((l) => l.includes(' -> sub/a.txt')))
      assert.deepEqual(entries(ours.stdout), entries(theirs.stdout))
    })
  })

  it("--json prints restic's nodes, a file of mode 000 without \"mode\" as restic leaves it out", async () => {
    // cairn printed "mode":0 for it.
    await withTempRepo('ls-json', async ({ repo, src }) => {
      await fs.mkdir(src)
      await fs.writeFile(join(src, 'none'), 'x')
      await fs.chmod(join(src, 'none'), 0)
      await fs.writeFile(join(src, 'some'), 'y')
      assert.equal((await cairn(repo, ['backup', src])).code, 0)
      const nodes = (out: string) => out.split('\n').filter((l) => l.includes('"struct_type":"node"') && l.includes(src)).map((l) => JSON.parse(l))
      const ours = nodes((await cairn(repo, ['ls', '--json', 'latest'])).stdout)
      const theirs = nodes((await restic(repo, ['ls', '--json', 'latest'], { RESTIC_PASSWORD: PASSWORD })).stdout)
      assert.ok(ours.length >= 3)
      assert.deepEqual(ours, theirs)
      assert.equal(ours.find((n) => n.name === 'none').mode, undefined)
    })
  })
})
