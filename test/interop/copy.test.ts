/**
 * `cairn copy` along a chain of repositories, judged by the real restic: restic makes the first
 * repository (two snapshots of the fixture), then cairn creates each next one with
 * `init --copy-chunker-params --from-repo PREV` and copies into it with `copy --from-repo PREV`.
 * Every copy must pass `restic check --read-data`, restore with restic identically to the
 * origin's snapshots, copy nothing on a second run, and agree with `restic copy` on what is
 * already copied (both ways).
 *
 * The chain is a list of leg factories (CHAIN below): local → SFTP (OpenSSH) → S3 (Swift). A leg is just a
 * repository URL plus how both programs reach it (password, environment, extra global flags), so
 * an SFTP or S3 leg is one more factory that starts its server in the test's temp root and
 * returns its URL; nothing else in the file changes. The tests run in order and build on each
 * other.
 */
import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { backupSummary, cairn, compareTrees, jsonLines, makeFixtureTree, makeTempRoot, needs, restic } from '../helpers/index.js'
import type { FixtureInfo, RunResult, TempRoot } from '../helpers/index.js'
import { sshdMissing, startSshd } from '../../src/backends/sftp/testing.js'
import { startSwiftS3Server, swiftS3SkipReason } from '../../src/backends/s3/testing.js'

/** One repository of the chain and how restic and cairn reach it. */
interface Leg {
  /** Short name for messages. */
  name: string
  /** The repository URL, as given to -r and to --from-repo. */
  url: string
  password: string
  /** Environment both programs need for this repository (credentials, …). */
  env?: Record<string, string>
  /** Global flags both programs need for it (`-o sftp.command=…`, `--cacert …`). */
  args?: string[]
  /** Stops whatever the leg started (servers); called once, after every test. */
  close?(): Promise<void>
}

/** Makes leg number `index` of the chain inside the test's temporary root. */
type LegFactory = (tmp: TempRoot, index: number) => Promise<Leg>

/** A repository in a local directory. */
function localLeg(name: string): LegFactory {
  return async (tmp, index) => ({ name, url: join(tmp.path, `repo-${name}`), password: `copy chain password ${index}` })
}

/**
 * A repository on a throwaway OpenSSH server, reached by both programs through
 * `-o sftp.command` (restic's way; the `sftp:user@host:/path` form has no port).
 */
function sftpLeg(name: string): LegFactory {
  return async (tmp, index) => {
    const sshd = await startSshd()
    return {
      name,
      url: `sftp:${sshd.user}@${sshd.host}:${join(sshd.dir, `repo-${name}`)}`,
      password: `copy chain password ${index}`,
      args: ['-o', `sftp.command=${sshd.sftpCommand}`],
      close: () => sshd.stop(),
    }
  }
}

/**
 * A repository on a real S3 server (Swift's s3api) over https: restic 0.14 needs https there
 * (see s3-test-server facts), so both programs get `--cacert`.
 */
function s3Leg(name: string): LegFactory {
  return async (_tmp, index) => {
    const server = await startSwiftS3Server()
    return {
      name,
      url: server.url('https', server.bucket, `repo-${name}`),
      password: `copy chain password ${index}`,
      env: server.credentialsEnv,
      args: ['--cacert', server.caFile!],
      close: () => server.stop(),
    }
  }
}

/** The chain: the first leg is made by restic, each next one by cairn copying from the one before. */
const CHAIN: LegFactory[] = [localLeg('origin'), sftpLeg('sftp'), s3Leg('s3')]

interface ResticSnapshot {
  id: string
  tree: string
  paths: string[]
  hostname: string
  tags?: string[]
  parent?: string
  original?: string
}

interface CopySummary {
  message_type: 'summary'
  snapshots_copied: number
  snapshots_skipped: number
  data_blobs: number
  tree_blobs: number
  bytes_copied: number
  packs_read: number
}

const skip = (await needs('restic', 'cairn')) || (await sshdMissing()) || (await swiftS3SkipReason())

describe('cairn copy along a chain of repositories', { skip }, () => {
  let tmp: TempRoot
  let src: string
  let info: FixtureInfo
  let legs: Leg[] = []
  /** The origin's snapshots, oldest first, and where restic restored each (the reference). */
  let origin: ResticSnapshot[] = []
  const reference = new Map<string, string>()

  before(async () => {
    tmp = await makeTempRoot('copy')
    src = join(tmp.path, 'src')
    info = await makeFixtureTree(src)
    for (const [i, make] of CHAIN.entries()) legs.push(await make(tmp, i))
  })
  after(async () => {
    for (const leg of legs) await leg.close?.().catch(() => {})
    await tmp?.cleanup()
  })

  /** Runs a program on `leg`; with `from`, that leg is the --from-repo source. */
  function on(program: typeof restic, leg: Leg, args: string[], from?: Leg, env: Record<string, string> = {}): Promise<RunResult> {
    const extra = [...(leg.args ?? []), ...(from?.args ?? [])]
    const fromArgs = from ? ['--from-repo', from.url] : []
    return program([...extra, ...args, ...fromArgs], {
      repo: leg.url,
      password: leg.password,
      env: { ...from?.env, ...leg.env, ...(from ? { RESTIC_FROM_PASSWORD: from.password } : {}), ...env },
      timeoutMs: 170_000,
    })
  }
  const ok = (r: RunResult, what: string) => assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`)
  async function snapshotsOf(leg: Leg): Promise<ResticSnapshot[]> {
    const r = await on(restic, leg, ['snapshots', '--json'])
    ok(r, `restic snapshots on ${leg.name}`)
    return JSON.parse(r.stdout) as ResticSnapshot[]
  }
  /** The repository's files as restic lists them (works on every backend). */
  async function listing(leg: Leg): Promise<string[]> {
    const out: string[] = []
    for (const type of ['packs', 'index', 'snapshots', 'keys']) {
      const r = await on(restic, leg, ['list', type])
      ok(r, `restic list ${type} on ${leg.name}`)
      out.push(...r.stdout.split('\n').filter((l) => l !== '').map((l) => `${type}/${l}`))
    }
    return out.sort()
  }
  async function polynomial(leg: Leg): Promise<string> {
    const r = await on(restic, leg, ['cat', 'config'])
    ok(r, `restic cat config on ${leg.name}`)
    return (JSON.parse(r.stdout) as { chunker_polynomial: string }).chunker_polynomial
  }
  function copySummary(r: RunResult): CopySummary {
    ok(r, 'cairn copy --json')
    const s = jsonLines(r.stdout).find((l) => (l as { message_type?: string }).message_type === 'summary')
    assert.ok(s, `no summary in ${r.stdout}`)
    return s as CopySummary
  }

  test('restic makes the origin: two snapshots of the fixture, the second with a parent', async () => {
    const o = legs[0]
    ok(await on(restic, o, ['init']), 'restic init')
    const first = await on(restic, o, ['backup', '--json', '--host', 'alpha', '--tag', 'base,keep', src])
    ok(first, 'restic backup')
    await fs.writeFile(join(src, 'added-later.txt'), 'written between the two backups\n')
    const firstId = (await snapshotsOf(o))[0].id
    const second = await on(restic, o, ['backup', '--json', '--host', 'beta', '--parent', firstId, src])
    ok(second, 'restic backup')
    assert.ok(backupSummary(second.stdout).files_unmodified > 0, 'the second backup used its parent')
    origin = (await snapshotsOf(o)).sort((a, b) => (a.id === firstId ? -1 : b.id === firstId ? 1 : 0))
    assert.equal(origin.length, 2)
    assert.equal(origin[1].parent, firstId)
    for (const s of origin) {
      const target = await tmp.dir(`reference-${s.id.slice(0, 8)}`)
      ok(await on(restic, o, ['restore', s.id, '--target', target]), 'restic restore')
      reference.set(s.id, target)
    }
    assert.deepEqual(await compareTrees(src, join(reference.get(origin[1].id)!, src), { mtimeToleranceNs: 0 }), [])
  })

  for (let i = 1; i < CHAIN.length; i++) {
    test(`leg ${i}: cairn init --copy-chunker-params and copy; restic check --read-data accepts the copies`, async () => {
      const [from, to] = [legs[i - 1], legs[i]]
      ok(await on(cairn, to, ['init', '--copy-chunker-params'], from), `cairn init on ${to.name}`)
      assert.equal(await polynomial(to), await polynomial(from), 'the same chunker polynomial')
      const r = await on(cairn, to, ['copy'], from)
      ok(r, `cairn copy into ${to.name}`)
      assert.equal(r.stdout.match(/copy started, this may take a while\.\.\./g)?.length, 2, r.stdout)
      assert.equal(r.stdout.match(/^snapshot [0-9a-f]{8} saved$/gm)?.length, 2, r.stdout)
      const copies = await snapshotsOf(to)
      assert.deepEqual(copies.map((s) => s.original).sort(), origin.map((s) => s.id).sort(), '`original` names the origin snapshot along the whole chain')
      for (const c of copies) {
        const o = origin.find((s) => s.id === c.original)!
        assert.equal(c.parent, undefined, 'parent is dropped')
        assert.deepEqual([c.tree, c.paths, c.hostname, c.tags], [o.tree, o.paths, o.hostname, o.tags])
      }
      const check = await on(restic, to, ['check', '--read-data'])
      ok(check, `restic check --read-data on ${to.name}`)
    })

    test(`leg ${i}: a second cairn copy transfers nothing`, async () => {
      const [from, to] = [legs[i - 1], legs[i]]
      const before = await listing(to)
      const s = copySummary(await on(cairn, to, ['--json', 'copy'], from))
      assert.deepEqual(
        [s.snapshots_copied, s.snapshots_skipped, s.data_blobs, s.tree_blobs, s.bytes_copied, s.packs_read],
        [0, 2, 0, 0, 0, 0],
      )
      assert.deepEqual(await listing(to), before, 'no pack, index or snapshot file added')
    })
  }

  test('every snapshot restored by restic from the last repository is identical to the origin', async () => {
    const last = legs[legs.length - 1]
    const copies = await snapshotsOf(last)
    assert.equal(copies.length, 2)
    for (const c of copies) {
      const target = await tmp.dir(`restore-${c.id.slice(0, 8)}`)
      ok(await on(restic, last, ['restore', c.id, '--target', target]), 'restic restore')
      const ref = reference.get(c.original!)
      assert.ok(ref, `copy ${c.id} names no origin snapshot`)
      assert.deepEqual(await compareTrees(join(ref, src), join(target, src), { mtimeToleranceNs: 0 }), [], `snapshot ${c.id.slice(0, 8)}`)
    }
  })

  test('restic copy afterwards sees every snapshot as already copied by cairn', async () => {
    const [from, to] = [legs[legs.length - 2], legs[legs.length - 1]]
    const before = await listing(to)
    const r = await on(restic, to, ['copy'], from)
    ok(r, 'restic copy')
    assert.equal(r.stdout.match(/skipping source snapshot [0-9a-f]{8}, was already copied to snapshot/g)?.length, 2, r.stdout)
    assert.doesNotMatch(r.stdout, /copy started/)
    assert.deepEqual(await listing(to), before)
  })

  test('cairn copy sees the snapshots restic copied as already copied', async () => {
    const o = legs[0]
    const theirs: Leg = { name: 'restic-copy', url: join(tmp.path, 'repo-restic-copy'), password: 'restic copy password' }
    ok(await on(restic, theirs, ['init', '--copy-chunker-params'], o), 'restic init --copy-chunker-params')
    ok(await on(restic, theirs, ['copy'], o), 'restic copy')
    const s = copySummary(await on(cairn, theirs, ['--json', 'copy'], o))
    assert.deepEqual([s.snapshots_copied, s.snapshots_skipped, s.data_blobs], [0, 2, 0])
    assert.equal((await snapshotsOf(theirs)).length, 2)
  })

  test('a restic backup into the last repository adds no data blobs: the copied chunker parameters dedup', async () => {
    const last = legs[legs.length - 1]
    const r = await on(restic, last, ['backup', '--json', '--force', '--host', 'gamma', src])
    ok(r, 'restic backup --force')
    const s = backupSummary(r.stdout)
    assert.equal(s.files_new, info.fileCount + 1)
    assert.equal(s.data_blobs, 0, 'every chunk of the fixture is in the copies already')
  })

  test('copy selects snapshots by ID and by host, and takes the source password from a file', async () => {
    const o = legs[0]
    const fresh: Leg = { name: 'selected', url: join(tmp.path, 'repo-selected'), password: 'selected password' }
    const passFile = join(tmp.path, 'origin-password')
    await fs.writeFile(passFile, `${o.password}\n`)
    const noEnvPassword = { RESTIC_FROM_PASSWORD: '' }
    ok(await on(cairn, fresh, ['init']), 'cairn init')
    const byId = copySummary(await on(cairn, fresh, ['--json', 'copy', '--from-password-file', passFile, origin[1].id.slice(0, 8)], o, noEnvPassword))
    assert.deepEqual([byId.snapshots_copied, byId.snapshots_skipped], [1, 0])
    const byHost = copySummary(await on(cairn, fresh, ['--json', 'copy', '--from-password-file', passFile, '--host', 'alpha'], o, noEnvPassword))
    assert.deepEqual([byHost.snapshots_copied, byHost.snapshots_skipped], [1, 0])
    assert.deepEqual((await snapshotsOf(fresh)).map((s) => s.original).sort(), origin.map((s) => s.id).sort())
  })

  test('a wrong source password exits with 12 and names the source repository', async () => {
    const [from, to] = [legs[0], legs[1]]
    const r = await on(cairn, to, ['copy'], from, { RESTIC_FROM_PASSWORD: 'not the password' })
    assert.equal(r.code, 12, r.stderr)
    assert.match(r.stderr, /source repository/)
    assert.ok(r.stderr.includes(from.url), r.stderr)
    assert.ok(!r.stderr.includes('not the password'))
  })
})
