/**
 * Helpers for the app tests that judge cairn against the real restic binary: temporary
 * repositories with a weak key (fast to open for both programs), backups made by restic (the
 * reference), and runs of both CLIs as child processes. Imported by tests only.
 */
import { spawn } from 'node:child_process'
import { existsSync, promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LocalBackend } from '../backends/index.js'
import { Repository } from '../repository/index.js'
import { TEST_POLYNOMIAL, WEAK_SCRYPT } from '../repository/testing.js'

export const PASSWORD = 'interop password'

/** The compiled CLI next to this compiled file (dist/src/cli/main.js). */
export const cairnMain = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js')

export interface Run {
  code: number | null
  stdout: string
  stderr: string
  /** stdout as bytes, for binary output (dump). */
  bytes: Buffer
}

/** Runs a program with RESTIC_/CAIRN_ variables cleared, then `env` added; in `cwd` when given. */
export function run(command: string, args: string[], env: Record<string, string> = {}, input?: Buffer, cwd?: string): Promise<Run> {
  return new Promise((done, fail) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(RESTIC|CAIRN)_/.test(k)))
    const child = spawn(command, args, { env: { ...clean, CAIRN_CACHE_DIR: join(tmpdir(), 'cairn-test-cache'), CAIRN_PASSWORD: PASSWORD, RESTIC_PASSWORD: PASSWORD, ...env }, stdio: ['pipe', 'pipe', 'pipe'], ...(cwd === undefined ? {} : { cwd }) })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.on('error', fail)
    child.stdin.end(input)
    child.on('close', (code) => {
      const bytes = Buffer.concat(out)
      done({ code, stdout: bytes.toString(), stderr: Buffer.concat(err).toString(), bytes })
    })
  })
}

export const cairn = (repo: string, args: string[], env: Record<string, string> = {}) => run(process.execPath, [cairnMain, '-r', repo, ...args], env)
export const restic = (repo: string, args: string[], env: Record<string, string> = {}) => run('restic', ['--no-cache', '-r', repo, ...args], env)

/** Why the interop tests cannot run here, or false when they can. */
export async function interopSkipReason(): Promise<string | false> {
  const version = await run('restic', ['version']).catch(() => undefined)
  if (version?.code !== 0) return 'the restic binary cannot be run'
  if (!existsSync(cairnMain)) return 'the CLI is not built'
  return false
}

export interface TempDir {
  path: string
  remove(): Promise<void>
}

export async function tempDir(prefix: string): Promise<TempDir> {
  const path = await fs.mkdtemp(join(tmpdir(), `cairn-${prefix}-`))
  return { path, remove: () => (process.env.CAIRN_KEEP_TMP ? Promise.resolve() : fs.rm(path, { recursive: true, force: true })) }
}

/**
 * Runs `fn` in a new temporary folder (`tmpPath`) holding a new repository (`repo`, weak key);
 * `src` names a source folder there, not yet made. The folder is removed afterwards.
 *
 * @example
 * await withTempRepo('backup-vv', async ({ repo, src }) => { await fs.mkdir(src); ... })
 */
export async function withTempRepo(prefix: string, fn: (t: { tmpPath: string; repo: string; src: string }) => Promise<void>): Promise<void> {
  const tmp = await tempDir(prefix)
  try {
    const repo = join(tmp.path, 'repo')
    await initRepo(repo)
    await fn({ tmpPath: tmp.path, repo, src: join(tmp.path, 'src') })
  } finally {
    await tmp.remove()
  }
}

/** A new repository in `path` with a weak key; returns it closed. */
export async function initRepo(path: string): Promise<void> {
  const repo = await Repository.init(new LocalBackend(path), PASSWORD, { scrypt: WEAK_SCRYPT, polynomial: TEST_POLYNOMIAL })
  await repo.close()
}

export async function openRepo(path: string, password = PASSWORD): Promise<Repository> {
  return Repository.open(new LocalBackend(path), password)
}

/** Runs `fn` with the repository open, and closes it. */
export async function withRepo<T>(path: string, fn: (repo: Repository) => Promise<T>): Promise<T> {
  const repo = await openRepo(path)
  try {
    return await fn(repo)
  } finally {
    await repo.close()
  }
}

/** Backs `dir` up with restic; returns the new snapshot's full ID (restic 0.14 prints a short one). */
export async function resticBackup(repo: string, dir: string, extra: string[] = []): Promise<string> {
  const r = await restic(repo, ['backup', '--json', ...extra, dir])
  if (r.code !== 0) throw new Error(`restic backup failed: ${r.stderr}`)
  const summary = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { message_type: string; snapshot_id?: string })
    .find((m) => m.message_type === 'summary')
  const short = summary?.snapshot_id
  if (!short) throw new Error(`restic backup printed no snapshot ID: ${r.stdout}`)
  const ids = json<Array<{ id: string }>>(await restic(repo, ['snapshots', '--json'])).map((s) => s.id)
  const full = ids.find((id) => id.startsWith(short))
  if (!full) throw new Error(`restic backup's snapshot ${short} is not listed`)
  return full
}

/** `--json` output as a value; throws with the output when the run failed. */
export function json<T = unknown>(r: Run): T {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

/** Fresh copies of `pristine` under `dir`, one per call: for tests that change a repository. */
export function repoCopier(pristine: () => string, dir: () => string): () => Promise<string> {
  let copies = 0
  return async () => {
    const copy = join(dir(), `copy-${++copies}`)
    await fs.cp(pristine(), copy, { recursive: true })
    return copy
  }
}
