/**
 * restic and cairn share a repository through rclone as a child process: what restic backs up to
 * `rclone:/path`, cairn restores identically from the same location, and the other way round;
 * and a Ctrl-C during a
 * cairn backup still removes the lock through rclone. Runs the real CLIs.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  cairn,
  cairnBin,
  collect,
  compareTrees,
  lockFiles,
  makeFixtureTree,
  makeLargeTree,
  makeTempRoot,
  needs,
  packFiles,
  restic,
  waitFor,
  type TempRoot,
} from '../../../test/helpers/index.js'
import { rcloneAvailable } from '../rest/testing.js'

const password = 'rclone interop'
const skip = (await needs('restic', 'cairn')) || ((await rcloneAvailable()) ? false : 'rclone is not installed')

describe('restic writes, cairn reads, over rclone:', { skip }, () => {
  let tmp: TempRoot
  let src = ''
  let repo = ''

  before(async () => {
    tmp = await makeTempRoot('rclone-restic')
    repo = `rclone:${join(tmp.path, 'repo')}`
    src = join(tmp.path, 'src')
    await makeFixtureTree(src)
  })
  after(() => tmp?.cleanup())

  test('restic init and backup to rclone:/dir, then cairn restore latest from rclone:/dir gives an identical tree', async () => {
    const init = await restic(['init'], { repo, password })
    assert.equal(init.code, 0, init.stderr)
    const backup = await restic(['backup', src], { repo, password })
    assert.equal(backup.code, 0, backup.stderr)

    const target = await tmp.dir('restored')
    const restore = await cairn(['restore', 'latest', '--target', target], { repo, password })
    assert.equal(restore.code, 0, restore.stderr)
    assert.deepEqual(await compareTrees(src, join(target, src)), [])
    assert.doesNotMatch(restore.stderr, /error|failed/i, restore.stderr)
  })

  test('cairn init and backup to rclone:/dir, then restic restore latest gives an identical tree and check --read-data passes', async () => {
    const own = `rclone:${join(tmp.path, 'cairn-repo')}`
    const init = await cairn(['init'], { repo: own, password })
    assert.equal(init.code, 0, init.stderr)
    const backup = await cairn(['backup', src], { repo: own, password })
    assert.equal(backup.code, 0, backup.stderr)

    const target = await tmp.dir('restored-by-restic')
    const restore = await restic(['restore', 'latest', '--target', target], { repo: own, password })
    assert.equal(restore.code, 0, restore.stderr)
    assert.deepEqual(await compareTrees(src, join(target, src), { mtimeToleranceNs: 0 }), [])
    const check = await restic(['check', '--read-data'], { repo: own, password })
    assert.equal(check.code, 0, `restic check failed:\n${check.stdout}\n${check.stderr}`)
  })
})

/** Process ids whose command line mentions `needle` (Linux /proc). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) pids.push(Number(entry))
    } catch {
      // the process ended meanwhile
    }
  }
  return pids
}

describe('Ctrl-C during a cairn backup to rclone:', { skip }, () => {
  let tmp: TempRoot
  let large = ''

  before(async () => {
    tmp = await makeTempRoot('rclone-interrupt')
    large = join(tmp.path, 'large')
    await makeLargeTree(large, 200 * 1024 * 1024)
  })
  after(() => tmp?.cleanup())

  test('SIGINT to the whole foreground process group exits 130 with the lock removed through rclone, and no rclone left', { timeout: 170_000 }, async () => {
    const dir = join(tmp.path, 'repo')
    const repo = `rclone:${dir}`
    const init = await cairn(['init'], { repo, password })
    assert.equal(init.code, 0, init.stderr)

    // A terminal sends Ctrl-C to every process of its foreground group: run cairn as such a group.
    const env: NodeJS.ProcessEnv = { CAIRN_PASSWORD: password, UV_THREADPOOL_SIZE: '16' }
    for (const [k, v] of Object.entries(process.env)) if (!/^(RESTIC|CAIRN)_/.test(k)) env[k] = v
    const child = spawn(process.execPath, [cairnBin, '-r', repo, 'backup', large], { env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] })
    const done = collect(child, { timeoutMs: 160_000 })
    const busy = await waitFor(async () => child.exitCode !== null || ((await lockFiles(dir)).length > 0 && (await packFiles(dir)).length > 0), 60_000, 5)
    assert.ok(busy && child.exitCode === null, 'the backup neither locked the repository nor wrote a pack, or ended too soon')
    assert.ok(processesMentioning(dir).length >= 2, 'cairn and its rclone run')
    process.kill(-(child.pid ?? 0), 'SIGINT')
    const r = await done
    assert.equal(r.code, 130, r.stderr)
    assert.deepEqual(await lockFiles(dir), [], 'the lock was removed through rclone')
    assert.deepEqual(processesMentioning(dir), [], 'rclone has exited')
  })
})
