/**
 * `cairn forget --json` prints what restic 0.14's `forget --json` prints, on 200 synthetic
 * snapshots (two years, two hosts, several tags and zones), and `cairn forget` really deletes
 * the snapshots it names. Skipped when restic is not installed or the CLI is not built.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { LocalBackend } from '../../backends/index.js'
import { Repository } from '../../repository/index.js'
import { TEST_POLYNOMIAL, WEAK_SCRYPT } from '../../repository/testing.js'
import { encodeSnapshot } from '../../snapshots/index.js'
import { POLICY_CASES, syntheticSnapshots } from '../../snapshots/retention-testing.js'

const ZONE = 'Europe/Berlin'
process.env.TZ = ZONE
const RESTIC = process.env.RESTIC_BIN ?? '/usr/bin/restic'
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..')
const CAIRN = join(ROOT, 'bin', 'cairn.js')
const PASSWORD = 'forget cli'
const skip = !existsSync(RESTIC) ? 'restic is not installed' : !existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js')) ? 'the CLI is not built' : false

interface Run {
  code: number
  stdout: string
  stderr: string
}

let home = ''
function run(command: string, args: string[]): Promise<Run> {
  return new Promise((res) => {
    const env = { PATH: process.env.PATH, HOME: home, TZ: ZONE, RESTIC_PASSWORD: PASSWORD, CAIRN_PASSWORD: PASSWORD }
    execFile(command, args, { env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0
      res({ code, stdout, stderr })
    })
  })
}

const restic = (repo: string, ...args: string[]) => run(RESTIC, ['--no-cache', '-r', repo, ...args])
const cairn = (repo: string, ...args: string[]) => run(process.execPath, [CAIRN, '-r', repo, ...args])

type Group = { host: string; paths: unknown; tags: unknown }
const byKey = (groups: Group[]) =>
  [...groups].sort((a, b) => {
    const ka = JSON.stringify([a.host, a.paths, a.tags])
    const kb = JSON.stringify([b.host, b.paths, b.tags])
    return ka < kb ? -1 : ka > kb ? 1 : 0
  })

async function makeRepository(dir: string, count: number): Promise<void> {
  const repo = await Repository.init(new LocalBackend(dir), PASSWORD, { scrypt: WEAK_SCRYPT, polynomial: TEST_POLYNOMIAL })
  for (const s of syntheticSnapshots(count)) await repo.saveUnpacked('snapshots', encodeSnapshot(s))
  await repo.close()
}

describe('cairn forget', { skip }, () => {
  let root = ''
  let repo = ''

  before(async () => {
    root = await fs.mkdtemp(join(tmpdir(), 'cairn-forget-cli-'))
    home = join(root, 'home')
    await fs.mkdir(home)
    repo = join(root, 'repo')
    await makeRepository(repo, 200)
  })

  after(async () => {
    if (root) await fs.rm(root, { recursive: true, force: true })
  })

  const cases = POLICY_CASES.filter((c) => /last 5|within-daily|tag lists|by tags|ungrouped|filters|everything/.test(c.name))
  describe('--dry-run --json prints what restic prints', { concurrency: 3 }, () => {
    for (const c of cases) {
      it(c.name, async () => {
        const [ours, theirs] = await Promise.all([
          cairn(repo, '--no-lock', 'forget', '--dry-run', '--json', ...c.args),
          restic(repo, '--no-lock', 'forget', '--dry-run', '--json', ...c.args),
        ])
        assert.equal(ours.code, 0, ours.stderr)
        assert.equal(theirs.code, 0, theirs.stderr)
        const a = JSON.parse(ours.stdout) as Group[]
        const b = JSON.parse(theirs.stdout) as Group[]
        assert.ok(b.length > 0)
        assert.deepEqual(byKey(a), byKey(b))
        // restic orders groups at random; with one group the bytes must match exactly.
        if (c.args.includes('--group-by') && c.args[c.args.indexOf('--group-by') + 1] === '') assert.equal(ours.stdout, theirs.stdout)
      })
    }
  })

  it('--dry-run prints restic\'s tables to the character, --compact too', async () => {
    // --compact put a snapshot's tags on one line, joined by commas, with rules two dashes short.
    for (const extra of [[], ['--compact']]) {
      const args = ['--no-lock', 'forget', '--dry-run', '--group-by', '', '--keep-last', '4', '--host', 'alpha', ...extra]
      const [ours, theirs] = await Promise.all([cairn(repo, ...args), restic(repo, ...args)])
      assert.equal(theirs.code, 0, theirs.stderr)
      assert.equal(ours.code, 0, ours.stderr)
      assert.match(theirs.stdout, /keep \d+ snapshots/)
      assert.equal(ours.stdout, theirs.stdout, extra.join(' '))
    }
  })

  it('deletes the snapshots the policy removes, and only snapshot files', async () => {
    const small = join(root, 'small')
    await makeRepository(small, 12)
    const all = JSON.parse((await restic(small, 'snapshots', '--json')).stdout) as Array<{ id: string; time: string }>
    const newest = all.sort((x, y) => Date.parse(y.time) - Date.parse(x.time)).slice(0, 3).map((s) => s.id)
    const r = await cairn(small, 'forget', '--keep-last', '3', '--group-by', '')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /remove 9 snapshots/)
    const left = JSON.parse((await restic(small, 'snapshots', '--json')).stdout) as Array<{ id: string }>
    assert.deepEqual(left.map((s) => s.id).sort(), [...newest].sort())
    // Explicit IDs, with an unknown one that is reported and skipped.
    const byId = await cairn(small, 'forget', newest[0].slice(0, 10), 'ffffffff')
    assert.equal(byId.code, 0, byId.stderr)
    assert.match(byId.stderr, /Ignoring "ffffffff": No snapshot with ID "ffffffff"/)
    assert.equal((JSON.parse((await restic(small, 'snapshots', '--json')).stdout) as unknown[]).length, 2)
    assert.deepEqual(await fs.readdir(join(small, 'locks')), [], 'the lock was released')
  })

  it('rejects bad flags before touching anything', async () => {
    // (Each flag's checks are unit-tested in app/forget.test.ts; this is the CLI path.)
    const bad = await cairn(repo, 'forget', '--keep-daily', '1', '--prune', '--max-unused', '100%')
    assert.equal(bad.code, 1, bad.stderr)
    assert.match(bad.stderr, /must be below 100%/)
    const noLock = await cairn(repo, '--no-lock', 'forget', '--keep-last', '1')
    assert.equal(noLock.code, 1)
    assert.match(noLock.stderr, /--no-lock can only be used together with --dry-run/)
    assert.equal((await fs.readdir(join(repo, 'snapshots'))).length, 200)
  })
})
