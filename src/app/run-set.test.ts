/**
 * Backup sets run end to end on local repositories (weak keys, so opening is fast), judged by
 * the real restic: which destination got a snapshot, retention per destination, copies, and
 * hooks with their order and environment.
 */
import assert from 'node:assert/strict'
import { isAppError } from '../base/index.js'
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parseConfig, type LoadedConfig } from '../config/index.js'
import { initRepo, interopSkipReason, json, openRepo, PASSWORD, restic, tempDir, type TempDir } from './interop-testing.js'
import { Lock } from '../repository/index.js'
import { runSets } from './run-set.js'
import { acquireSetLock } from './set-lock.js'
import type { RunResult } from './run-set-result.js'

const skip = await interopSkipReason()

interface ResticSnapshot {
  id: string
  tree: string
  tags?: string[]
  paths: string[]
}

const snapshots = async (repo: string) => json<ResticSnapshot[]>(await restic(repo, ['snapshots', '--json']))

describe('runSets()', { skip }, () => {
  let tmp: TempDir
  let src: string
  let n = 0
  before(async () => {
    tmp = await tempDir('run-set')
    src = join(tmp.path, 'src')
    await mkdir(join(src, 'sub'), { recursive: true })
    await writeFile(join(src, 'a.txt'), 'alpha\n')
    await writeFile(join(src, 'sub', 'b.bin'), Buffer.alloc(200_000, 7))
    await writeFile(join(src, 'skip.tmp'), 'excluded\n')
    await writeFile(join(tmp.path, 'pw'), `${PASSWORD}\n`)
    await writeFile(join(tmp.path, 'wrong-pw'), 'not the password\n')
  })
  after(() => tmp?.remove())

  /** A fresh directory holding the config file (relative paths in it resolve there). */
  async function world(yaml: (dir: string) => string): Promise<{ dir: string; loaded: LoadedConfig }> {
    const dir = join(tmp.path, `w${n++}`)
    await mkdir(dir)
    const text = yaml(dir)
    await writeFile(join(dir, 'cairn.yaml'), text)
    return { dir, loaded: parseConfig(text, join(dir, 'cairn.yaml')) }
  }
  const run = (loaded: LoadedConfig, extra: Partial<Parameters<typeof runSets>[0]> = {}): Promise<RunResult> =>
    runSets({ config: loaded, shared: { noCache: true }, env: { ...process.env, CAIRN_PASSWORD: undefined }, ...extra })
  const repoYaml = (name: string, url: string, extra = '') => `  ${name}:\n    url: ${url}\n    password-file: ${join(tmp.path, 'pw')}\n${extra}`

  /** A config of one set "data" of `src` backed up to "nas", with these lines under `hooks:`. */
  const nasSetWithHooks =
    (...hooks: string[]) =>
    () =>
      `repositories:\n${repoYaml('nas', 'nas')}sets:\n  data:\n    sources: [${src}]\n    destinations: [nas]\n    hooks:\n${hooks.map((h) => `      ${h}\n`).join('')}`

  test('first-available skips a removable destination that is absent, backs up to the next, and uses the drive once it is there', async () => {
    const { dir, loaded } = await world(
      (d) => `repositories:
${repoYaml('usb', `${d}/usb/cairn`, '    removable: true\n')}${repoYaml('nas', 'nas')}
sets:
  data:
    sources: [${src}]
    exclude: ["*.tmp"]
    destinations: [usb, nas]
`,
    )
    await initRepo(join(dir, 'nas'))
    const first = await run(loaded)
    assert.equal(first.exitCode, 0)
    const [set] = first.sets
    assert.equal(set.status, 'ok')
    assert.deepEqual(
      set.destinations.map((d) => [d.destination, d.status, d.skip]),
      [
        ['usb', 'skipped', 'absent'],
        ['nas', 'ok', undefined],
      ],
    )
    assert.match(set.destinations[0].reason ?? '', /^drive not present \(".*\/usb\/cairn" does not exist\)$/)
    const nasSnaps = await snapshots(join(dir, 'nas'))
    assert.deepEqual(nasSnaps.map((s) => s.id), [set.destinations[1].snapshotId])
    assert.deepEqual(nasSnaps[0].tags, ['cairn-set:data'])
    const ls = await restic(join(dir, 'nas'), ['ls', 'latest'])
    assert.ok(ls.stdout.includes(`${src}/a.txt`) && !ls.stdout.includes('skip.tmp'), ls.stdout)

    await mkdir(join(dir, 'usb'))
    await initRepo(join(dir, 'usb', 'cairn'))
    const second = await run(loaded)
    assert.equal(second.exitCode, 0)
    assert.deepEqual(
      second.sets[0].destinations.map((d) => [d.destination, d.status, d.skip]),
      [
        ['usb', 'ok', undefined],
        ['nas', 'skipped', 'not-needed'],
      ],
    )
    assert.equal((await snapshots(join(dir, 'usb', 'cairn'))).length, 1)
    assert.equal((await snapshots(join(dir, 'nas'))).length, 1)
  })

  test('waits for a repository lock another process holds, as with restic --retry-lock, instead of failing the set', async () => {
    // Two timers starting at once, or a prune run by hand: the set failed at once.
    const { dir, loaded } = await world(() => `repositories:\n${repoYaml('nas', 'nas')}sets:\n  data:\n    sources: [${src}]\n    destinations: [nas]\n`)
    await initRepo(join(dir, 'nas'))
    const other = await openRepo(join(dir, 'nas'))
    const held = await Lock.acquire(other, { exclusive: true, settleMs: 0 })
    setTimeout(() => void held.release().then(() => other.close()), 1500)
    const notices: string[] = []
    const r = await run(loaded, { shared: { noCache: true, onNotice: (m) => void notices.push(m) } })
    assert.equal(r.exitCode, 0, JSON.stringify(r.sets[0].destinations))
    assert.equal(r.sets[0].destinations[0].status, 'ok')
    assert.match(notices.join('\n'), /already locked exclusively .*; trying again for up to 5m/)
  })

  test('first-available falls back past a missing and a failing destination: partial, exit code 3', async () => {
    const { dir, loaded } = await world(
      (d) => `repositories:
${repoYaml('gone', `${d}/gone`)}  locked-out:
    url: locked
    password-file: ${join(tmp.path, 'wrong-pw')}
  last: { url: last, password-env: SET_TEST_PASSWORD }
sets:
  data: { sources: [${src}], destinations: [gone, locked-out, last] }
`,
    )
    await initRepo(join(dir, 'locked'))
    await initRepo(join(dir, 'last'))
    const r = await run(loaded, { env: { ...process.env, CAIRN_PASSWORD: 'not this one', SET_TEST_PASSWORD: PASSWORD } })
    assert.equal(r.exitCode, 3)
    assert.equal(r.sets[0].status, 'partial')
    const [gone, locked, last] = r.sets[0].destinations
    assert.equal(gone.status, 'failed')
    assert.match(gone.reason ?? '', /repository "gone" at ".*\/gone" does not exist/)
    assert.equal(locked.status, 'failed')
    assert.match(locked.reason ?? '', /^backup failed: .*password/i)
    assert.equal(last.status, 'ok')
    assert.equal((await snapshots(join(dir, 'last'))).length, 1)
  })

  test('all backs up to every destination (and checks them after-backup); with copy it backs up once and copies the snapshot to the rest', async () => {
    const { dir, loaded } = await world(
      () => `repositories:
${repoYaml('a', 'a')}${repoYaml('b', 'b')}${repoYaml('c', 'c')}
sets:
  each: { sources: [${src}], destinations: [a, b], mode: all, check: { after-backup: true, read-data: true } }
  copied: { sources: [${src}/sub], destinations: [a, c], mode: all, copy: true }
`,
    )
    for (const r of ['a', 'b', 'c']) await initRepo(join(dir, r))
    const r = await run(loaded)
    assert.equal(r.exitCode, 0, JSON.stringify(r, null, 1))
    const [each, copied] = r.sets
    assert.deepEqual(each.destinations.map((d) => [d.destination, d.status, d.via]), [
      ['a', 'ok', 'backup'],
      ['b', 'ok', 'backup'],
    ])
    assert.deepEqual(each.destinations.map((d) => d.check), [{ ok: true, errors: 0 }, { ok: true, errors: 0 }])
    assert.equal(copied.destinations[0].check, undefined, 'no check unless asked for')
    assert.deepEqual(copied.destinations.map((d) => [d.destination, d.status, d.via, d.copiedFrom]), [
      ['a', 'ok', 'backup', undefined],
      ['c', 'ok', 'copy', 'a'],
    ])
    const inA = (await snapshots(join(dir, 'a'))).find((s) => s.id === copied.destinations[0].snapshotId)
    const inC = await snapshots(join(dir, 'c'))
    assert.equal(inC.length, 1)
    assert.equal(inC[0].id, copied.destinations[1].snapshotId)
    assert.equal(inC[0].tree, inA?.tree, 'the copy holds the same tree')
    assert.deepEqual(inC[0].tags, ['cairn-set:copied'])
    for (const repo of ['a', 'b', 'c']) {
      const check = await restic(join(dir, repo), ['check', '--read-data'])
      assert.equal(check.code, 0, `${repo}: ${check.stdout}${check.stderr}`)
    }
  })

  test('retention per destination: keep-last 2 on one and 3 on the other after 5 runs, other snapshots untouched', async () => {
    const { dir, loaded } = await world(
      () => `repositories:
${repoYaml('near', 'near')}${repoYaml('far', 'far')}
defaults:
  retention: { keep-last: 3 }
sets:
  data:
    sources: [${src}]
    destinations: [near, far]
    mode: all
    retention:
      near: { keep-last: 2 }
`,
    )
    await initRepo(join(dir, 'near'))
    await initRepo(join(dir, 'far'))
    const foreign = await restic(join(dir, 'near'), ['backup', '--tag', 'by-hand', join(src, 'a.txt')])
    assert.equal(foreign.code, 0, foreign.stderr)
    let last: RunResult | undefined
    for (let i = 0; i < 5; i++) {
      last = await run(loaded)
      assert.equal(last.exitCode, 0, JSON.stringify(last.sets[0], null, 1))
    }
    const near = await snapshots(join(dir, 'near'))
    const far = await snapshots(join(dir, 'far'))
    assert.equal(near.filter((s) => s.tags?.includes('cairn-set:data')).length, 2)
    assert.equal(near.filter((s) => s.tags?.includes('by-hand')).length, 1, 'a snapshot of no set is not forgotten')
    assert.equal(far.length, 3)
    const [n5, f5] = last!.sets[0].destinations
    assert.deepEqual(n5.forget, { policy: 'keep 2 latest snapshots', removed: 1, pruned: true })
    assert.deepEqual(f5.forget, { policy: 'keep 3 latest snapshots', removed: 1, pruned: true })
    assert.ok(near.some((s) => s.id === n5.snapshotId) && far.some((s) => s.id === f5.snapshotId), 'the newest snapshots are kept')
    for (const repo of ['near', 'far']) {
      const check = await restic(join(dir, repo), ['check'])
      assert.equal(check.code, 0, `${repo}: ${check.stdout}${check.stderr}`)
    }
  })

  test('hooks run in order with an environment describing the run', async () => {
    const { dir, loaded } = await world(
      (d) => `repositories:
${repoYaml('usb', `${d}/absent`, '    removable: true\n')}${repoYaml('nas', 'nas')}
sets:
  data:
    sources: [${src}]
    destinations: [usb, nas]
    hooks:
      before: ["echo before $CAIRN_SET $CAIRN_HOOK >> log", { command: "exit 9", continue-on-error: true }]
      after: ["echo after $CAIRN_RESULT $CAIRN_DESTINATION $CAIRN_SNAPSHOT_ID skipped=$CAIRN_SKIPPED >> log"]
      on-error: ["echo on-error >> log"]
      finally: ["echo finally $CAIRN_RESULT >> log"]
`,
    )
    await initRepo(join(dir, 'nas'))
    const events: string[] = []
    const r = await run(loaded, { onEvent: (e) => events.push(e.type === 'hook-end' ? `hook ${e.run.hook} ${e.run.ok}` : e.type) })
    const set = r.sets[0]
    assert.equal(set.status, 'ok')
    assert.equal(r.exitCode, 0)
    const id = set.destinations[1].snapshotId
    assert.equal(await readFile(join(dir, 'log'), 'utf8'), `before data before\nafter ok nas ${id} skipped=usb\nfinally ok\n`)
    assert.deepEqual(set.warnings, ['before hook "exit 9" failed: exit code 9 (continue-on-error)'])
    assert.deepEqual(
      events.filter((e) => e.startsWith('hook ') || e.startsWith('set') || e === 'destination-end'),
      ['set-start', 'hook before true', 'hook before false', 'destination-end', 'destination-end', 'hook after true', 'hook finally true', 'set-end'],
    )
  })

  test('a failing before hook stops the set: no backup, on-error and finally run, exit code 1', async () => {
    const { dir, loaded } = await world(
      nasSetWithHooks('before: ["echo dump >> log; exit 3", "echo never >> log"]', 'after: ["echo after >> log"]', 'on-error: ["echo on-error $CAIRN_RESULT \\"$CAIRN_ERROR\\" >> log"]', 'finally: ["echo finally $CAIRN_RESULT >> log"]'),
    )
    await initRepo(join(dir, 'nas'))
    const r = await run(loaded)
    assert.equal(r.exitCode, 1)
    assert.equal(r.sets[0].status, 'failed')
    assert.deepEqual(r.sets[0].destinations.map((d) => [d.status, d.skip]), [['skipped', 'not-reached']])
    assert.equal(
      await readFile(join(dir, 'log'), 'utf8'),
      'dump\non-error failed before hook "echo dump >> log; exit 3" failed: exit code 3\nfinally failed\n',
    )
    assert.deepEqual(await snapshots(join(dir, 'nas')), [])
  })

  test('a destination the set does not have is refused before any hook runs (a typo would back up nothing)', async () => {
    const { dir, loaded } = await world(
      (d) => `repositories:
${repoYaml('nas', 'nas')}${repoYaml('usb', `${d}/usb`)}${repoYaml('other', 'other')}
sets:
  data:
    sources: [${src}]
    destinations: [nas, usb]
    hooks:
      before: ["echo before >> log"]
`,
    )
    await assert.rejects(run(loaded, { destinations: ['nsa'] }), (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message === 'Set "data" has no destination "nsa"' && err.hint === 'Did you mean "nas"? Destinations: nas, usb')
    await assert.rejects(run(loaded, { destinations: ['other'] }), /Set "data" has no destination "other"/)
    await assert.rejects(readFile(join(dir, 'log')), /ENOENT/)
  })

  test('a local destination whose parent folder is missing says so, even with --init (which creates only the last folder)', async () => {
    const { dir, loaded } = await world(
      (d) => `repositories:
${repoYaml('gone', `${d}/unmounted/cairn`)}
sets:
  data:
    sources: [${src}]
    destinations: [gone]
`,
    )
    for (const init of [false, true]) {
      const r = await run(loaded, { init })
      assert.equal(r.exitCode, 1)
      const reason = r.sets[0].destinations[0].reason ?? ''
      assert.match(reason, new RegExp(`its parent folder "${join(dir, 'unmounted').replace(/[.]/g, '\\.')}" does not exist either \\(is the disk mounted\\?\\)`))
      assert.doesNotMatch(reason, /create it with "cairn run --init"/)
    }
  })

  test('a set whose every destination is an absent drive is skipped without running its hooks, as the daemon skips it', async () => {
    const { dir, loaded } = await world(
      (d) => `repositories:
${repoYaml('usb', `${d}/usb/cairn`, '    removable: true\n')}
sets:
  data:
    sources: [${src}]
    destinations: [usb]
    hooks:
      before: ["echo before >> log"]
      finally: ["echo finally >> log"]
`,
    )
    const r = await run(loaded)
    assert.equal(r.exitCode, 0)
    assert.equal(r.sets[0].status, 'skipped')
    assert.deepEqual(r.sets[0].destinations.map((x) => [x.destination, x.status, x.skip]), [['usb', 'skipped', 'absent']])
    assert.deepEqual(r.sets[0].hooks, [])
    await assert.rejects(readFile(join(dir, 'log')), /ENOENT/)
  })

  test('--init does not create a removable destination on the root file system (a mount point whose drive is unplugged), and does on a mounted one', async (t) => {
    // The repository landed on the system disk, and the drive looked present from then on.
    const { dir, loaded } = await world(
      (d) => `repositories:
${repoYaml('usb', `${d}/usb/cairn`, '    removable: true\n')}
sets:
  data:
    sources: [${src}]
    destinations: [usb]
`,
    )
    await mkdir(join(dir, 'usb'))
    if ((await stat(dir)).dev !== (await stat('/')).dev) return t.skip('the temporary folder is not on the root file system')
    const r = await run(loaded, { init: true })
    assert.equal(r.sets[0].status, 'skipped')
    assert.deepEqual(r.sets[0].destinations.map((x) => [x.destination, x.status, x.skip]), [['usb', 'skipped', 'absent']])
    assert.match(r.sets[0].destinations[0].reason ?? '', /is on the system's root file system, not on a mounted drive/)
    await assert.rejects(stat(join(dir, 'usb', 'cairn')), /ENOENT/)
    if (process.getuid?.() !== 0) return
    const { execFileSync } = await import('node:child_process')
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', join(dir, 'usb')])
    try {
      const plugged = await run(loaded, { init: true })
      assert.equal(plugged.sets[0].status, 'ok', JSON.stringify(plugged.sets[0]))
      assert.equal((await snapshots(join(dir, 'usb', 'cairn'))).length, 1)
    } finally {
      execFileSync('umount', [join(dir, 'usb')])
    }
  })

  test('a set that another process is running fails at once without running hooks; a lock whose process died is taken over', async () => {
    // `cairn run SET` beside the daemon's run of it interleaved both runs' hooks: one backup was
    // taken after the other run's finally hook had restarted the service.
    const { dir, loaded } = await world(
      nasSetWithHooks('before: ["echo before >> log"]'),
    )
    await initRepo(join(dir, 'nas'))
    const lockDir = join(dir, 'locks')
    const held = await acquireSetLock(lockDir, loaded.file, 'data')
    assert.ok(held.ok)
    const refused = await run(loaded, { lockDir })
    assert.equal(refused.exitCode, 1)
    assert.equal(refused.sets[0].status, 'failed')
    assert.match(refused.sets[0].errors[0], new RegExp(`set "data": it is running already \\(process ${process.pid} on `))
    await assert.rejects(readFile(join(dir, 'log')), /ENOENT/, 'no hook ran')
    await held.release()
    assert.equal((await run(loaded, { lockDir })).exitCode, 0)
    assert.equal(await readFile(join(dir, 'log'), 'utf8'), 'before\n')
    // A run that was killed leaves its lock behind.
    const { spawnSync } = await import('node:child_process')
    const dead = spawnSync('true').pid as number
    const again = await acquireSetLock(lockDir, loaded.file, 'data')
    assert.ok(again.ok)
    const [file] = await readdir(lockDir)
    const content = JSON.parse(await readFile(join(lockDir, file), 'utf8')) as Record<string, unknown>
    await writeFile(join(lockDir, file), JSON.stringify({ ...content, pid: dead }))
    assert.equal((await run(loaded, { lockDir })).exitCode, 0, 'the dead run\'s lock is taken over')
    assert.deepEqual(await readdir(lockDir), [], 'and released')
    // A lock folder that cannot be made (a read-only home) costs the lock, not the backup.
    await writeFile(join(dir, 'a-file'), '')
    const unlocked = await run(loaded, { lockDir: join(dir, 'a-file', 'running') })
    assert.equal(unlocked.exitCode, 0)
    assert.match(unlocked.sets[0].warnings.join('\n'), /cannot take the lock that keeps set "data" from running twice at once, in ".*a-file\/running": .*running without it/)
  })

  test('a failing after hook makes the set partial: on-error hooks run, and finally sees "partial"', async () => {
    const { dir, loaded } = await world(
      nasSetWithHooks('after: ["echo after >> log; exit 4"]', 'on-error: ["echo on-error $CAIRN_RESULT >> log"]', 'finally: ["echo finally $CAIRN_RESULT \\"$CAIRN_ERROR\\" >> log"]'),
    )
    await initRepo(join(dir, 'nas'))
    const r = await run(loaded)
    assert.equal(r.exitCode, 3)
    assert.equal(r.sets[0].status, 'partial')
    assert.equal(
      await readFile(join(dir, 'log'), 'utf8'),
      'after\non-error partial\nfinally partial after hook "echo after >> log; exit 4" failed: exit code 4\n',
    )
    assert.equal((await snapshots(join(dir, 'nas'))).length, 1)
  })

  test('finally runs after a failed backup, and a removable destination that is present but fails is a failure', async () => {
    const { dir, loaded } = await world(
      () => `repositories:
  nas:
    url: nas
    password-file: ${join(tmp.path, 'wrong-pw')}
    removable: true
sets:
  data:
    sources: [${src}]
    destinations: [nas]
    hooks:
      finally: ["echo finally $CAIRN_RESULT $CAIRN_FAILED >> log"]
`,
    )
    await initRepo(join(dir, 'nas'))
    const r = await run(loaded)
    assert.equal(r.exitCode, 1)
    assert.equal(r.sets[0].destinations[0].status, 'failed')
    // The hint names where this repository's password comes from, not CAIRN_PASSWORD (sets never use it).
    const reason = r.sets[0].destinations[0].reason ?? ''
    assert.match(reason, new RegExp(`The password of repository "nas" comes from the file "${join(tmp.path, 'wrong-pw').replace(/[.]/g, '\\.')}" \\(its password-file in the config file\\): check it`))
    assert.doesNotMatch(reason, /CAIRN_PASSWORD/)
    assert.equal(await readFile(join(dir, 'log'), 'utf8'), 'finally failed nas\n')
  })
})
