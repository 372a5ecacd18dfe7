#!/usr/bin/env node
// Load test: `cairn serve rest` against `rclone serve restic` on the same machine, in the same
// run, serving the same directory. A node driver sends restic-style requests with N connections
// at once: POSTs of 4 MiB data files (each with its SHA-256 name), ranged GETs of packs, HEADs and
// v2 lists, and prints throughput and latency percentiles per server and the ratio.
//
// Usage: node scripts/bench-server.mjs [--dist DIR] [--dir DIR] [--concurrency 8] [--uploads 48]
//        [--reads 1500] [--heads 1500] [--lists 60] [--rounds 2] [--json]
// --dist is the tsc output holding src/cli/main.js (default: dist/ of this checkout); --dir is
// where the served directory is made (default: the system temp dir; /dev/shm takes fsync out of
// the picture: cairn fsyncs every upload, rclone 1.60 does not). Each server gets a warm-up pass
// of every phase first; rounds alternate the order of the servers.
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { createServer } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

const { values: opt } = parseArgs({
  options: {
    dist: { type: 'string', default: resolve(new URL('..', import.meta.url).pathname, 'dist') },
    dir: { type: 'string', default: tmpdir() },
    concurrency: { type: 'string', default: '8' },
    uploads: { type: 'string', default: '48' },
    reads: { type: 'string', default: '1500' },
    heads: { type: 'string', default: '1500' },
    lists: { type: 'string', default: '60' },
    rounds: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  },
})
const CONC = Number(opt.concurrency)
const UPLOADS = Number(opt.uploads)
const READS = Number(opt.reads)
const HEADS = Number(opt.heads)
const LISTS = Number(opt.lists)
const ROUNDS = Number(opt.rounds)
const MiB = 1024 * 1024
const PACK = 4 * MiB
const SHARED_PACKS = 32
const SHARED_SMALL = 400
const V2 = 'application/vnd.x.restic.rest.v2'

const children = []
const root = await mkdtemp(join(opt.dir, 'cairn-bench-server-'))
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')))

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
    s.on('error', rej)
  })
}

async function startCairn() {
  const child = spawn(process.execPath, [join(opt.dist, 'src/cli/main.js'), 'serve', 'rest', '--path', root, '--no-auth', '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, UV_THREADPOOL_SIZE: '16' },
  })
  children.push(child)
  let out = ''
  let err = ''
  child.stderr.on('data', (c) => (err += c))
  const url = await new Promise((res, rej) => {
    child.stdout.on('data', (c) => {
      out += c
      const m = /Listening on (\S+)/.exec(out)
      if (m) res(m[1])
    })
    child.on('exit', (code) => rej(new Error(`cairn serve rest exited with ${code}: ${err}`)))
  })
  return { name: 'cairn serve rest', url, child }
}

async function startRclone() {
  const port = await freePort()
  const child = spawn('rclone', ['serve', 'restic', '--addr', `127.0.0.1:${port}`, root], { stdio: ['ignore', 'ignore', 'pipe'] })
  children.push(child)
  let err = ''
  child.stderr.on('data', (c) => (err += c))
  const url = `http://127.0.0.1:${port}/`
  for (let i = 0; i < 200; i++) {
    const ok = await call({ url }, 'GET', '/shared/keys/', { headers: { Accept: V2 } }).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ok) return { name: 'rclone serve restic', url, child }
    if (child.exitCode !== null) throw new Error(`rclone serve restic exited: ${err}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`rclone serve restic did not start: ${err}`)
}

const agents = new Map()
function call(server, method, path, { headers = {}, body } = {}) {
  let agent = agents.get(server.url)
  if (!agent) agents.set(server.url, (agent = new Agent({ keepAlive: true, maxSockets: CONC })))
  const u = new URL(server.url)
  return new Promise((res, rej) => {
    const t0 = performance.now()
    const h = { ...headers }
    if (body) {
      h['Content-Length'] = body.length
      h['Content-Type'] = 'application/octet-stream'
    }
    const req = request({ host: u.hostname, port: u.port, method, path, headers: h, agent }, (resp) => {
      let n = 0
      const chunks = []
      resp.on('data', (c) => {
        n += c.length
        if (method === 'GET' && path.endsWith('/')) chunks.push(c)
      })
      resp.on('end', () => res({ status: resp.statusCode, bytes: n, ms: performance.now() - t0, body: Buffer.concat(chunks) }))
      resp.on('error', rej)
    })
    req.on('error', rej)
    req.end(body)
  })
}

/** Runs `jobs` (functions returning a request promise) with CONC in flight; returns stats. */
async function drive(server, jobs, check) {
  const lat = []
  let bytes = 0
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++]
        const r = await job()
        const problem = check(r)
        if (problem) throw new Error(`${server.name}: ${problem}`)
        lat.push(r.ms)
        bytes += r.sent ?? r.bytes
      }
    }),
  )
  const seconds = (performance.now() - t0) / 1000
  lat.sort((a, b) => a - b)
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]
  return { requests: lat.length, seconds, reqPerSec: lat.length / seconds, mibPerSec: bytes / MiB / seconds, p50: pct(50), p95: pct(95), p99: pct(99) }
}

function sha(b) {
  return createHash('sha256').update(b).digest('hex')
}

// Data: distinct 4 MiB packs for uploads (reused per repository), and a shared repository to read.
const uploads = Array.from({ length: UPLOADS }, () => {
  const data = randomBytes(PACK)
  return { data, id: sha(data) }
})

async function populateShared(server) {
  await call(server, 'POST', '/shared/?create=true')
  const packs = []
  for (let i = 0; i < SHARED_PACKS; i++) {
    const data = randomBytes(PACK + i * 4099)
    const id = sha(data)
    const r = await call(server, 'POST', `/shared/data/${id}`, { body: data })
    if (r.status !== 200) throw new Error(`populate: ${r.status}`)
    packs.push({ id, size: data.length })
  }
  for (let i = 0; i < SHARED_SMALL; i++) {
    const data = randomBytes(200 + i)
    const r = await call(server, 'POST', `/shared/index/${sha(data)}`, { body: data })
    if (r.status !== 200) throw new Error(`populate: ${r.status}`)
  }
  return packs
}

function rng(seed) {
  let s = seed >>> 0
  return () => ((s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0) / 2 ** 32)
}

async function runPhases(server, packs, round, scale = 1) {
  const repo = `/w-${server.name.split(' ')[0]}-${round}/`
  const n = (x) => Math.max(1, Math.round(x * scale))
  const created = await call(server, 'POST', `${repo}?create=true`)
  if (created.status !== 200) throw new Error(`${server.name}: create ${created.status}`)
  const results = {}
  results.upload = await drive(
    server,
    uploads.slice(0, n(uploads.length)).map(({ data, id }) => () => call(server, 'POST', `${repo}data/${id}`, { body: data, headers: { Accept: V2 } }).then((r) => ({ ...r, sent: data.length }))),
    (r) => (r.status === 200 ? undefined : `upload answered ${r.status}`),
  )
  const rand = rng(1234 + round)
  results.rangedGet = await drive(
    server,
    Array.from({ length: n(READS) }, () => {
      const p = packs[Math.floor(rand() * packs.length)]
      const len = 16 * 1024 + Math.floor(rand() * 496 * 1024)
      const off = Math.floor(rand() * (p.size - len))
      return () => call(server, 'GET', `/shared/data/${p.id}`, { headers: { Accept: V2, Range: `bytes=${off}-${off + len - 1}` } }).then((r) => ({ ...r, want: len }))
    }),
    (r) => (r.status === 206 && r.bytes === r.want ? undefined : `ranged GET answered ${r.status} with ${r.bytes} of ${r.want} bytes`),
  )
  results.head = await drive(
    server,
    Array.from({ length: n(HEADS) }, () => {
      const p = packs[Math.floor(rand() * packs.length)]
      return () => call(server, 'HEAD', `/shared/data/${p.id}`, { headers: { Accept: V2 } })
    }),
    (r) => (r.status === 200 ? undefined : `HEAD answered ${r.status}`),
  )
  results.list = await drive(
    server,
    Array.from({ length: n(LISTS) }, (_, i) => () => call(server, 'GET', i % 2 === 0 ? '/shared/data/' : '/shared/index/', { headers: { Accept: V2 } })),
    (r) => {
      if (r.status !== 200) return `list answered ${r.status}`
      const n = JSON.parse(r.body.toString()).length
      return n === SHARED_PACKS || n === SHARED_SMALL ? undefined : `list has ${n} entries`
    },
  )
  return results
}

function mean(list, key) {
  return list.reduce((a, r) => a + r[key], 0) / list.length
}

const cairnServer = await startCairn()
const packs = await populateShared(cairnServer)
const rcloneServer = await startRclone()
const servers = [cairnServer, rcloneServer]
const raw = { [cairnServer.name]: [], [rcloneServer.name]: [] }
const loadBefore = loadavg()[0]
for (const s of servers) await runPhases(s, packs, 'warmup', 0.25)
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? servers : [...servers].reverse()
  for (const s of order) raw[s.name].push(await runPhases(s, packs, round))
}
const phases = ['upload', 'rangedGet', 'head', 'list']
const summary = {}
for (const s of servers) {
  summary[s.name] = {}
  for (const ph of phases) {
    const runs = raw[s.name].map((r) => r[ph])
    summary[s.name][ph] = Object.fromEntries(['requests', 'seconds', 'reqPerSec', 'mibPerSec', 'p50', 'p95', 'p99'].map((k) => [k, mean(runs, k)]))
  }
}
// wrk (Debian's package), when installed: an independent load generator for the read path, 64 KiB
// ranged GETs of one pack with 8 connections for 8 s against each server.
async function runWrk(server, pack) {
  const args = ['-t2', `-c${CONC}`, '-d8s', '--latency', '-H', `Accept: ${V2}`, '-H', 'Range: bytes=65536-131071', new URL(`shared/data/${pack.id}`, server.url).href]
  const out = await new Promise((res) => {
    const c = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'ignore'] })
    let o = ''
    c.stdout.on('data', (d) => (o += d))
    c.on('error', () => res(''))
    c.on('exit', () => res(o))
  })
  const ms = (re) => {
    const m = re.exec(out)
    if (!m) return NaN
    return Number(m[1]) * (m[2] === 's' ? 1000 : m[2] === 'us' ? 0.001 : 1)
  }
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)
  return rps ? { reqPerSec: Number(rps[1]), p50: ms(/50%\s+([\d.]+)(us|ms|s)/), p99: ms(/99%\s+([\d.]+)(us|ms|s)/) } : undefined
}
const wrk = {}
for (const s of servers) {
  const r = await runWrk(s, packs[0])
  if (r) wrk[s.name] = r
}

const rcloneVersion = await new Promise((res) => {
  const c = spawn('rclone', ['version'], { stdio: ['ignore', 'pipe', 'ignore'] })
  let o = ''
  c.stdout.on('data', (d) => (o += d))
  c.on('exit', () => res(o.split('\n')[0]))
})
for (const c of children) c.kill('SIGTERM')
await new Promise((r) => setTimeout(r, 500))
await rm(root, { recursive: true, force: true })

const ratios = Object.fromEntries(
  phases.map((ph) => {
    const a = summary[cairnServer.name][ph]
    const b = summary[rcloneServer.name][ph]
    return [ph, { throughput: a.reqPerSec / b.reqPerSec, p50: a.p50 / b.p50, p95: a.p95 / b.p95 }]
  }),
)
const meta = { dir: opt.dir, loadAverage: [loadBefore, loadavg()[0]].map((l) => Number(l.toFixed(2))), cpus: cpus().length, node: process.version, rclone: rcloneVersion, concurrency: CONC, rounds: ROUNDS, uploads: `${UPLOADS} × 4 MiB`, reads: `${READS} ranged GETs of 16–512 KiB from ${SHARED_PACKS} packs`, heads: HEADS, lists: `${LISTS} v2 lists (${SHARED_PACKS} and ${SHARED_SMALL} entries)` }
if (opt.json) {
  console.log(JSON.stringify({ meta, summary, ratios, wrk }, null, 2))
} else {
  console.log(`REST server load test: ${meta.cpus} CPUs (load average ${meta.loadAverage.join(' → ')}), node ${meta.node}, ${meta.rclone}; ${CONC} connections, ${ROUNDS} rounds after a warm-up (order alternated), driver in this process; served directory in ${meta.dir}`)
  console.log(`workload: ${meta.uploads} uploads; ${meta.reads}; ${meta.heads} HEADs; ${meta.lists}\n`)
  const f = (n, d = 1) => n.toFixed(d).padStart(9)
  console.log(`${'phase'.padEnd(11)}${'server'.padEnd(22)}${'req/s'.padStart(9)}${'MiB/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}${'p99 ms'.padStart(9)}`)
  for (const ph of phases) {
    for (const s of servers) {
      const r = summary[s.name][ph]
      console.log(`${ph.padEnd(11)}${s.name.padEnd(22)}${f(r.reqPerSec)}${f(r.mibPerSec)}${f(r.p50, 2)}${f(r.p95, 2)}${f(r.p99, 2)}`)
    }
  }
  console.log('\ncairn / rclone (throughput > 1 and latency < 1 favour cairn):')
  for (const ph of phases) console.log(`  ${ph.padEnd(10)} throughput ×${ratios[ph].throughput.toFixed(2)}   p50 latency ×${ratios[ph].p50.toFixed(2)}   p95 latency ×${ratios[ph].p95.toFixed(2)}`)
  const w = Object.entries(wrk)
  if (w.length === 2) {
    console.log(`\nwrk, ${CONC} connections, 8 s of 64 KiB ranged GETs:`)
    for (const [name, r] of w) console.log(`  ${name.padEnd(22)}${f(r.reqPerSec)} req/s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms`)
    const [a, b] = w.map(([, r]) => r)
    console.log(`  cairn / rclone: throughput ×${(a.reqPerSec / b.reqPerSec).toFixed(2)}   p50 latency ×${(a.p50 / b.p50).toFixed(2)}`)
  } else console.log('\n(wrk not installed: apt-get install wrk adds an independent read-path measurement)')
}
process.exit(0)
