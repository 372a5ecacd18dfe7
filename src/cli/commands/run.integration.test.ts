/**
 * `cairn config` and `cairn run` as a user runs them: the built CLI in a child process, a
 * config file in a temporary directory, local repositories, and the real restic to judge them.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { cairnMain, initRepo, interopSkipReason, PASSWORD, restic, tempDir, type TempDir } from '../../app/interop-testing.js'
import { acquireSetLock } from '../../app/set-lock.js'
import { BAD_EXAMPLE, BAD_EXAMPLE_MISTAKES, ISSUE_EXAMPLE } from '../../config/testing.js'
import { lockFiles, makeLargeTree, packFiles, repoFileProblems, waitFor } from '../../../test/helpers/index.js'

const skip = await interopSkipReason()

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

function spawnCairn(args: string[], home: string, env: Record<string, string> = {}): ChildProcess {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(RESTIC|CAIRN)_/.test(k)))
  return spawn(process.execPath, [cairnMain, '--no-cache', ...args], { env: { ...clean, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
}

function finished(child: ChildProcess): Promise<Run> {
  return new Promise((done, fail) => {
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout?.on('data', (b: Buffer) => out.push(b))
    child.stderr?.on('data', (b: Buffer) => err.push(b))
    child.on('error', fail)
    child.on('close', (code, signal) => done({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }))
  })
}

const cairn = (args: string[], home: string, env?: Record<string, string>) => finished(spawnCairn(args, home, env))

describe('cairn config and cairn run', { skip }, () => {
  let tmp: TempDir
  let home: string
  before(async () => {
    tmp = await tempDir('run-cli')
    home = join(tmp.path, 'home')
    await mkdir(home)
    await writeFile(join(tmp.path, 'pw'), `${PASSWORD}\n`)
  })
  after(() => tmp?.remove())

  test('config show reports the effective settings of the issue example and where each came from', async () => {
    await mkdir(join(home, '.config', 'cairn'), { recursive: true })
    await writeFile(join(home, '.config', 'cairn', 'cairn.yaml'), ISSUE_EXAMPLE)
    const r = await cairn(['config', 'show', 'data', '--json'], home)
    assert.equal(r.code, 0, r.stderr)
    const d = JSON.parse(r.stdout) as { file: string; effective: Record<string, unknown>; origins: Record<string, string>; destinations: Array<{ name: string; retention: string | null; removable: boolean }> }
    assert.equal(d.file, join(home, '.config', 'cairn', 'cairn.yaml'))
    assert.deepEqual(d.effective.exclude, ['*.tmp', 'node_modules', '.cache', 'tmp/*', '*.log'])
    assert.equal(d.origins['exclude[0]'], 'defaults')
    assert.equal(d.origins['exclude[4]'], 'set')
    assert.equal(d.origins.schedule, 'set')
    assert.equal(d.origins['retention.keep-daily'], 'defaults')
    assert.equal(d.origins['retention.usb.keep-last'], 'set')
    assert.equal(d.origins['hooks.timeout'], 'built-in')
    assert.deepEqual(
      d.destinations.map((x) => [x.name, x.removable, x.retention]),
      [
        ['nas', false, 'keep 7 daily, 4 weekly snapshots'],
        ['usb', true, 'keep 5 latest snapshots'],
        ['cloud', false, 'keep 7 daily, 4 weekly snapshots'],
      ],
    )
    const text = await cairn(['config', 'show', 'config'], home)
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /^mode: all +\(set\)$/m)
    assert.match(text.stdout, /^ {2}- "\*\.tmp" +\(defaults\)$/m)
    assert.ok(text.stdout.includes(`  - ${home}/.config `), text.stdout)
    const unknown = await cairn(['config', 'show', 'dta'], home)
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /No backup set "dta" in the config file \(Sets defined: data, config\)/)
  })

  test('config check names the file, line and key of each mistake, with exit code 1', async () => {
    const file = join(tmp.path, 'bad.yaml')
    await writeFile(file, BAD_EXAMPLE)
    const r = await cairn(['config', 'check', '--config', file], home)
    assert.equal(r.code, 1)
    for (const [line, key, pattern] of BAD_EXAMPLE_MISTAKES) {
      const at = r.stderr.split('\n').findIndex((l) => l.startsWith(`${file}:${line}:`) && l.includes(` ${key}: `))
      assert.ok(at >= 0, `no message for line ${line} (${key}):\n${r.stderr}`)
      assert.match(r.stderr.split('\n').slice(at, at + 2).join('\n'), pattern)
    }
    assert.match(r.stderr, new RegExp(`${file}: ${BAD_EXAMPLE_MISTAKES.length} errors`))
    const run = await cairn(['run', '--config', file], home)
    assert.equal(run.code, 1)
    assert.match(run.stderr, /^Fatal: Invalid configuration ".*bad\.yaml": 16 problems\n/)
  })

  test('config check reports runtime facts: unreadable password file, missing source, missing program, malformed pattern', async () => {
    const dir = join(tmp.path, 'facts')
    await mkdir(join(dir, 'src'), { recursive: true })
    const file = join(dir, 'cairn.yaml')
    const write = (pw: string, source: string, hook: string, pattern: string) =>
      writeFile(
        file,
        `repositories:\n  r:\n    url: repo\n    password-file: ${pw}\nsets:\n  s:\n    sources: [${source}]\n    destinations: [r]\n    hooks:\n      before: ["${hook} --now"]\n    exclude: ["*.tmp", "${pattern}"]\n`,
      )
    await write('missing.pass', 'nope', 'no-such-program-xyz', 'cache/[abc')
    const r = await cairn(['config', 'check', '--config', file, '--json'], home)
    assert.equal(r.code, 1)
    const out = JSON.parse(r.stdout) as { ok: boolean; issues: Array<{ line: number; key: string; severity: string; message: string }> }
    assert.equal(out.ok, false)
    assert.deepEqual(
      out.issues.map((i) => [i.line, i.key, i.severity, i.message]),
      [
        [3, 'repositories.r.url', 'warning', `no repository at "${join(dir, 'repo')}" yet`],
        [4, 'repositories.r.password-file', 'error', `cannot read password file "${join(dir, 'missing.pass')}": ENOENT`],
        // A before hook may make it (a file system snapshot): a warning then.
        [7, 'sets.s.sources[0]', 'warning', `source "${join(dir, 'nope')}" does not exist now`],
        [10, 'sets.s.hooks.before[0]', 'warning', 'program "no-such-program-xyz" is not installed or not on PATH'],
        [11, 'sets.s.exclude[1]', 'error', 'invalid pattern "cache/[abc": a "[" class is not closed by "]", or is empty, or has a range without an end'],
      ],
    )
    // Without a before hook, a missing source is an error.
    await writeFile(file, `repositories:\n  r:\n    url: repo\n    password-file: ${join(tmp.path, 'pw')}\nsets:\n  s:\n    sources: [nope]\n    destinations: [r]\n`)
    const plain = await cairn(['config', 'check', '--config', file, '--json'], home)
    assert.deepEqual(
      (JSON.parse(plain.stdout) as { issues: Array<{ key: string; severity: string; message: string }> }).issues.filter((i) => i.key.startsWith('sets')).map((i) => [i.key, i.severity, i.message]),
      [['sets.s.sources[0]', 'error', `source "${join(dir, 'nope')}" does not exist`]],
    )
    // Environment variables in paths are expanded; one that is not set is named as such (the
    // hint for the repository said to create a folder named "$NOPE").
    await writeFile(file, 'repositories:\n  r:\n    url: $NOPE_REPO/repo\n    password-file: ${CAIRN_TEST_DIR}/missing.pass\nsets:\n  s:\n    sources: [$CAIRN_TEST_DIR/src, $NOPE_SRC/x]\n    destinations: [r]\n')
    const vars = await cairn(['config', 'check', '--config', file, '--json'], home, { CAIRN_TEST_DIR: dir })
    assert.deepEqual(
      (JSON.parse(vars.stdout) as { issues: Array<{ key: string; message: string }> }).issues.map((i) => [i.key, i.message]),
      [
        ['repositories.r.url', 'environment variable $NOPE_REPO in "$NOPE_REPO/repo" is not set here'],
        ['repositories.r.password-file', `cannot read password file "${join(dir, 'missing.pass')}": ENOENT`],
        ['sets.s.sources[1]', 'environment variable $NOPE_SRC in "$NOPE_SRC/x" is not set here'],
      ],
    )
    // A remote URL is not expanded, so a "$" in it (a password) is no variable.
    await writeFile(file, `repositories:\n  r:\n    url: "rest:http://u:pa$word@127.0.0.1:9/r/"\n    password-file: ${join(tmp.path, 'pw')}\nsets:\n  s:\n    sources: [src]\n    destinations: [r]\n`)
    const remote = await cairn(['config', 'check', '--config', file, '--json'], home)
    assert.deepEqual((JSON.parse(remote.stdout) as { issues: unknown[] }).issues, [], remote.stdout)
    // A password file that is there but empty fails every run: check says so too.
    await writeFile(join(dir, 'empty.pass'), '\n')
    await write('empty.pass', 'src', 'echo', 'cache/[abc]')
    const empty = await cairn(['config', 'check', '--config', file, '--json'], home)
    assert.equal(empty.code, 1)
    const issues = (JSON.parse(empty.stdout) as { issues: Array<{ key: string; message: string }> }).issues
    assert.deepEqual(issues.filter((i) => i.key === 'repositories.r.password-file').map((i) => i.message), [`password file "${join(dir, 'empty.pass')}" holds no password (it is empty or only white space)`])
    await write(join(tmp.path, 'pw'), 'src', 'echo', 'cache/[abc]')
    await initRepo(join(dir, 'repo'))
    const ok = await cairn(['config', 'check', '--config', file], home)
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /: OK \(1 sets, 1 repositories; 0 errors, 0 warnings\)/)
  })

  test('run prints a summary, --json returns the result, and the exit code says partial', async () => {
    const dir = join(tmp.path, 'partial')
    await mkdir(join(dir, 'src'), { recursive: true })
    await writeFile(join(dir, 'src', 'f'), 'data\n')
    await initRepo(join(dir, 'good'))
    const file = join(dir, 'cairn.yaml')
    const pw = join(tmp.path, 'pw')
    await writeFile(
      file,
      `repositories:\n  gone: { url: gone, password-file: ${pw} }\n  good: { url: good, password-file: ${pw} }\n  usb: { url: /nonexistent/usb, password-file: ${pw}, removable: true }\nsets:\n  one: { sources: [src], destinations: [gone, good] }\n  two: { sources: [src], destinations: [usb] }\n`,
    )
    const r = await cairn(['run', '--config', file], home)
    assert.equal(r.code, 3, r.stderr)
    assert.match(r.stdout, /gone: FAILED: repository "gone" at ".*" does not exist/)
    assert.match(r.stdout, /good: snapshot [0-9a-f]{8} saved \(1 files/)
    assert.match(r.stdout, /usb: skipped: drive not present/)
    assert.match(r.stdout, /Summary:\n {2}one +partial +to good; failed: gone\n {2}two +skipped +absent: usb/)
    const j = await cairn(['run', 'two', '--config', file, '--json'], home)
    assert.equal(j.code, 0, j.stderr)
    const result = JSON.parse(j.stdout) as { exitCode: number; sets: Array<{ set: string; status: string }> }
    assert.deepEqual([result.exitCode, result.sets.map((s) => [s.set, s.status])], [0, [['two', 'skipped']]])
    // A set that runs already elsewhere says so (it printed a bare "failed").
    const state = join(tmp.path, 'partial-state')
    const held = await acquireSetLock(join(state, 'cairn', 'running'), file, 'two')
    try {
      const busy = await cairn(['run', 'two', '--config', file], home, { XDG_STATE_HOME: state })
      assert.equal(busy.code, 1)
      assert.match(busy.stderr, new RegExp(`set "two": it is running already \\(process ${process.pid} `))
    } finally {
      if (held.ok) await held.release()
    }
  })

  test('SIGTERM during a run stops the backup, runs finally hooks, exits 130 and leaves a sound repository', { timeout: 170_000 }, async () => {
    const dir = join(tmp.path, 'interrupt')
    const large = join(dir, 'large')
    await makeLargeTree(large, Number(process.env.CAIRN_INTEROP_LARGE_MIB ?? 200) * 1024 * 1024)
    const repo = join(dir, 'repo')
    await initRepo(repo)
    const file = join(dir, 'cairn.yaml')
    await writeFile(
      file,
      `repositories:\n  r: { url: repo, password-file: ${join(tmp.path, 'pw')} }\nsets:\n  big:\n    sources: [large]\n    destinations: [r]\n    hooks:\n      after: ["touch after-ran"]\n      finally: ["echo $CAIRN_RESULT > finally-marker"]\n`,
    )
    const child = spawnCairn(['run', '--config', file], home)
    const done = finished(child)
    const busy = await waitFor(async () => child.exitCode !== null || ((await lockFiles(repo)).length > 0 && (await packFiles(repo)).length > 0), 60_000, 5)
    if (!busy || child.exitCode !== null) assert.fail(`the run ended before it could be signalled; raise CAIRN_INTEROP_LARGE_MIB: ${(await done).stderr}`)
    child.kill('SIGTERM')
    const r = await done
    assert.equal(r.signal, null, 'cairn died from the signal instead of handling it')
    assert.equal(r.code, 130, `${r.stdout}\n${r.stderr}`)
    assert.match(r.stderr, /Fatal: Run interrupted/)
    assert.equal(await readFile(join(dir, 'finally-marker'), 'utf8'), 'interrupted\n')
    await assert.rejects(readFile(join(dir, 'after-ran')), 'after hooks do not run when interrupted')
    assert.deepEqual(await lockFiles(repo), [])
    assert.deepEqual(await repoFileProblems(repo), [])
    const check = await restic(repo, ['check'])
    assert.equal(check.code, 0, `${check.stdout}${check.stderr}`)
    assert.equal((await restic(repo, ['snapshots', '--json'])).stdout.trim(), '[]')
  })
})
