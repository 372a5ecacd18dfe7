import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { isAppError } from '../../base/index.js'
import { cairn, initRepo, json, tempDir } from '../../app/interop-testing.js'
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
    const tmp = await tempDir('backup-time')
    try {
      const repo = join(tmp.path, 'repo')
      await initRepo(repo)
      await fs.writeFile(join(tmp.path, 'f.txt'), 'x')
      const r = await cairn(repo, ['backup', '--time', '2012-11-01T22:08:41Z', join(tmp.path, 'f.txt')], { TZ: 'UTC' })
      assert.equal(r.code, 0, r.stderr)
      const [snap] = json<Array<{ time: string }>>(await cairn(repo, ['--json', 'snapshots']))
      assert.match(snap.time, /^2012-11-01T22:08:41(\.0+)?(Z|\+00:00)$/)
    } finally {
      await tmp.remove()
    }
  })
})
