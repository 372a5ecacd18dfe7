/**
 * Bad input and interruptions, judged from outside the process: exit codes, what reaches
 * stderr, and what is left in the repository afterwards (checked by the real restic).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  cairn,
  cairnSpawn,
  collect,
  lockFiles,
  makeLargeTree,
  makeTempRoot,
  needs,
  packFiles,
  repoFileProblems,
  restic,
  resticCheck,
  resticSnapshotIds,
  resticSpawn,
  waitFor,
} from '../helpers/index.js'
import type { RunOptions, RunResult, TempRoot } from '../helpers/index.js'

const password = 'errors-password'
const skipCairn = await needs('restic', 'cairn')
const skipRestic = await needs('restic')
const skipCairnOnly = await needs('cairn')
const skipUnreadableRestic = await needs('restic', 'obey-permissions')
const skipUnreadableCairn = await needs('restic', 'cairn', 'obey-permissions')
const MiB = 1024 * 1024

/** Non-empty lines of stderr. */
const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '')

/** Asserts a failure reported as exactly one line, without a stack trace. */
function assertOneLine(r: RunResult, pattern: RegExp) {
  const out = lines(r.stderr)
  assert.equal(out.length, 1, `expected one line on stderr, got:\n${r.stderr}`)
  assert.match(out[0], pattern)
  assert.doesNotMatch(out[0], /^\s+at /)
}

describe('cairn reports bad input with restic exit codes', () => {
  let tmp: TempRoot
  let src: string
  let repo: string

  before(async () => {
    tmp = await makeTempRoot('errors')
    src = await tmp.dir('src')
    await fs.writeFile(join(src, 'a.txt'), 'some content\n')
    await fs.mkdir(join(src, 'sub'))
    await fs.writeFile(join(src, 'sub', 'b.txt'), 'more content\n')
    repo = join(tmp.path, 'repo')
    if (!skipRestic) {
      const init = await restic(['init'], { repo, password })
      assert.equal(init.code, 0, init.stderr)
    }
  })
  after(() => tmp?.cleanup())

  test('a wrong password exits 12 with one clear line on stderr', { skip: skipCairn }, async () => {
    const right = await cairn(['snapshots'], { repo, password })
    assert.equal(right.code, 0, `the right password must work: ${right.stderr}`)
    const r = await cairn(['snapshots'], { repo, password: 'not the password' })
    assert.equal(r.code, 12, r.stderr)
    assertOneLine(r, /password/i)
  })

  test('a location without a repository exits 10 with one line on stderr', { skip: skipCairnOnly }, async () => {
    const missing = await cairn(['snapshots'], { repo: join(tmp.path, 'no-such-repo'), password })
    assert.equal(missing.code, 10, missing.stderr)
    assertOneLine(missing, /repositor/i)
    const empty = await tmp.dir('empty-dir')
    const r = await cairn(['backup', src], { repo: empty, password })
    assert.equal(r.code, 10, r.stderr)
    assertOneLine(r, /repositor/i)
  })

  /**
   * A source tree with one file its reader cannot open. Root reads past permissions, so as root
   * the backup runs without the capabilities that allow that (see RunOptions.obeyPermissions).
   */
  async function unreadableSetup(name: string): Promise<{ source: string; repo: string; as: Partial<RunOptions> }> {
    const source = await tmp.dir(`${name}/src`)
    await fs.writeFile(join(source, 'readable.txt'), 'fine\n')
    await fs.writeFile(join(source, 'secret.txt'), 'no one may read this\n')
    await fs.chmod(join(source, 'secret.txt'), 0o000)
    return { source, repo: join(tmp.path, name, 'repo'), as: { obeyPermissions: true } }
  }

  test('restic itself exits 3 on the unreadable-file setup (the setup is sound)', { skip: skipUnreadableRestic }, async () => {
    const s = await unreadableSetup('unreadable-restic')
    const init = await restic(['init'], { repo: s.repo, password, ...s.as })
    assert.equal(init.code, 0, init.stderr)
    const r = await restic(['backup', s.source], { repo: s.repo, password, ...s.as })
    assert.equal(r.code, 3, r.stderr)
    assert.match(r.stderr, /secret\.txt/)
  })

  test('an unreadable source file gives a warning, the snapshot is still written, exit 3', { skip: skipUnreadableCairn }, async () => {
    const s = await unreadableSetup('unreadable-cairn')
    const init = await cairn(['init'], { repo: s.repo, password, ...s.as })
    assert.equal(init.code, 0, init.stderr)
    const r = await cairn(['backup', s.source], { repo: s.repo, password, ...s.as })
    assert.equal(r.code, 3, r.stderr)
    assert.match(r.stderr, /secret\.txt/, 'the warning must name the file')
    const ids = await resticSnapshotIds(s.repo, password)
    assert.equal(ids.length, 1, 'the snapshot must still be written')
    const ls = await restic(['ls', ids[0]], { repo: s.repo, password })
    assert.match(ls.stdout, /readable\.txt/)
    assert.deepEqual(await lockFiles(s.repo), [])
  })

  test('a source path that has vanished gives a warning, the snapshot is still written, exit 3', { skip: skipCairn }, async () => {
    const vanished = join(tmp.path, 'was-here-a-moment-ago')
    const before = (await resticSnapshotIds(repo, password)).length
    const r = await cairn(['backup', src, vanished], { repo, password })
    assert.equal(r.code, 3, r.stderr)
    assert.match(r.stderr, /was-here-a-moment-ago/, 'the warning must name the path')
    assert.equal((await resticSnapshotIds(repo, password)).length, before + 1, 'the snapshot must still be written')
    const check = await resticCheck(repo, password, false)
    assert.equal(check.code, 0, check.stdout + check.stderr)
  })

  test('an exclusive lock held by restic makes backup exit 11 naming the lock; unlock clears it once stale', { skip: skipCairn }, async () => {
    const lockRepo = join(tmp.path, 'locked-repo')
    assert.equal((await cairn(['init'], { repo: lockRepo, password })).code, 0)
    // `restic key passwd` takes an exclusive lock, then waits for the new password on stdin.
    const holder = resticSpawn(['key', 'passwd'], { repo: lockRepo, password })
    const exited = once(holder, 'exit')
    try {
      assert.ok(await waitFor(async () => (await lockFiles(lockRepo)).length > 0, 20_000), 'restic took no lock')
      const [lockId] = await lockFiles(lockRepo)
      const r = await cairn(['backup', src], { repo: lockRepo, password })
      assert.equal(r.code, 11, r.stderr)
      assert.ok(
        r.stderr.includes(lockId.slice(0, 8)) || r.stderr.includes(String(holder.pid)),
        `the message must name the lock (${lockId.slice(0, 8)}) or its holder (PID ${holder.pid}):\n${r.stderr}`,
      )
      assert.deepEqual(await fs.readdir(join(lockRepo, 'snapshots')), [], 'a refused backup must not write a snapshot')
    } finally {
      holder.kill('SIGKILL')
      await exited // reaped, so the PID is really gone and the lock is stale
    }
    assert.equal((await lockFiles(lockRepo)).length, 1, 'a killed restic leaves its lock')
    const unlock = await cairn(['unlock'], { repo: lockRepo, password })
    assert.equal(unlock.code, 0, unlock.stderr)
    assert.deepEqual(await lockFiles(lockRepo), [])
    const b = await cairn(['backup', src], { repo: lockRepo, password })
    assert.equal(b.code, 0, b.stderr)
  })
})

describe('interrupting a cairn backup', { skip: skipCairn }, () => {
  let tmp: TempRoot
  let large: string
  const sizeMiB = Number(process.env.CAIRN_INTEROP_LARGE_MIB ?? 300)

  before(async () => {
    tmp = await makeTempRoot('interrupt')
    large = join(tmp.path, 'large')
    await makeLargeTree(large, sizeMiB * MiB)
  })
  after(() => tmp?.cleanup())

  /** Starts a backup and resolves once it holds a lock and has begun writing packs. */
  async function startBackup(repo: string) {
    const child = cairnSpawn(['backup', large], { repo, password })
    const done = collect(child, { timeoutMs: 170_000 })
    const busy = await waitFor(
      async () => child.exitCode !== null || ((await lockFiles(repo)).length > 0 && (await packFiles(repo)).length > 0),
      60_000,
      5,
    )
    assert.ok(busy, 'the backup neither locked the repository nor wrote a pack within 60 s')
    if (child.exitCode !== null) {
      const r = await done
      assert.fail(`the backup ended (code ${r.code}) before it could be signalled; raise CAIRN_INTEROP_LARGE_MIB\n${r.stderr}`)
    }
    return { child, done }
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`${signal} during a backup exits 130, leaves no lock and no partial file, and the next backup succeeds`, { timeout: 170_000 }, async () => {
      const repo = join(tmp.path, `repo-${signal}`)
      const init = await cairn(['init'], { repo, password })
      assert.equal(init.code, 0, init.stderr)

      const first = await startBackup(repo)
      first.child.kill(signal)
      const r = await first.done
      assert.equal(r.signal, null, `cairn died from ${r.signal} instead of handling it`)
      assert.equal(r.code, 130, r.stderr)
      assert.deepEqual(await lockFiles(repo), [], 'the interrupted backup left its lock')
      assert.deepEqual(await repoFileProblems(repo), [])
      assert.deepEqual(await resticSnapshotIds(repo, password), [], 'an interrupted backup must not write a snapshot')
      const check1 = await resticCheck(repo, password, false)
      assert.equal(check1.code, 0, `restic check after the interruption:\n${check1.stdout}\n${check1.stderr}`)

      // restic probes lock holders with SIGHUP; it must not stop cairn.
      const next = await startBackup(repo)
      next.child.kill('SIGHUP')
      const r2 = await next.done
      assert.equal(r2.signal, null, `SIGHUP killed cairn: ${r2.stderr}`)
      assert.equal(r2.code, 0, r2.stderr)
      assert.equal((await resticSnapshotIds(repo, password)).length, 1)
      assert.deepEqual(await lockFiles(repo), [])
      assert.deepEqual(await repoFileProblems(repo), [])
      const check2 = await resticCheck(repo, password, false)
      assert.equal(check2.code, 0, `restic check after the next backup:\n${check2.stdout}\n${check2.stderr}`)
    })
  }
})
