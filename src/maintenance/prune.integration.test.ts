/**
 * forget and prune through the cairn CLI against the real restic 0.14 binary, on a repository
 * holding snapshots written by both: after `cairn forget --prune`, `restic check --read-data`
 * finds no errors and every kept snapshot restores identically; and `cairn prune` killed with
 * SIGKILL at random moments never leaves a repository restic rejects or a snapshot it cannot
 * restore. Skipped when restic is not installed or the CLI is not built.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { LocalBackend } from '../backends/index.js'
import { Repository } from '../repository/index.js'
import { seededBytes, TEST_POLYNOMIAL, WEAK_SCRYPT } from '../repository/testing.js'
import { seededRandom } from '../snapshots/retention-testing.js'

const RESTIC = process.env.RESTIC_BIN ?? '/usr/bin/restic'
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const CAIRN = join(ROOT, 'bin', 'cairn.js')
const PASSWORD = 'prune integration'
const MiB = 1024 * 1024
const skip = !existsSync(RESTIC) ? 'restic is not installed' : !existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js')) ? 'the CLI is not built' : false

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

let home = ''
function env(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, RESTIC_PASSWORD: PASSWORD, CAIRN_PASSWORD: PASSWORD, CAIRN_PACK_SIZE: '4' }
}

function run(command: string, args: string[]): Promise<Run> {
  return new Promise((res) => {
    execFile(command, args, { env: env(), maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number; signal?: NodeJS.Signals }) | null
      res({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, signal: e?.signal ?? null, stdout, stderr })
    })
  })
}

const restic = (repo: string, ...args: string[]) => run(RESTIC, ['--no-cache', '-r', repo, ...args])
const cairn = (repo: string, ...args: string[]) => run(process.execPath, [CAIRN, '-r', repo, ...args])

function ok(r: Run, what: string): string {
  assert.equal(r.code, 0, `${what} failed (${r.code ?? r.signal}):\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

/** relative path → SHA-256 of the content ("dir" for directories), for comparing trees. */
async function digest(dir: string, prefix = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const rel = prefix + e.name
    if (e.isDirectory()) {
      out.set(rel, 'dir')
      for (const [k, v] of await digest(join(dir, e.name), rel + '/')) out.set(k, v)
    } else {
      out.set(rel, createHash('sha256').update(await fs.readFile(join(dir, e.name))).digest('hex'))
    }
  }
  return out
}

/** Restores each snapshot with restic and compares it with its source directory. */
async function assertRestores(repo: string, work: string, snapshots: Array<{ id: string; source: string }>): Promise<void> {
  await fs.mkdir(work, { recursive: true })
  for (const s of snapshots) {
    const target = join(work, `restore-${s.id.slice(0, 8)}`)
    ok(await restic(repo, 'restore', s.id, '--target', target), `restic restore ${s.id}`)
    assert.deepEqual(await digest(join(target, s.source)), await digest(s.source), `snapshot ${s.id} restores identically`)
    await fs.rm(target, { recursive: true, force: true })
  }
}

async function assertCheckClean(repo: string, readData: boolean): Promise<void> {
  const r = await restic(repo, 'check', ...(readData ? ['--read-data'] : []))
  assert.equal(r.code, 0, `restic check failed:\n${r.stdout}\n${r.stderr}`)
  assert.match(r.stdout, /no errors were found/)
}

async function packBytes(repo: string): Promise<number> {
  let n = 0
  for (const sub of await fs.readdir(join(repo, 'data'))) {
    for (const f of await fs.readdir(join(repo, 'data', sub))) n += (await fs.stat(join(repo, 'data', sub, f))).size
  }
  return n
}

const PHASE_LINE = /^(loading indexes|repacking|rebuilding|deleting|removing|done)/

/**
 * Runs `cairn prune` and kills it (SIGKILL) `delay` ms after the first line of output starting
 * with `after` (never when `after` is undefined). Returns how it ended, its output, the lines
 * that start a phase with the ms since the first of them, and the ms from that one to its exit.
 */
function prunedUntil(
  repo: string,
  after?: string,
  delay = 0,
): Promise<{ signal: NodeJS.Signals | null; stdout: string; lines: Array<{ text: string; at: number }>; ms: number }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [CAIRN, '-r', repo, 'prune'], { env: env(), stdio: ['ignore', 'pipe', 'ignore'] })
    let stdout = ''
    let started = 0
    const lines: Array<{ text: string; at: number }> = []
    let timer: NodeJS.Timeout | undefined
    child.stdout.on('data', (b: Buffer) => {
      const text = b.toString()
      stdout += text
      for (const line of text.split('\n')) {
        if (!PHASE_LINE.test(line)) continue
        if (started === 0) started = Date.now()
        lines.push({ text: line, at: Date.now() - started })
        if (after !== undefined && timer === undefined && line.startsWith(after)) timer = setTimeout(() => child.kill('SIGKILL'), delay)
      }
    })
    child.on('close', (_code, signal) => {
      clearTimeout(timer)
      res({ signal, stdout, lines, ms: Date.now() - started })
    })
  })
}

async function copyRepo(from: string, to: string): Promise<string> {
  await fs.cp(from, to, { recursive: true })
  return to
}

describe('cairn forget and prune with restic', { skip }, () => {
  let root = ''
  let base = ''
  /** Oldest first: v1 restic, v2 cairn, v3 restic, v4 cairn. */
  const versions: Array<{ id: string; source: string }> = []

  before(async () => {
    root = await fs.mkdtemp(join(tmpdir(), 'cairn-prune-'))
    home = join(root, 'home')
    await fs.mkdir(home)
    base = join(root, 'base')
    const repo = await Repository.init(new LocalBackend(base), PASSWORD, { scrypt: WEAK_SCRYPT, polynomial: TEST_POLYNOMIAL })
    await repo.close()

    const text = Buffer.from('a line of text that compresses well\n'.repeat(15_000))
    const files: Record<string, Buffer> = {
      a1: seededBytes(1, 0.75 * MiB),
      a2: seededBytes(2, 0.75 * MiB),
      a3: seededBytes(3, 0.5 * MiB),
      a4: seededBytes(4, 0.25 * MiB),
      'text.txt': text,
    }
    for (let i = 0; i < 5; i++) files[`small/s${i}`] = seededBytes(10 + i, 10_000)
    const steps: Array<(f: Record<string, Buffer>) => void> = [
      () => {},
      (f) => {
        delete f.a1
        f.b1 = seededBytes(20, 0.6 * MiB)
        f['deep/b2'] = seededBytes(21, 0.4 * MiB)
      },
      (f) => {
        delete f.b1
        delete f.a2
        f.c1 = seededBytes(30, 0.5 * MiB)
      },
      (f) => {
        f['deep/d1'] = seededBytes(40, 0.25 * MiB)
        f['text.txt'] = Buffer.concat([text, Buffer.from('one more line\n')])
      },
    ]
    for (const [i, step] of steps.entries()) {
      step(files)
      const source = join(root, 'src', `v${i + 1}`)
      for (const [name, data] of Object.entries(files)) {
        await fs.mkdir(dirname(join(source, name)), { recursive: true })
        await fs.writeFile(join(source, name), data)
      }
      if (i % 2 === 0) ok(await restic(base, 'backup', '--pack-size', '4', source), `restic backup v${i + 1}`)
      else ok(await cairn(base, 'backup', source), `cairn backup v${i + 1}`)
      const list = JSON.parse(ok(await restic(base, 'snapshots', '--json'), 'restic snapshots')) as Array<{ id: string; paths: string[] }>
      versions.push({ id: list.find((s) => s.paths[0] === source)!.id, source })
    }
  })

  after(async () => {
    if (process.env.CAIRN_KEEP_TMP) process.stderr.write(`# kept temporary files in ${root}\n`)
    else if (root) await fs.rm(root, { recursive: true, force: true, maxRetries: 5 }).catch(() => {})
  })

  it('forget --prune leaves a repository restic checks clean, and kept snapshots restore identically', async () => {
    const repo = await copyRepo(base, join(root, 'forget-prune'))
    const before = await packBytes(repo)
    const out = ok(await cairn(repo, 'forget', '--keep-last', '2', '--group-by', 'host', '--prune'), 'cairn forget --prune')
    assert.match(out, /remove 2 snapshots/)
    assert.match(out, /freed \d/)
    const left = JSON.parse(ok(await restic(repo, 'snapshots', '--json'), 'restic snapshots')) as Array<{ id: string }>
    assert.deepEqual(left.map((s) => s.id).sort(), [versions[2].id, versions[3].id].sort())
    await assertCheckClean(repo, true)
    await assertRestores(repo, root, versions.slice(2))
    const saved = before - (await packBytes(repo))
    assert.ok(saved > 1.5 * MiB, `prune freed ${saved} bytes`)
    // A second prune finds nothing worth doing, and restic's own prune agrees the data is used.
    assert.match(ok(await restic(repo, 'prune', '--dry-run'), 'restic prune --dry-run'), /to delete:\s+0 blobs/)
  })

  it('prune removes the unfinished pack of a killed backup, which nothing lists, and restic checks the rest clean', async () => {
    const repo = await copyRepo(base, join(root, 'leftover'))
    const leftover = join(repo, 'data', '7a', 'pack-00112233445566778899aabb-tmp')
    await fs.writeFile(leftover, seededBytes(77, 300_000))
    const hourAgo = new Date(Date.now() - 3600_000)
    await fs.utimes(leftover, hourAgo, hourAgo)
    const dry = ok(await cairn(repo, 'prune', '--dry-run'), 'cairn prune --dry-run')
    assert.match(dry, /would remove 1 unfinished files \(292\.969 KiB\) that interrupted runs left/)
    await fs.stat(leftover)
    const out = ok(await cairn(repo, 'prune'), 'cairn prune')
    assert.match(out, /removed 1 unfinished files \(292\.969 KiB\) that interrupted runs left/)
    await assert.rejects(fs.stat(leftover), /ENOENT/)
    await assertCheckClean(repo, false)
  })

  it('a prune killed at random moments never leaves a repository restic rejects', async (t) => {
    const template = await copyRepo(base, join(root, 'template'))
    ok(await cairn(template, 'forget', '--keep-last', '2', '--group-by', 'host'), 'cairn forget')
    const kept = versions.slice(2)

    // Each run is killed at a random moment within one phase: some time after the line that
    // starts it, up to the phase's length in an uninterrupted run. Counting from the line rather
    // than from process start keeps the aim under load, and cycling through the phases hits the
    // short ones (index rewrite, deletions) as often as the long ones (planning, repacking).
    const timing = await copyRepo(template, join(root, 'timing'))
    const full = await prunedUntil(timing)
    assert.equal(full.signal, null)
    assert.match(full.stdout, /removing \d+ old packs/)
    await fs.rm(timing, { recursive: true, force: true })
    const targets = full.lines.map((l, k) => ({ after: l.text.split(' ')[0], length: (full.lines[k + 1]?.at ?? full.ms) - l.at }))

    const random = seededRandom(Number(process.env.CAIRN_TEST_SEED ?? 20261122))
    const iterations = 15
    const plan = Array.from({ length: iterations }, (_, i) => {
      const t = targets[i % targets.length]
      return { after: t.after, delay: Math.round(random() * Math.max(t.length, 2)) }
    })
    const phases = new Map<string, number>()
    const iteration = async (i: number): Promise<void> => {
      const repo = await copyRepo(template, join(root, `crash-${i}`))
      const run = await prunedUntil(repo, plan[i].after, plan[i].delay)
      if (run.signal === 'SIGKILL') {
        const last = run.stdout.trim().split('\n').at(-1) ?? ''
        phases.set(last, (phases.get(last) ?? 0) + 1)
      }
      const where = `iteration ${i}, killed ${plan[i].delay} ms after "${plan[i].after}…" (uninterrupted: ${full.lines.map((l) => `${l.at} ms ${l.text}`).join(', ')})`
      if (process.env.CAIRN_KEEP_TMP) await copyRepo(repo, `${repo}-after-kill`)
      // A killed cairn leaves its lock behind; restic must see that it is stale.
      ok(await restic(repo, 'unlock'), `restic unlock (${where})`)
      await assertCheckClean(repo, i % 5 === 0).catch((err: Error) => assert.fail(`${where}: ${err.message}`))
      await assertRestores(repo, join(root, `crash-${i}-restore`), kept)
      if (i % 5 === 0) {
        ok(await cairn(repo, 'prune'), `cairn prune after a crash (${where})`)
        await assertCheckClean(repo, false)
      }
      await fs.rm(repo, { recursive: true, force: true })
    }
    // Three at a time: most of each iteration is process start-up and waiting.
    let next = 0
    const worker = async () => {
      while (next < iterations) await iteration(next++)
    }
    await Promise.all([worker(), worker(), worker()])

    const killed = [...phases.values()].reduce((a, b) => a + b, 0)
    t.diagnostic(`uninterrupted prune: ${full.lines.map((l) => `${l.at} ms ${l.text}`).join(', ')}, exit at ${full.ms} ms`)
    t.diagnostic(`killed ${killed} of ${iterations} runs; last line before the kill: ${JSON.stringify(Object.fromEntries(phases))}`)
    assert.ok(killed >= iterations / 2, `only ${killed} of ${iterations} runs were killed before they finished`)
    assert.ok(phases.size >= 2, 'kills landed in more than one phase')
  })
})
