import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cairn, interopSkipReason, json, restic, resticBackup, tempDir, type TempDir } from './interop-testing.js'

describe('migrate against restic', { skip: await interopSkipReason() }, () => {
  let tmp: TempDir

  before(async () => {
    tmp = await tempDir('migrate')
  })
  after(() => tmp.remove())

  it('upgrades a version 1 repository restic made; restic then reads the compressed data cairn adds', async () => {
    const src = join(tmp.path, 'src')
    await fs.mkdir(src)
    await fs.writeFile(join(src, 'old.txt'), 'written while the repository was version 1\n')
    const repo = join(tmp.path, 'repo')
    const init = await restic(repo, ['init', '--repository-version', '1'])
    assert.equal(init.code, 0, init.stderr)
    await resticBackup(repo, src)
    const scratch = join(tmp.path, 'scratch')
    await fs.mkdir(scratch)
    const env = { TMPDIR: scratch }

    const listed = await cairn(repo, ['migrate'], env)
    assert.equal(listed.code, 0, listed.stderr)
    assert.match(listed.stdout, /available migrations:\n {2}upgrade_repo_v2\tupgrade a repository to version 2/)
    const applied = await cairn(repo, ['migrate', 'upgrade_repo_v2'], env)
    assert.equal(applied.code, 0, applied.stderr)
    assert.match(applied.stdout, /checking repository integrity\.\.\.\napplying migration upgrade_repo_v2\.\.\.\nmigration upgrade_repo_v2: success/)
    assert.deepEqual(await fs.readdir(scratch), [], 'the copy of the old config is gone once the new one is saved')
    assert.equal(json<{ version: number }>(await restic(repo, ['cat', 'config'])).version, 2)

    const again = await cairn(repo, ['migrate', 'upgrade_repo_v2'], env)
    assert.equal(again.code, 0)
    assert.match(again.stderr, /cannot be applied: repository is already upgraded to version 2/)
    const forced = await cairn(repo, ['migrate', '--force', 'upgrade_repo_v2'], env)
    assert.equal(forced.code, 0, forced.stderr)

    await fs.writeFile(join(src, 'new.txt'), 'compressible line\n'.repeat(20_000))
    const backup = await cairn(repo, ['backup', src])
    assert.equal(backup.code, 0, backup.stderr)
    const check = await restic(repo, ['check', '--read-data'])
    assert.equal(check.code, 0, check.stdout + check.stderr)
    const dumped = await restic(repo, ['dump', 'latest', join(src, 'new.txt')])
    assert.equal(dumped.stdout, 'compressible line\n'.repeat(20_000))
    const packs = await fs.readdir(join(repo, 'data'), { recursive: true })
    let bytes = 0
    for (const p of packs) {
      const st = await fs.stat(join(repo, 'data', p))
      if (st.isFile()) bytes += st.size
    }
    assert.ok(bytes < 100_000, `360 kB of repeated lines are stored compressed (${bytes} bytes of packs)`)
  })
})
