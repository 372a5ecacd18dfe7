import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { CommanderError, type Command } from 'commander'
import { VERSION } from './commands/version.js'
import { pflagForms } from './main.js'
import { buildProgram } from './program.js'
import { LocalBackend } from '../backends/index.js'
import { Lock, Repository } from '../repository/index.js'

// The compiled test lives in dist/src/cli/; the bin file is at the package root.
const BIN = fileURLToPath(new URL('../../../bin/cairn.js', import.meta.url))

interface Run {
  code: number
  stdout: string
  stderr: string
}

let home: string

/**
 * Runs the real binary with a clean environment (no repository or password variables); its
 * standard input is a pipe that gives `input` and then ends.
 */
function cairn(args: string[], env: Record<string, string> = {}, input = ''): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH ?? '', HOME: home, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
        resolve({ code, stdout, stderr })
      },
    )
    child.stdin?.on('error', () => {})
    child.stdin?.end(input)
  })
}

/** Every command and sub-command, as the words that name it ("backup", "key add"). */
function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  const out: string[][] = []
  for (const c of cmd.commands) {
    const path = [...prefix, c.name()]
    out.push(path)
    out.push(...commandPaths(c, path))
  }
  return out
}

/**
 * Parses `args` with the program main() builds, capturing what commands print; the exit code is
 * the one main() gives for the outcome (commander's own errors become 1).
 */
async function runInProcess(args: string[]): Promise<{ code: number; out: string }> {
  const { program } = await buildProgram()
  let out = ''
  const capture = (c: Command) => {
    c.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) })
    c.commands.forEach(capture)
  }
  capture(program)
  try {
    await program.parseAsync(['node', 'cairn', ...args])
    return { code: 0, out }
  } catch (err) {
    if (err instanceof CommanderError) return { code: err.exitCode === 0 ? 0 : 1, out }
    throw err
  }
}

describe('cairn binary', { concurrency: true }, () => {
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'cairn-cli-'))
  })
  after(async () => {
    await rm(home, { recursive: true, force: true })
  })

  it('--help of every command and sub-command exits 0 and shows usage and examples', async () => {
    // In-process (a process per command would take seconds): the program main() runs, with each
    // command's output captured.
    const paths = commandPaths((await buildProgram()).program)
    assert.ok(paths.length >= 8, `found ${paths.length} commands`)
    const problems: string[] = []
    for (const p of paths) {
      const name = p.join(' ')
      const { code, out } = await runInProcess([...p, '--help'])
      if (code !== 0) problems.push(`"${name} --help" exited ${code}`)
      else if (!out.includes(`Usage: cairn ${name}`)) problems.push(`"${name} --help" shows no usage line`)
      else if (!out.includes('Examples')) problems.push(`"${name} --help" shows no examples`)
    }
    assert.deepEqual(problems, [])
  })

  it('--help of the program lists the commands', async () => {
    const r = await cairn(['--help'])
    assert.equal(r.code, 0)
    for (const c of ['init', 'backup', 'snapshots', 'restore', 'ls', 'cat', 'unlock', 'version']) {
      assert.match(r.stdout, new RegExp(`^\\s+${c}\\b`, 'm'), c)
    }
  })

  it('a backup loads neither the config schema nor the daemon, server or other commands', async () => {
    // A module hook records every module the real binary loads for "backup --help".
    const hooks = join(home, 'record-loads.mjs')
    await writeFile(hooks, `
      import { register } from 'node:module'
      import { appendFileSync } from 'node:fs'
      register('data:text/javascript,' + encodeURIComponent(\`
        import { appendFileSync } from 'node:fs'
        export async function load(url, context, next) {
          appendFileSync(\${JSON.stringify(process.env.LOADS_FILE)}, url + '\\\\n')
          return next(url, context)
        }\`))
    `)
    const loads = join(home, 'loads.txt')
    const r = await new Promise<Run>((resolve) => {
      execFile(process.execPath, ['--import', hooks, BIN, 'backup', '--help'], { env: { PATH: process.env.PATH ?? '', HOME: home, LOADS_FILE: loads } }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, stdout, stderr }),
      )
    })
    assert.equal(r.code, 0, r.stderr)
    const urls = (await readFile(loads, 'utf8')).split('\n').filter(Boolean)
    assert.ok(urls.some((u) => u.endsWith('/cli/commands/backup.js')), 'the hook saw the backup command load')
    const unwanted = urls.filter((u) => /\/node_modules\/zod\/|\/src\/(config|daemon|server)\/|\/cli\/commands\/(restore|serve|daemon|run)\.js$/.test(u))
    assert.deepEqual(unwanted, [])
  })

  it('an unknown command exits 1 with a message', async () => {
    const r = await cairn(['frobnicate'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /unknown command 'frobnicate'/)
    assert.equal(r.stdout, '')
  })

  it('an unknown option is refused', async () => {
    const { code, out } = await runInProcess(['backup', '--no-such-flag'])
    assert.equal(code, 1)
    assert.match(out, /unknown option '--no-such-flag'/)
  })

  it("takes restic's --verbose=N, as N times --verbose", async () => {
    const r = await cairn(['--verbose=2', 'version'])
    assert.equal(r.code, 0, r.stderr)
    const { program, ctx } = await buildProgram(['version'])
    program.exitOverride()
    await program.parseAsync(['node', 'cairn', '--verbose', '--verbose', 'version'])
    assert.equal(ctx.globals.verbose, 2)
  })

  it('version prints the version, as text and as JSON', async () => {
    const text = await cairn(['version'])
    assert.equal(text.code, 0)
    assert.match(text.stdout, new RegExp(`^cairn ${VERSION.replace(/\./g, '\\.')} compiled with node v\\d+`))
    const json = await cairn(['--json', 'version'])
    assert.equal(json.code, 0)
    assert.equal(JSON.parse(json.stdout).version, VERSION)
    assert.equal(JSON.parse(json.stdout).message_type, 'version', "restic's message type")
    const flag = await runInProcess(['--version'])
    assert.equal(flag.code, 0)
    assert.equal(flag.out.trim(), VERSION)
  })

  it('a missing repository exits 10', async () => {
    const r = await cairn(['-r', join(home, 'no-repo'), 'snapshots'], { CAIRN_PASSWORD: 'x' })
    assert.equal(r.code, 10)
    assert.match(r.stderr, /^Fatal: Cannot open repository ".*no-repo"/)
  })

  /** A new repository (password "pw") and a folder of one file to back up, named after `label`. */
  async function newRepository(label: string): Promise<{ env: Record<string, string>; repo: string; data: string }> {
    const env = { CAIRN_PASSWORD: 'pw', CAIRN_CACHE_DIR: join(home, 'cache') }
    const repo = join(home, `repo-${label}`)
    const data = join(home, `data-${label}`)
    await mkdir(data)
    await writeFile(join(data, 'one.txt'), 'the one file\n')
    assert.equal((await cairn(['-r', repo, 'init'], env)).code, 0)
    return { env, repo, data }
  }

  it("reads a password given in no other way from standard input's first line when it is not a terminal, as restic does", async () => {
    const env = { CAIRN_CACHE_DIR: join(home, 'cache') }
    const repo = join(home, 'repo-stdin-password')
    const data = join(home, 'data-stdin-password')
    await mkdir(data)
    await writeFile(join(data, 'one.txt'), 'the one file\n')
    const init = await cairn(['-r', repo, 'init'], env, 'pw\n')
    assert.equal(init.code, 0, init.stderr)
    assert.match(init.stderr, /^reading repository password from stdin\n/)
    assert.equal((await cairn(['-r', repo, 'backup', data], env, 'pw\r\n')).code, 0)
    const listed = await cairn(['-r', repo, 'snapshots', '--json'], env, 'pw\nwhat follows is not read\n')
    assert.equal(listed.code, 0, listed.stderr)
    assert.equal((JSON.parse(listed.stdout) as unknown[]).length, 1)
    const wrong = await cairn(['-r', repo, 'snapshots'], env, 'not-it\n')
    assert.equal(wrong.code, 12)
    const empty = await cairn(['-r', repo, 'snapshots'], env, '')
    assert.equal(empty.code, 1)
    assert.match(empty.stderr, /^Fatal: No repository password given: standard input is not a terminal, and its first line is empty/m)
    // key add: the repository's password from the variable, the new one from stdin, read once
    const added = await cairn(['-r', repo, 'key', 'add'], { ...env, CAIRN_PASSWORD: 'pw' }, 'second\n')
    assert.equal(added.code, 0, added.stderr)
    assert.equal((await cairn(['-r', repo, 'snapshots'], env, 'second\n')).code, 0)
    // both passwords on stdin, one line each
    assert.equal((await cairn(['-r', repo, 'key', 'add'], env, 'second\nthird\n')).code, 0)
    assert.equal((await cairn(['-r', repo, 'snapshots', '-q'], env, 'third\n')).stderr, '')
    // data or a list of files on stdin: the password cannot come from there too
    for (const args of [['backup', '--stdin'], ['backup', '--files-from', '-']]) {
      const r = await cairn(['-r', repo, ...args], env, 'pw\n')
      assert.equal(r.code, 1)
      assert.match(r.stderr, new RegExp(`standard input cannot carry it: ${args.slice(1).join(' ')} reads it`))
    }
  })

  it("shows a password command's own messages (its stderr), as restic does", async () => {
    const { env, repo } = await newRepository('password-command')
    const { CAIRN_PASSWORD: _, ...rest } = env
    const r = await cairn(['-r', repo, '--password-command', 'echo "helper: unlocking" >&2; echo pw', 'snapshots', '--json'], rest)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, 'helper: unlocking\n')
  })

  it("takes --key-hint from RESTIC_KEY_HINT or CAIRN_KEY_HINT, as restic does", async () => {
    const { env, repo } = await newRepository('key-hint')
    const added = await cairn(['-r', repo, 'key', 'add'], { ...env, CAIRN_NEW_PASSWORD: 'pw' })
    assert.equal(added.code, 0, added.stderr)
    const second = /saved new key as ([0-9a-f]{64})/.exec(added.stdout)?.[1] ?? ''
    const current = async (extra: Record<string, string>) =>
      (JSON.parse((await cairn(['-r', repo, 'key', 'list', '--json'], { ...env, ...extra })).stdout) as Array<{ current: boolean; id: string }>).find((k) => k.current)?.id
    const ids = (JSON.parse((await cairn(['-r', repo, 'key', 'list', '--json'], env)).stdout) as Array<{ id: string }>).map((k) => k.id)
    const first = ids.find((id) => id !== second.slice(0, 8)) ?? ''
    // whichever key opens first without a hint, each hint picks its own key
    for (const id of [first, second.slice(0, 8)]) {
      assert.equal(await current({ RESTIC_KEY_HINT: id }), id)
      assert.equal(await current({ CAIRN_KEY_HINT: id, RESTIC_KEY_HINT: 'ffffffff' }), id)
    }
  })

  it("takes restic's --cleanup-cache: the caches of repositories not used for 30 days go once the repository is open", async () => {
    const { env, repo } = await newRepository('cleanup-cache')
    const cacheDir = join(home, 'cleanup-cache-dir')
    const old = join(cacheDir, 'a'.repeat(64))
    const fresh = join(cacheDir, 'b'.repeat(64))
    await mkdir(old, { recursive: true })
    await mkdir(fresh)
    const longAgo = new Date(Date.now() - 60 * 24 * 3600 * 1000)
    await utimes(old, longAgo, longAgo)
    const withCache = { ...env, CAIRN_CACHE_DIR: cacheDir }
    assert.equal((await cairn(['-r', repo, 'snapshots'], withCache)).code, 0)
    assert.ok((await readdir(cacheDir)).includes('a'.repeat(64)), 'kept without the flag')
    const r = await cairn(['-r', repo, '--cleanup-cache', 'snapshots', '--json'], withCache)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /removed 1 old cache directories from /)
    const left = await readdir(cacheDir)
    assert.ok(!left.includes('a'.repeat(64)))
    assert.ok(left.includes('b'.repeat(64)))
  })

  it("reads restic's -X=value and --switch=true|false flag forms (-H=h2 matched no host)", async () => {
    const { env, repo, data } = await newRepository('pflag')
    assert.equal((await cairn(['-r', repo, 'backup', '--host', 'h2', data], env)).code, 0)
    const listed = await cairn(['-r', repo, 'snapshots', '-H=h2', '--json'], env)
    assert.equal(listed.code, 0, listed.stderr)
    assert.equal((JSON.parse(listed.stdout) as unknown[]).length, 1)
    const dry = await cairn(['-r', repo, 'forget', '-l=0', '--keep-tag=x', '--dry-run=true', '--json'], env)
    assert.equal(dry.code, 0, dry.stderr)
    assert.equal((JSON.parse((await cairn(['-r', repo, 'snapshots', '--json=false', '--json'], env)).stdout) as unknown[]).length, 1, 'the dry run removed nothing')
    const { program } = await buildProgram(['snapshots'])
    assert.deepEqual(pflagForms(['node', 'cairn', 'snapshots', '-H=a=b', '-q=false', '--json=TRUE', '-Z=1', '--', '-H=x'], program), [
      'node', 'cairn', 'snapshots', '-H', 'a=b', '--json', '-Z=1', '--', '-H=x',
    ])
  })

  it('forget with only IDs that name no snapshot says so for each, and nothing about a missing policy', async () => {
    const { env, repo } = await newRepository('forget-ids')
    const r = await cairn(['-r', repo, 'forget', '--dry-run', 'deadbeef'], env)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /Ignoring "deadbeef"/)
    assert.doesNotMatch(r.stdout + r.stderr, /no policy was specified/)
    assert.match((await cairn(['-r', repo, 'forget'], env)).stdout, /no policy was specified/)
  })

  it('"latest" that no snapshot matches names the filters it was looked for with', async () => {
    const { env, repo, data } = await newRepository('latest-filters')
    assert.equal((await cairn(['-r', repo, 'backup', data], env)).code, 0)
    const r = await cairn(['-r', repo, 'ls', 'latest', '--host', 'nohost', '--tag', 'a,b'], env)
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^Fatal: No snapshot found for --host "nohost" and --tag "a,b" \(/)
  })

  it('find --tree --show-pack-id names the pack of a tree, and says why the start of an ID it did not find is not found', async () => {
    const { env, repo, data } = await newRepository('find-pack')
    assert.equal((await cairn(['-r', repo, 'backup', data], env)).code, 0)
    const [snapshot] = JSON.parse((await cairn(['-r', repo, 'snapshots', '--json'], env)).stdout) as Array<{ tree: string }>
    const whole = await cairn(['-r', repo, 'find', '--tree', snapshot.tree, '--show-pack-id'], env)
    assert.match(whole.stdout, /Object belongs to pack [0-9a-f]{64}\n \.\.\. Pack [0-9a-f]{8}: <Blob \(tree\) /)
    const start = await cairn(['-r', repo, 'find', '--tree', snapshot.tree.slice(0, 8), '--show-pack-id'], env)
    assert.match(start.stdout, new RegExp(`Object ${snapshot.tree.slice(0, 8)} not found in the index: --show-pack-id looks up whole IDs`))
  })

  it('--retry-lock waits for a lock another process holds, as restic does; without it the command fails at once', async () => {
    const { env, repo, data } = await newRepository('retry-lock')
    const held = await Lock.acquire(await Repository.open(new LocalBackend(repo), 'pw'), { exclusive: true, settleMs: 0 })
    const refused = await cairn(['-r', repo, 'backup', data], env)
    assert.equal(refused.code, 11, refused.stderr)
    setTimeout(() => void held.release(), 1500)
    const waited = await cairn(['-r', repo, '--retry-lock', '1m', 'backup', data], env)
    assert.equal(waited.code, 0, waited.stderr)
    assert.match(waited.stderr, /already locked exclusively .*; trying again for up to (59s|1m)/)
    // One Ctrl-C ends the wait of a command that stops itself cleanly (backup), not only a second one.
    const again = await Lock.acquire(await Repository.open(new LocalBackend(repo), 'pw'), { exclusive: true, settleMs: 0 })
    const child = spawn(process.execPath, [BIN, '-r', repo, '--retry-lock', '10m', 'backup', data], { env: { PATH: process.env.PATH ?? '', HOME: home, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    while (!stderr.includes('trying again')) await new Promise((resolve) => setTimeout(resolve, 50))
    const stopped = Date.now()
    child.kill('SIGINT')
    const code = await new Promise<number | null | 'still waiting'>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL')
        resolve('still waiting')
      }, 8000)
      child.on('close', (c) => {
        clearTimeout(t)
        resolve(c)
      })
    })
    assert.equal(code, 130, stderr)
    assert.ok(Date.now() - stopped < 5000, 'one Ctrl-C ended the wait')
    await again.release()
    const bad = await cairn(['-r', repo, '--retry-lock', '5 minutes', 'snapshots'], env)
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /Invalid value "5 minutes" for --retry-lock: expected a duration such as 30s, 5m or 1h30m/)
  })

  it('a reader that closes the output early ends the run quietly, with exit code 141 and no lock left', async () => {
    // Enough output (about 200 KiB) that the commands still write after the reader is gone.
    const env = { CAIRN_PASSWORD: 'pw', CAIRN_CACHE_DIR: join(home, 'cache') }
    const repo = join(home, 'repo-closed-output')
    const data = join(home, 'data-closed-output')
    await mkdir(data)
    for (let i = 0; i < 2000; i++) await writeFile(join(data, `a-file-with-a-rather-long-name-so-that-listings-are-long-${i}.txt`), `${i}\n`)
    assert.equal((await cairn(['-r', repo, 'init'], env)).code, 0)
    const backup = await cairn(['-r', repo, 'backup', data], env)
    assert.equal(backup.code, 0, backup.stderr)
    for (const args of [['find', '*'], ['dump', 'latest', data]]) {
      const child = spawn(process.execPath, [BIN, '-r', repo, ...args], { env: { PATH: process.env.PATH ?? '', HOME: home, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      // The first bytes arrive, then the reader goes away, as `head` does.
      child.stdout.once('data', () => child.stdout.destroy())
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])))
      assert.deepEqual({ code, signal, stderr }, { code: 141, signal: null, stderr: '' }, args.join(' '))
      assert.deepEqual(await readdir(join(repo, 'locks')), [], `${args.join(' ')} left its lock`)
    }
  })

  it('Ctrl-C ends any command holding a lock with exit code 130 and no lock left; SIGHUP does not end it', async () => {
    const env = { CAIRN_PASSWORD: 'pw', CAIRN_CACHE_DIR: join(home, 'cache') }
    const repo = join(home, 'repo-signals')
    assert.equal((await cairn(['-r', repo, 'init'], env)).code, 0)
    // "key add" holds a lock while it reads the new password: from a file whose read never
    // ends (a preloaded module makes it so; a FIFO would block a thread that exit then waits for).
    const stall = join(home, 'stall-reads.mjs')
    await writeFile(stall, `
      import { createRequire, syncBuiltinESMExports } from 'node:module'
      const fsp = createRequire(import.meta.url)('node:fs/promises')
      const readFile = fsp.readFile
      fsp.readFile = (path, ...rest) => (String(path).endsWith('never-read') ? new Promise(() => setInterval(() => {}, 1000)) : readFile(path, ...rest))
      syncBuiltinESMExports()
    `)
    const child = spawn(process.execPath, ['--import', stall, BIN, '-r', repo, 'key', 'add', '--new-password-file', join(home, 'never-read')], {
      env: { PATH: process.env.PATH ?? '', HOME: home, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])))
    const locks = () => readdir(join(repo, 'locks'))
    for (let waited = 0; (await locks()).length === 0; waited += 20) {
      assert.ok(waited < 20_000, `no lock appeared; stderr: ${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    // restic 0.14 sends SIGHUP to a lock's process to see whether it still runs.
    child.kill('SIGHUP')
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(child.exitCode, null, 'SIGHUP ended the run')
    assert.equal((await locks()).length, 1)
    child.kill('SIGINT')
    const [code, signal] = await closed
    assert.deepEqual({ code, signal, stderr }, { code: 130, signal: null, stderr: 'Fatal: Interrupted\n' })
    assert.deepEqual(await locks(), [])
  })

  it('Ctrl-C or SIGTERM while the program still loads ends it with exit code 130 too', async () => {
    // Before its handlers were set (a few tenths of a second), a signal ended it with 143.
    // A loader hook holds back the loading of the command line and says when it started.
    const marker = join(home, 'loading-main')
    const hooks = join(home, 'slow-main-hooks.mjs')
    await writeFile(
      hooks,
      `import { writeFileSync } from 'node:fs'
      export async function load(url, context, next) {
        if (url.endsWith('/cli/main.js')) {
          writeFileSync(${JSON.stringify(marker)}, '')
          await new Promise((r) => setTimeout(r, 5000))
        }
        return next(url, context)
      }`,
    )
    const register = join(home, 'slow-main.mjs')
    await writeFile(register, `import { register } from 'node:module'\nregister(${JSON.stringify('file://' + hooks)})\n`)
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      await rm(marker, { force: true })
      const child = spawn(process.execPath, ['--import', register, BIN, 'version'], { env: { PATH: process.env.PATH ?? '', HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])))
      for (let waited = 0; !(await readdir(home)).includes('loading-main'); waited += 10) {
        assert.ok(waited < 20_000, `the program did not start loading; stderr: ${stderr}`)
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      child.kill(signal)
      const [code, killedBy] = await closed
      assert.deepEqual({ code, killedBy, stderr }, { code: 130, killedBy: null, stderr: 'Fatal: Interrupted\n' }, signal)
    }
  })

  it('Ctrl-C ends a backup at once while it retries a server that is down, with exit code 130', async () => {
    // The retries' waits did not look at the interruption: a minute or more went by.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port
        s.close(() => resolve(p))
      })
    })
    const data = join(home, 'data-server-down')
    await mkdir(data, { recursive: true })
    await writeFile(join(data, 'f'), 'x')
    const child = spawn(process.execPath, [BIN, '-r', `rest:http://127.0.0.1:${port}/repo`, 'backup', data], {
      env: { PATH: process.env.PATH ?? '', HOME: home, CAIRN_PASSWORD: 'pw', CAIRN_CACHE_DIR: join(home, 'cache') },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
    for (let waited = 0; !/retrying in/.test(stderr); waited += 20) {
      assert.ok(waited < 20_000, `no retry was reported; stderr: ${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const stopped = Date.now()
    child.kill('SIGINT')
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    const code = await closed
    clearTimeout(timer)
    assert.equal(code, 130, stderr)
    assert.ok(Date.now() - stopped < 5000, `it took ${Date.now() - stopped} ms`)
  })

  it('Ctrl-C ends a backup --stdin that waits for input that does not come', async () => {
    const env = { CAIRN_PASSWORD: 'pw', CAIRN_CACHE_DIR: join(home, 'cache') }
    const repo = join(home, 'repo-stdin-wait')
    assert.equal((await cairn(['-r', repo, 'init'], env)).code, 0)
    const child = spawn(process.execPath, [BIN, '-r', repo, 'backup', '--stdin'], { env: { PATH: process.env.PATH ?? '', HOME: home, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    child.stdin.write('a first part, then nothing more\n')
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
    const locks = () => readdir(join(repo, 'locks'))
    for (let waited = 0; (await locks()).length === 0; waited += 20) {
      assert.ok(waited < 20_000, `no lock appeared; stderr: ${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await new Promise((resolve) => setTimeout(resolve, 300))
    child.kill('SIGINT')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    const code = await closed
    clearTimeout(timer)
    assert.equal(code, 130, `one Ctrl-C ends it (${stderr})`)
    assert.deepEqual(await locks(), [])
    child.stdin.destroy()
  })
})
