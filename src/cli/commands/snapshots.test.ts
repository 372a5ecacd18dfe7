import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cairn, initRepo, interopSkipReason, json, restic, resticBackup, tempDir, withRepo, type TempDir } from '../../app/interop-testing.js'

interface Group {
  group_key: { hostname: string; paths: string[] | null; tags: string[] | null }
  snapshots: Array<{ id: string }>
}

/** Groups in a stable order, each as its key and member IDs (restic's group order is random). */
const canonical = (groups: Group[]) => groups.map((g) => JSON.stringify([g.group_key, g.snapshots.map((s) => s.id)])).sort()

describe('snapshots --group-by and --compact against restic', { skip: await interopSkipReason() }, () => {
  let tmp: TempDir
  let repo: string

  before(async () => {
    tmp = await tempDir('snapshots')
    const src = join(tmp.path, 'src')
    await fs.mkdir(src)
    await fs.writeFile(join(src, 'a.txt'), 'a\n')
    repo = join(tmp.path, 'repo')
    await initRepo(repo)
    await resticBackup(repo, src, ['--host', 'alpha', '--tag', 'b,a'])
    await resticBackup(repo, src, ['--host', 'beta'])
    await resticBackup(repo, join(src, 'a.txt'), ['--host', 'alpha'])
    await resticBackup(repo, src, ['--host', 'gamma', '--tag', 'x'])
    await resticBackup(repo, src, ['--host', 'gamma', '--tag', 'y'])
  })
  after(() => tmp.remove())

  it('--json --group-by gives restic\'s groups: the same keys and members', async () => {
    for (const by of ['host', 'paths', 'tags', 'host,paths,tags']) {
      const ours = json<Group[]>(await cairn(repo, ['--json', 'snapshots', '--group-by', by]))
      const theirs = json<Group[]>(await restic(repo, ['--json', 'snapshots', '--group-by', by]))
      assert.deepEqual(canonical(ours), canonical(theirs), by)
    }
  })

  it('--latest with --group-by counts within each group, as restic does', async () => {
    // --latest was applied before grouping: gamma's older tag x lost to its newer tag y.
    for (const by of ['tags', 'host,tags']) {
      const ours = json<Group[]>(await cairn(repo, ['--json', 'snapshots', '--group-by', by, '--latest', '1']))
      const theirs = json<Group[]>(await restic(repo, ['--json', 'snapshots', '--group-by', by, '--latest', '1']))
      assert.deepEqual(canonical(ours), canonical(theirs), by)
      assert.ok(ours.some((g) => g.group_key.tags?.includes('x')), by)
    }
  })

  it("takes restic's older flags: snapshots --last, forget --hostname", async () => {
    const ids = (r: Array<{ id: string }>) => r.map((s) => s.id).sort()
    const ours = json<Array<{ id: string }>>(await cairn(repo, ['--json', 'snapshots', '--last']))
    assert.deepEqual(ids(ours), ids(json<Array<{ id: string }>>(await restic(repo, ['--json', 'snapshots', '--last']))))
    const forget = await cairn(repo, ['forget', '--dry-run', '--keep-last', '1', '--hostname', 'gamma'])
    assert.equal(forget.code, 0, forget.stderr)
    assert.match(forget.stdout, /host \[gamma\]/)
    assert.doesNotMatch(forget.stdout, /host \[alpha\]/)
  })

  it('text output titles each group as restic does, and --compact lists tags one a line without paths', async () => {
    const r = await cairn(repo, ['snapshots', '--group-by', 'host,tags', '--compact'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^snapshots for \(host \[alpha\], tags \[a, b\]\):\nID +Time +Host +Tags\n-+\n[0-9a-f]{8} .* alpha +a\n +b\n-+\n1 snapshots\n/m)
    assert.match(r.stdout, /^snapshots for \(host \[beta\]\):$/m)
    assert.doesNotMatch(r.stdout, /Paths/)
  })

  it('the full table is restic\'s to the character, header padding included', async () => {
    // The Host and Tags headers were not padded to ten characters as restic's are.
    const ours = await cairn(repo, ['snapshots'])
    const theirs = await restic(repo, ['snapshots'])
    assert.equal(ours.stdout.trimEnd(), theirs.stdout.trimEnd())
  })

  it('a snapshot of several paths: sorted, parted by blank lines, its time reprinted, as restic prints it', async () => {
    // Paths were printed in stored order without the blank lines, and "+00:00" was not made "Z".
    const copy = join(tmp.path, 'multi')
    await fs.cp(repo, copy, { recursive: true })
    await withRepo(copy, async (r) => {
      const [id] = await r.listIds('snapshots')
      const base = JSON.parse((await r.loadUnpacked('snapshots', id)).toString()) as Record<string, unknown>
      const odd = { ...base, paths: ['/srv', '/etc'], tags: ['zz', 'aa'], time: '2026-01-02T03:04:05.100+00:00' }
      await r.saveUnpacked('snapshots', Buffer.from(JSON.stringify(odd)))
    })
    for (const args of [['snapshots'], ['snapshots', '--json'], ['snapshots', '--group-by', 'host,tags', '--tag', 'zz'], ['snapshots', '--group-by', 'tags', '--json', '--tag', 'zz']]) {
      const ours = await cairn(copy, args)
      const theirs = await restic(copy, args)
      assert.equal(theirs.code, 0, theirs.stderr)
      assert.equal(ours.stdout.trimEnd(), theirs.stdout.trimEnd(), args.join(' '))
    }
    assert.match((await cairn(copy, ['snapshots'])).stdout, /\/etc\n +\/srv\n\n/)
  })

  it('the compact table is restic\'s to the character: its Tags column is six wide at least', async () => {
    // The rules under the header were two dashes shorter than restic's.
    for (const args of [['snapshots', '--compact'], ['snapshots', '--compact', '--host', 'beta']]) {
      const ours = await cairn(repo, args)
      const theirs = await restic(repo, args)
      assert.equal(ours.stdout.trimEnd(), theirs.stdout.trimEnd(), args.join(' '))
    }
  })
})
