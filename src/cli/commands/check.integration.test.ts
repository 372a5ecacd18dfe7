/**
 * `cairn check` and `cairn repair` on damaged repositories, run as a user runs them (the built
 * CLI in a child process), with the real restic as the second opinion: each kind of damage
 * must be found and reported with the snapshots and file paths it affects, restic must agree
 * that the repository is damaged, and after the repair restic's `check --read-data` must pass.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { LocalBackend } from '../../backends/index.js'
import { decodeIndex, encodeIndex, Repository } from '../../repository/index.js'
import { TEST_POLYNOMIAL, WEAK_SCRYPT } from '../../repository/testing.js'
import { encodeSnapshot } from '../../snapshots/index.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..')
const cairnBin = join(root, 'bin', 'cairn.js')
const password = 'check-integration'

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function run(command: string, args: string[], env: Record<string, string> = {}, cwd?: string): Promise<Run> {
  return new Promise((done, fail) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(RESTIC|CAIRN)_/.test(k)))
    const child = spawn(command, args, { cwd, env: { ...clean, CAIRN_CACHE_DIR: join(tmpdir(), 'cairn-test-cache'), CAIRN_PASSWORD: password, RESTIC_PASSWORD: password, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.on('error', fail)
    child.on('close', (code) => done({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }))
  })
}

const cairn = (repo: string, ...args: string[]) => run(process.execPath, [cairnBin, '-r', repo, ...args])
const restic = (repo: string, ...args: string[]) => run('restic', ['--no-cache', '-r', repo, ...args])

const resticMissing = (await run('restic', ['version']).catch(() => undefined))?.code !== 0
const skip = resticMissing ? 'the restic binary cannot be run' : !existsSync(join(root, 'dist', 'src', 'cli', 'main.js')) ? 'the CLI is not built' : false

/** Files below `dir` by relative path, with their contents. */
async function readTree(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  const walk = async (d: string, rel: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name), `${rel}${e.name}/`)
      else out.set(rel + e.name, await fs.readFile(join(d, e.name)))
    }
  }
  await walk(dir, '')
  return out
}

async function packFiles(repo: string): Promise<Array<{ path: string; size: number }>> {
  const out: Array<{ path: string; size: number }> = []
  for (const sub of await fs.readdir(join(repo, 'data'))) {
    for (const name of await fs.readdir(join(repo, 'data', sub))) {
      const path = join(repo, 'data', sub, name)
      out.push({ path, size: (await fs.stat(path)).size })
    }
  }
  return out.sort((a, b) => b.size - a.size)
}

describe('cairn check and repair on damaged repositories', { skip }, () => {
  let tmp: string
  let src: string
  let pristine: string
  let first: { id: string; tree: string }
  let second: { id: string; tree: string }
  let caseNo = 0

  before(async () => {
    tmp = await fs.mkdtemp(join(tmpdir(), 'cairn-check-'))
    src = join(tmp, 'src')
    pristine = join(tmp, 'pristine')
    await fs.mkdir(join(src, 'sub'), { recursive: true })
    await fs.writeFile(join(src, 'big.bin'), randomBytes(800_000))
    await fs.writeFile(join(src, 'a.txt'), 'version one\n')
    await fs.writeFile(join(src, 'sub', 'c.txt'), 'unchanged\n')
    // a weak key makes every open fast for both programs
    await Repository.init(new LocalBackend(pristine), password, { scrypt: WEAK_SCRYPT, polynomial: TEST_POLYNOMIAL })
    assert.equal((await cairn(pristine, 'backup', '-q', src)).code, 0)
    await fs.writeFile(join(src, 'a.txt'), 'version two\n')
    assert.equal((await cairn(pristine, 'backup', '-q', src)).code, 0)
    const list = JSON.parse((await cairn(pristine, 'snapshots', '--json')).stdout) as Array<{ id: string; tree: string }>
    assert.equal(list.length, 2)
    ;[first, second] = list
  })
  after(() => fs.rm(tmp, { recursive: true, force: true }))

  /** A fresh copy of the two-snapshot repository. */
  async function copy(): Promise<string> {
    const dir = join(tmp, `case-${++caseNo}`)
    await fs.cp(pristine, dir, { recursive: true })
    return dir
  }

  const big = () => `${src}/big.bin`

  it('takes restic\'s --read-data-subset= (empty: no subset) and --check-unused (ignored), as restic 0.14 does', async () => {
    // Both were refused: "Invalid value for --read-data-subset" and "unknown option".
    const r = await cairn(pristine, 'check', '--read-data-subset=', '--check-unused')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /no errors were found/)
    assert.doesNotMatch(r.stdout, /read data/)
  })

  it('finds one flipped byte with --read-data and names both snapshots and the file', async () => {
    const repo = await copy()
    const pack = (await packFiles(repo))[0]
    const bytes = await fs.readFile(pack.path)
    bytes[Math.floor(bytes.length / 3)] ^= 0x10
    await fs.writeFile(pack.path, bytes)

    const r = await cairn(repo, 'check', '--read-data')
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, /error: pack [0-9a-f]{8}: 1 of its \d+ blobs is damaged \(data [0-9a-f]{8}\) — affects 2 snapshots:/)
    assert.match(r.stderr, new RegExp(`${first.id.slice(0, 8)} \\([^)]+\\): ${big()}\\n`))
    assert.match(r.stderr, new RegExp(`${second.id.slice(0, 8)} \\([^)]+\\): ${big()}\\n`))
    assert.match(r.stderr, /Fatal: repository contains errors\n$/)
    assert.equal((await restic(repo, 'check', '--read-data')).code, 1, 'restic finds it too')
  })

  it('repair packs run again after a run that was cut short takes the copy it saved, and refuses to overwrite a different file', async () => {
    // A second run failed at once: the copy "pack-<ID>" of the first was in the way.
    const repo = await copy()
    const pack = (await packFiles(repo))[0]
    const id = pack.path.split('/').pop()!
    const bytes = await fs.readFile(pack.path)
    bytes[Math.floor(bytes.length / 3)] ^= 0x10
    await fs.writeFile(pack.path, bytes)
    const here = join(tmp, `copies-${caseNo}`)
    await fs.mkdir(here)
    await fs.writeFile(join(here, `pack-${id}`), 'something else')
    const refused = await run(process.execPath, [cairnBin, '-r', repo, 'repair', 'packs', id], {}, here)
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /a different file of that name is there; nothing was changed/)
    assert.ok(existsSync(pack.path), 'the pack is still there')
    await fs.writeFile(join(here, `pack-${id}`), bytes)
    const again = await run(process.execPath, [cairnBin, '-r', repo, 'repair', 'packs', id], {}, here)
    assert.equal(again.code, 0, again.stderr)
    assert.deepEqual(await fs.readFile(join(here, `pack-${id}`)), bytes)
    assert.ok(!existsSync(pack.path), 'the damaged pack was salvaged and removed')
  })

  it('reports a deleted pack; repair index and repair snapshots make restic check --read-data pass', async () => {
    const repo = await copy()
    const pack = (await packFiles(repo))[0]
    await fs.rm(pack.path)
    const r = await cairn(repo, 'check')
    assert.equal(r.code, 1)
    assert.match(r.stderr, /error: pack [0-9a-f]{8}: missing \(the index lists \d+ blobs in it\) — affects 2 snapshots:/)
    // the largest pack is the first backup's data pack: every file of the first snapshot, and the
    // unchanged big.bin and sub/c.txt of the second
    assert.match(r.stderr, new RegExp(`\\n    ${first.id.slice(0, 8)} \\([^)]+\\): ${src}/a.txt, ${big()}, ${src}/sub/c.txt\\n`))
    assert.match(r.stderr, new RegExp(`\\n    ${second.id.slice(0, 8)} \\([^)]+\\): ${big()}, ${src}/sub/c.txt\\n`))
    assert.equal((await restic(repo, 'check')).code, 1, 'restic agrees')

    assert.equal((await cairn(repo, 'repair', 'index')).code, 0)
    const repaired = await cairn(repo, 'repair', 'snapshots', '--forget')
    assert.equal(repaired.code, 0, repaired.stderr)
    assert.ok(repaired.stdout.includes(`file "${big()}": removed missing content`), repaired.stdout)
    assert.match(repaired.stdout, /modified 2 snapshots/)
    assert.equal((await cairn(repo, 'check', '--read-data')).code, 0)
    const rc = await restic(repo, 'check', '--read-data')
    assert.equal(rc.code, 0, rc.stdout + rc.stderr)
    const snaps = JSON.parse((await restic(repo, 'snapshots', '--json')).stdout) as Array<{ original?: string; tags?: string[] }>
    assert.deepEqual(snaps.map((s) => s.original).sort(), [first.id, second.id].sort())
  })

  it('reports the blobs of a deleted index file as missing; repair index makes it whole and restore works', async () => {
    const repo = await copy()
    const r0 = await Repository.open(new LocalBackend(repo), password)
    let victim = ''
    for (const id of await r0.listIds('index')) {
      const index = decodeIndex(await r0.loadUnpacked('index', id))
      if (index.packs.some((p) => p.blobs.some((b) => b.id === first.tree))) victim = id
    }
    assert.ok(victim, 'setup: the first backup has an index file of its own')
    await fs.rm(join(repo, 'index', victim))

    const r = await cairn(repo, 'check')
    assert.equal(r.code, 1)
    // the first snapshot lost its root; the second still reaches big.bin, whose blobs are unindexed now
    assert.match(r.stderr, new RegExp(`error: tree ${first.tree.slice(0, 8)}: missing \\(not in the index\\) — affects 1 snapshot:\\n    ${first.id.slice(0, 8)} \\([^)]+\\): /\\n`))
    assert.match(r.stderr, new RegExp(`error: file "big.bin" in tree [0-9a-f]{8}: \\d+ data blobs? not in the index .*— affects 1 snapshot:\\n    ${second.id.slice(0, 8)} \\([^)]+\\): ${big()}\\n`))
    assert.match(r.stderr, /run "cairn repair index"/)
    assert.equal((await restic(repo, 'check')).code, 1, 'restic agrees')

    const repair = await cairn(repo, 'repair', 'index')
    assert.equal(repair.code, 0, repair.stderr)
    assert.match(repair.stdout, /adding pack file to index [0-9a-f]{64}/)
    const check = await cairn(repo, 'check', '--read-data')
    assert.equal(check.code, 0, check.stderr)
    assert.match(check.stdout, /no errors were found/)
    const rc = await restic(repo, 'check', '--read-data')
    assert.equal(rc.code, 0, rc.stdout + rc.stderr)

    // the first snapshot, whose root had gone, restores as it was backed up
    const target = join(tmp, 'restored')
    const restore = await cairn(repo, 'restore', first.id, '--target', target)
    assert.equal(restore.code, 0, restore.stderr)
    const restored = await readTree(join(target, src))
    assert.deepEqual([...restored.keys()].sort(), ['a.txt', 'big.bin', 'sub/c.txt'])
    assert.deepEqual(restored.get('a.txt'), Buffer.from('version one\n'))
    assert.deepEqual(restored.get('big.bin'), await fs.readFile(big()))
  })

  it('sends a pack with bytes appended to repair packs, not round in circles through repair index', async () => {
    const repo = await copy()
    const pack = (await packFiles(repo))[0]
    await fs.appendFile(pack.path, randomBytes(100))
    const r = await cairn(repo, 'check')
    assert.equal(r.code, 1)
    assert.match(r.stderr, /error: pack [0-9a-f]{8}: unexpected size \d+ bytes, the index expects \d+, and its header cannot be read/)
    const id = pack.path.split('/').pop()!.slice(0, 8)
    assert.match(r.stderr, new RegExp(`To repair: run "cairn repair packs ${id}"`))
    assert.doesNotMatch(r.stderr, /run "cairn repair index"/)
    const repaired = await run(process.execPath, [cairnBin, '-r', repo, 'repair', 'packs', id], {}, tmp)
    assert.equal(repaired.code, 0, repaired.stderr)
    assert.equal((await cairn(repo, 'check', '--read-data')).code, 0)
    const rc = await restic(repo, 'check', '--read-data')
    assert.equal(rc.code, 0, rc.stdout + rc.stderr)
  })

  it('advises repair index --read-all-packs when an index entry disagrees with its pack\'s header (plain repair index changes nothing then)', async () => {
    const repo = await copy()
    const r0 = await Repository.open(new LocalBackend(repo), password)
    let changed = false
    for (const id of await r0.listIds('index')) {
      const index = decodeIndex(await r0.loadUnpacked('index', id))
      const pack = index.packs.find((p) => p.blobs.length > 1 && p.blobs.every((b) => b.type === 'tree'))
      if (pack === undefined || changed) continue
      pack.blobs[0] = { ...pack.blobs[0], type: 'data' }
      await r0.saveUnpacked('index', encodeIndex(index))
      await fs.rm(join(repo, 'index', id))
      changed = true
    }
    await r0.close()
    assert.ok(changed, 'setup: a tree pack with two trees')
    const advice = /The index does not match the packs: run "cairn repair index --read-all-packs"/
    const r = await cairn(repo, 'check', '--read-data')
    assert.equal(r.code, 1)
    assert.match(r.stderr, /header and index disagree/)
    assert.match(r.stderr, advice)
    assert.equal((await cairn(repo, 'repair', 'index', '--read-all-packs')).code, 0)
    const again = await cairn(repo, 'check', '--read-data')
    assert.equal(again.code, 0, again.stderr)
  })

  it('tells what to do about a snapshot whose root tree is in no pack (it printed the error alone)', async () => {
    const repo = await copy()
    const r0 = await Repository.open(new LocalBackend(repo), password)
    const orphan = await r0.saveUnpacked('snapshots', encodeSnapshot({ time: '2025-01-01T00:00:00Z', tree: 'ab'.repeat(32), paths: ['/gone'], hostname: 'h' }))
    await r0.close()
    const r = await cairn(repo, 'check')
    assert.equal(r.code, 1)
    assert.match(r.stderr, /error: tree abababab: missing .*— affects 1 snapshot/)
    assert.match(r.stderr, new RegExp(`Data the snapshots need is not in the repository, and no pack holds it: .*cairn repair snapshots --forget`))
    assert.ok(r.stderr.includes(orphan.slice(0, 8)))
  })

  it('reports a truncated snapshot file by its ID', async () => {
    const repo = await copy()
    const file = join(repo, 'snapshots', first.id)
    const bytes = await fs.readFile(file)
    await fs.writeFile(file, bytes.subarray(0, bytes.length - 7))
    const r = await cairn(repo, 'check')
    assert.equal(r.code, 1)
    assert.match(r.stderr, new RegExp(`error: snapshot ${first.id.slice(0, 8)}: cannot be read \\(.*does not match its name`))
    assert.match(r.stderr, new RegExp(`cannot be read\. Unless a copy .* then remove it: cairn forget ${first.id.slice(0, 8)}`))
    assert.doesNotMatch(r.stderr, new RegExp(second.id.slice(0, 8)))
    assert.equal((await restic(repo, 'check')).code, 1, 'restic agrees')
  })

  it('rebuild-index --read-all-packs on a sound repository keeps it sound for restic', async () => {
    const repo = await copy()
    const before = (await fs.readdir(join(repo, 'index'))).sort()
    const r = await cairn(repo, 'rebuild-index', '--read-all-packs')
    assert.equal(r.code, 0, r.stderr)
    const after = (await fs.readdir(join(repo, 'index'))).sort()
    assert.equal(after.length, 1)
    assert.ok(!before.includes(after[0]))
    const rc = await restic(repo, 'check', '--read-data')
    assert.equal(rc.code, 0, rc.stdout + rc.stderr)
  })

  it('prints a JSON report with --json', async () => {
    const repo = await copy()
    await fs.rm((await packFiles(repo))[0].path)
    const r = await cairn(repo, '--json', 'check')
    assert.equal(r.code, 1)
    // The summary alone on stdout, in snake_case; the problems on stderr, as restic prints them.
    const summary = JSON.parse(r.stdout) as Record<string, unknown>
    assert.equal(summary.message_type, 'summary')
    assert.deepEqual(Object.keys(summary).filter((k) => /[A-Z]/.test(k)), [])
    assert.equal(typeof summary.index_files, 'number')
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
    assert.ok(lines.length > 0)
    assert.equal(summary.num_errors, lines.filter((l) => l.message_type === 'error').length)
    const missing = lines.find((l) => l.kind === 'pack-missing') as { affected: Array<{ id: string; paths: string[] }> }
    assert.deepEqual(
      missing.affected.map((a) => [a.id, a.paths]),
      [
        [first.id, [`${src}/a.txt`, big(), `${src}/sub/c.txt`]],
        [second.id, [big(), `${src}/sub/c.txt`]],
      ],
    )
  })
})
