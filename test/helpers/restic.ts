/**
 * Runs the real restic binary and the cairn CLI as black boxes, with a clean environment, and
 * manages temporary directories. Everything here talks to processes and the file system only;
 * nothing imports cairn's own code, so these tests judge cairn from the outside as a user would.
 */
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess, SpawnOptions } from 'node:child_process'
import { existsSync, promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The project root (this file is compiled to dist/test/helpers/). */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
/**
 * The CLI compiled beside these helpers (dist/src/cli/main.js), run as bin/cairn.js runs it
 * (with UV_THREADPOOL_SIZE=16). A build into another outDir tests its own CLI.
 */
export const cairnBin = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js')
const cairnMain = cairnBin
export const resticBin = process.env.RESTIC_BIN ?? 'restic'
/** The metadata cache of CLI runs in tests: never the user's own ~/.cache. */
export const TEST_CACHE_DIR = join(tmpdir(), 'cairn-test-cache')
/** True when running as root (owners can be set, permission checks do not apply). */
export const isRoot = process.getuid?.() === 0

export interface RunOptions {
  repo: string
  password: string
  cwd?: string
  /** Extra variables; `undefined` removes one. */
  env?: Record<string, string | undefined>
  /** Written to stdin, which is then closed. */
  input?: string
  /**
   * Run without the capabilities that let root read and search past file permissions, so a
   * mode 000 file is unreadable even to root (the process keeps uid 0 and so still reaches the
   * project and the repository). No effect when not running as root.
   */
  obeyPermissions?: boolean
  /** Kill the process (SIGKILL) after this long; default 120 s. */
  timeoutMs?: number
}

export interface RunResult {
  /** Exit code, or null when the process died from a signal. */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Parent environment without any repository, password or cache settings that could leak in. */
function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(RESTIC|CAIRN)_/.test(k)) env[k] = v
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k]
    else env[k] = v
  }
  return env
}

const DROP_READ_OVERRIDE = ['--bounding-set', '-dac_override,-dac_read_search', '--inh-caps', '-dac_override,-dac_read_search']

function spawnWith(command: string, args: string[], opts: RunOptions, env: Record<string, string | undefined>): ChildProcess {
  const options: SpawnOptions = {
    cwd: opts.cwd,
    env: cleanEnv({ UV_THREADPOOL_SIZE: '16', CAIRN_CACHE_DIR: TEST_CACHE_DIR, ...env, ...opts.env }),
    stdio: ['pipe', 'pipe', 'pipe'],
  }
  if (opts.obeyPermissions && isRoot) {
    return spawn('setpriv', [...DROP_READ_OVERRIDE, '--', command, ...args], options)
  }
  return spawn(command, args, options)
}

/** Collects a child's output and waits for it to end. */
export function collect(child: ChildProcess, opts: Pick<RunOptions, 'input' | 'timeoutMs'> = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout?.on('data', (b: Buffer) => out.push(b))
    child.stderr?.on('data', (b: Buffer) => err.push(b))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolvePromise({
        code,
        signal,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      })
    })
    child.stdin?.on('error', () => {}) // the child may exit before reading its input
    if (opts.input !== undefined) child.stdin?.end(opts.input)
    else child.stdin?.end()
  })
}

/** Runs `restic --no-cache -r <repo> ...args` with the password in RESTIC_PASSWORD. */
export function restic(args: string[], opts: RunOptions): Promise<RunResult> {
  return collect(resticSpawn(args, opts), opts)
}

/** Starts restic without waiting; stdin stays open until the caller ends it. */
export function resticSpawn(args: string[], opts: RunOptions): ChildProcess {
  return spawnWith(resticBin, ['--no-cache', '-r', opts.repo, ...args], opts, { RESTIC_PASSWORD: opts.password })
}

/** Runs the cairn CLI (`cairn -r <repo> ...args`) with the password in CAIRN_PASSWORD. */
export function cairn(args: string[], opts: RunOptions): Promise<RunResult> {
  return collect(cairnSpawn(args, opts), opts)
}

/** Starts cairn without waiting, for signal tests; stdin is left open. */
export function cairnSpawn(args: string[], opts: RunOptions): ChildProcess {
  return spawnWith(process.execPath, [cairnBin, '-r', opts.repo, ...args], opts, { CAIRN_PASSWORD: opts.password })
}

/**
 * Runs cairn under `strace`, logging every syscall that reads file contents, with fd paths
 * (`-y`). Returns the run result and the trace text.
 */
export async function cairnTraced(args: string[], opts: RunOptions, traceFile: string): Promise<RunResult & { trace: string }> {
  const straceArgs = ['-f', '-qq', '-y', '-s', '0', '-o', traceFile, '-e', `trace=${READ_SYSCALLS}`]
  const child = spawnWith('strace', [...straceArgs, process.execPath, cairnBin, '-r', opts.repo, ...args], opts, {
    CAIRN_PASSWORD: opts.password,
  })
  const result = await collect(child, opts)
  return { ...result, trace: await fs.readFile(traceFile, 'utf8').catch(() => '') }
}

/** Same as {@link cairnTraced} for restic, used to prove the tracing works without cairn. */
export async function resticTraced(args: string[], opts: RunOptions, traceFile: string): Promise<RunResult & { trace: string }> {
  const straceArgs = ['-f', '-qq', '-y', '-s', '0', '-o', traceFile, '-e', `trace=${READ_SYSCALLS}`]
  const child = spawnWith('strace', [...straceArgs, resticBin, '--no-cache', '-r', opts.repo, ...args], opts, {
    RESTIC_PASSWORD: opts.password,
  })
  const result = await collect(child, opts)
  return { ...result, trace: await fs.readFile(traceFile, 'utf8').catch(() => '') }
}

const READ_SYSCALLS = 'read,pread64,readv,preadv,preadv2,sendfile,copy_file_range,splice,mmap'

/**
 * Lines of an strace log (made with `-y`) where a read touched a file below `dir`. strace
 * prints non-ASCII bytes of paths escaped, so `dir` should be plain ASCII.
 */
export function readsBelow(trace: string, dir: string): string[] {
  const marker = `<${dir}/`
  return trace.split('\n').filter((line) => line.includes(marker) && !/ = -1 /.test(line))
}

let straceOk: Promise<boolean> | undefined
/** True when `strace` exists and may trace children here (containers often forbid ptrace). */
export function straceAvailable(): Promise<boolean> {
  straceOk ??= new Promise((res) => execFile('strace', ['-f', '-qq', '-o', '/dev/null', 'true'], (err) => res(!err)))
  return straceOk
}

let dropOk: Promise<boolean> | undefined
/** True when a root process here may drop its permission-override capabilities (setpriv). */
export function canObeyPermissions(): Promise<boolean> {
  if (!isRoot) return Promise.resolve(true)
  dropOk ??= new Promise((res) => execFile('setpriv', [...DROP_READ_OVERRIDE, '--', 'true'], (err) => res(!err)))
  return dropOk
}

let resticOk: Promise<string | undefined> | undefined
/** The restic version line, or undefined when no restic binary can be run. */
export function resticVersion(): Promise<string | undefined> {
  resticOk ??= new Promise((res) =>
    execFile(resticBin, ['version'], (err, stdout) => res(err ? undefined : stdout.trim())),
  )
  return resticOk
}

/** True when a restic binary can be run. */
export async function resticAvailable(): Promise<boolean> {
  return (await resticVersion()) !== undefined
}

/** True when the cairn CLI has been built (dist/src/cli/main.js). */
export function cairnAvailable(): boolean {
  return existsSync(cairnMain)
}

/**
 * The reason to skip a test that needs the given tools, or undefined when all are present.
 * Use as `test(name, { skip: await needs('restic', 'cairn') }, fn)`.
 */
export async function needs(...tools: ('restic' | 'cairn' | 'strace' | 'root' | 'obey-permissions')[]): Promise<string | false> {
  const missing: string[] = []
  if (tools.includes('restic') && !(await resticAvailable())) missing.push(`the restic binary ("${resticBin}") cannot be run`)
  if (tools.includes('cairn') && !cairnAvailable()) missing.push('the cairn CLI is not built (dist/src/cli/main.js is missing)')
  if (tools.includes('strace') && !(await straceAvailable())) missing.push('strace is missing or may not trace here')
  if (tools.includes('root') && !isRoot) missing.push('needs to run as root')
  if (tools.includes('obey-permissions') && !(await canObeyPermissions())) {
    missing.push('running as root, and setpriv cannot drop the capabilities that bypass file permissions')
  }
  return missing.length > 0 ? missing.join('; ') : false
}


/**
 * A temporary directory for one test file. `dir(name)` makes subdirectories; `cleanup()`
 * removes everything unless CAIRN_KEEP_TMP is set (then it prints where things are).
 */
export interface TempRoot {
  path: string
  dir(name: string): Promise<string>
  cleanup(): Promise<void>
}

export async function makeTempRoot(prefix: string): Promise<TempRoot> {
  const path = await fs.mkdtemp(join(tmpdir(), `cairn-${prefix}-`))
  return {
    path,
    async dir(name) {
      const p = join(path, name)
      await fs.mkdir(p, { recursive: true })
      return p
    },
    async cleanup() {
      if (process.env.CAIRN_KEEP_TMP) {
        process.stderr.write(`# kept temporary files in ${path}\n`)
        return
      }
      await removeTree(path)
    },
  }
}

/** Removes a tree even where read-only directories would stop a plain rm as non-root. */
export async function removeTree(path: string): Promise<void> {
  try {
    await fs.rm(path, { recursive: true, force: true })
  } catch {
    await new Promise<void>((res) => execFile('chmod', ['-R', 'u+rwx', path], () => res()))
    await fs.rm(path, { recursive: true, force: true })
  }
}
