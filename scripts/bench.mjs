// cairn against restic on the same generated data, in one run: wall time and peak memory of
// each step, and the ratio cairn ÷ restic (below 1 is better). Not a test: nothing is asserted.
//
//   npm run bench                      # about 300 MiB of data, 3 rounds, several minutes
//   BENCH_ROUNDS=1 npm run bench       # one round (each cell then a single, noisier run)
//   BENCH_SCALE=4 npm run bench        # four times the data
//   BENCH_DIR=/mnt/fast npm run bench  # where data, repositories and restores go
//   BENCH_INDEX_BLOBS=0 npm run bench  # skip the in-memory index measurement (default 2 million blobs)
//
// Data: a tree of small files (text-like, compressible) and a few large files (random,
// compressible, zeros, and a shifted copy that only content-defined chunking deduplicates).
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const scale = Number(process.env.BENCH_SCALE ?? 1)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`BENCH_ROUNDS must be a whole number of at least 1, not "${process.env.BENCH_ROUNDS}"`)
  process.exit(2)
}
const work = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'cairn-bench-'))
const password = 'bench'
const env = { ...process.env, CAIRN_PASSWORD: password, RESTIC_PASSWORD: password }

function stream(seed, n) {
  // Deterministic bytes: SHA-256 in counter mode (incompressible).
  const out = Buffer.allocUnsafe(n)
  for (let i = 0, off = 0; off < n; i++, off += 32) {
    createHash('sha256').update(`${seed}-${i}`).digest().copy(out, off, 0, Math.min(32, n - off))
  }
  return out
}

function text(seed, n) {
  const words = ['backup', 'restore', 'chunk', 'index', 'snapshot', 'tree', 'pack', 'blob', 'key', 'lock', 'cairn', 'restic']
  const r = stream(seed, Math.ceil(n / 6) + 16)
  let s = ''
  for (let i = 0; s.length < n; i++) s += words[r[i % r.length] % words.length] + (r[(i + 7) % r.length] % 9 === 0 ? '\n' : ' ')
  return Buffer.from(s.slice(0, n))
}

function makeData(dir) {
  const small = join(dir, 'small')
  let files = 0
  const dirs = Math.round(40 * scale)
  for (let d = 0; d < dirs; d++) {
    const sub = join(small, `dir-${d}`, `nested-${d % 7}`)
    mkdirSync(sub, { recursive: true })
    for (let f = 0; f < 250; f++) {
      const size = 200 + ((d * 251 + f * 97) % 24000)
      writeFileSync(join(sub, `file-${f}.txt`), text(`${d}-${f}`, size))
      files++
    }
  }
  const large = join(dir, 'large')
  mkdirSync(large, { recursive: true })
  const mib = 1024 * 1024
  const random = stream('random', Math.round(64 * scale) * mib)
  writeFileSync(join(large, 'random.bin'), random)
  writeFileSync(join(large, 'shifted.bin'), Buffer.concat([Buffer.from('header'), random.subarray(0, Math.round(32 * scale) * mib)]))
  writeFileSync(join(large, 'text.log'), text('log', Math.round(48 * scale) * mib))
  writeFileSync(join(large, 'zeros.img'), Buffer.alloc(Math.round(32 * scale) * mib))
  return { files: files + 4 }
}

function mutate(dir) {
  appendFileSync(join(dir, 'large', 'text.log'), 'one more line\n')
  writeFileSync(join(dir, 'small', 'dir-0', 'nested-0', 'file-0.txt'), text('changed', 5000))
  writeFileSync(join(dir, 'small', 'new-file.txt'), text('new', 9000))
}

function run(tool, args, cwd) {
  // Neither tool keeps a local cache: restic's would land in the user's cache folder, and the
  // two should do the same work (cairn's cache copies tree packs and index files as it writes).
  const cmd = tool === 'cairn' ? [process.execPath, join(root, 'bin/cairn.js'), '--no-cache'] : ['restic', '--no-cache']
  const t = process.hrtime.bigint()
  const r = spawnSync('/usr/bin/time', ['-f', '%M', ...cmd, ...args], { cwd, env, encoding: 'utf8', maxBuffer: 1 << 26 })
  const seconds = Number(process.hrtime.bigint() - t) / 1e9
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-500)}`)
  const rssKiB = Number(r.stderr.trim().split('\n').at(-1))
  return { seconds, rssMiB: rssKiB / 1024 }
}

function du(path) {
  const r = spawnSync('du', ['-sb', path], { encoding: 'utf8' })
  return Number(r.stdout.split('\t')[0]) / 1024 / 1024
}

/** Blobs in the synthetic index of the index-memory measurement (0 skips it). */
const indexBlobs = Number(process.env.BENCH_INDEX_BLOBS ?? 2_000_000)

/**
 * Memory of the in-memory index, in bytes per indexed blob, for both tools. A repository gets
 * index files listing `n` blobs (random IDs, in packs that do not exist: loading an index never
 * opens packs). `stats` loads the whole index and, with no snapshots, does nothing else; its peak
 * RSS on that repository minus its peak RSS on an empty one, divided by `n`, is what each blob
 * costs.
 */
async function indexMemory(n) {
  const { Repository, IndexFileBuilder } = await import(join(root, 'dist/src/repository/index.js'))
  const { LocalBackend } = await import(join(root, 'dist/src/backends/index.js'))
  const empty = join(work, 'index-empty')
  const full = join(work, 'index-full')
  for (const repo of [empty, full]) run('cairn', ['-r', repo, 'init'])
  const repo = await Repository.open(new LocalBackend(full), password)
  const perPack = 1000
  const perFile = 150_000
  const started = process.hrtime.bigint()
  for (let done = 0; done < n; ) {
    const file = new IndexFileBuilder(repo.version)
    while (file.blobCount < perFile && done < n) {
      const count = Math.min(perPack, n - done)
      const blobs = []
      for (let i = 0, offset = 0; i < count; i++, offset += 4000) {
        blobs.push({ type: i % 50 === 0 ? 'tree' : 'data', id: randomBytes(32).toString('hex'), offset, length: 4000, uncompressedLength: 9000 })
      }
      file.add({ id: randomBytes(32).toString('hex'), blobs })
      done += count
    }
    await repo.saveFramedUnpacked('index', file.finish())
  }
  await repo.close()
  const made = Number(process.hrtime.bigint() - started) / 1e9
  const peak = (tool, path) => run(tool, ['-r', path, 'stats']).rssMiB
  const lines = [
    `In-memory index: ${n.toLocaleString('en')} blobs in ${Math.ceil(n / perFile)} index files (written in ${made.toFixed(1)} s); peak RSS of \`stats\` (loads the index, no snapshots)`,
    '',
    '| tool | empty repository (MiB) | with the index (MiB) | bytes per blob |',
    '|---|---:|---:|---:|',
  ]
  const per = {}
  for (const tool of ['restic', 'cairn']) {
    const base = peak(tool, empty)
    const loaded = peak(tool, full)
    per[tool] = ((loaded - base) * 1024 * 1024) / n
    lines.push(`| ${tool} | ${base.toFixed(0)} | ${loaded.toFixed(0)} | ${per[tool].toFixed(0)} |`)
  }
  lines.push('', `cairn ÷ restic, bytes per indexed blob: ${(per.cairn / per.restic).toFixed(2)}`)
  return lines.join('\n')
}

const hasRestic = spawnSync('restic', ['version']).status === 0
if (!hasRestic) {
  console.error('restic is not installed: the benchmark compares against it (apt-get install restic)')
  process.exit(1)
}
const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' })
if (build.status !== 0) process.exit(1)

try {
  console.error(`generating data in ${work} (scale ${scale}) …`)
  const data = join(work, 'data')
  const info = makeData(data)
  const steps = ['init', 'backup', 'no-change', 'incremental', 'restore', 'check --read-data']
  const runs = { restic: [], cairn: [] }
  for (let round = 0; round < rounds; round++) {
    // The tools take turns going first, so neither always meets a machine the other warmed up.
    for (const tool of round % 2 === 0 ? ['restic', 'cairn'] : ['cairn', 'restic']) {
      // Same starting point for both tools: regenerate the mutated files.
      rmSync(data, { recursive: true, force: true })
      makeData(data)
      spawnSync('sh', ['-c', `cat $(find ${data} -type f) > /dev/null`]) // warm the page cache
      const repo = join(work, `repo-${tool}`)
      const target = join(work, `restore-${tool}`)
      rmSync(repo, { recursive: true, force: true })
      const r = {}
      r.init = run(tool, ['-r', repo, 'init'])
      r.backup = run(tool, ['-r', repo, 'backup', '.'], data)
      r['no-change'] = run(tool, ['-r', repo, 'backup', '.'], data)
      mutate(data)
      r.incremental = run(tool, ['-r', repo, 'backup', '.'], data)
      r.restore = run(tool, ['-r', repo, 'restore', 'latest', '--target', target])
      r['check --read-data'] = run(tool, ['-r', repo, 'check', '--read-data'])
      r.size = du(repo)
      runs[tool].push(r)
      rmSync(target, { recursive: true, force: true })
      console.error(`round ${round + 1} of ${rounds}: ${tool} done`)
    }
  }
  // Each cell is the median over the rounds.
  const median = (values) => {
    const v = [...values].sort((a, b) => a - b)
    return v.length % 2 === 1 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
  }
  const results = {}
  for (const tool of ['restic', 'cairn']) {
    results[tool] = { size: median(runs[tool].map((r) => r.size)) }
    for (const step of steps) {
      results[tool][step] = {
        seconds: median(runs[tool].map((r) => r[step].seconds)),
        rssMiB: median(runs[tool].map((r) => r[step].rssMiB)),
      }
    }
  }
  const row = (name, f) => `| ${name} | ${f('restic')} | ${f('cairn')} | ${(Number(f('cairn')) / Number(f('restic'))).toFixed(2)} |`
  const lines = [
    `cairn vs restic on ${info.files} files (${du(data).toFixed(0)} MiB), ${new Date().toISOString()}; medians of ${rounds} round${rounds === 1 ? '' : 's'}`,
    '',
    '| step | restic | cairn | cairn ÷ restic |',
    '|---|---:|---:|---:|',
    ...steps.map((s) => row(`${s} (s)`, (t) => results[t][s].seconds.toFixed(2))),
    row('backup peak RSS (MiB)', (t) => results[t].backup.rssMiB.toFixed(0)),
    row('restore peak RSS (MiB)', (t) => results[t].restore.rssMiB.toFixed(0)),
    row('repository size (MiB)', (t) => results[t].size.toFixed(1)),
  ]
  console.log(lines.join('\n'))
  if (indexBlobs > 0) console.log('\n' + (await indexMemory(indexBlobs)))
} finally {
  rmSync(work, { recursive: true, force: true })
}
