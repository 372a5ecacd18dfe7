/**
 * Path traversal: crafted request targets (`..`, encoded slashes and dots, backslashes, NUL,
 * absolute forms, odd object names, too many segments) sent raw, byte for byte, to the CLI server
 * with valid credentials. Every one must be refused (400/404), and the server must neither create
 * nor read anything outside --path: the tree beside it is compared before and after, and when
 * strace works here every file-system call of the server process is checked.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { makeTempRoot, needs, straceAvailable, type TempRoot } from '../../../test/helpers/index.js'
import { basic, idOf, rawRequest, shaHash, spawnServer, type ServerProcess } from '../testing.js'

const skip = await needs('cairn')
const ID = idOf('outside object')
const OK_ID = idOf('inside object')

/** Targets that must never reach a file. `outside` is a repository next to --path. */
const CRAFTED: string[] = [
  '/../outside/config',
  '/../outside/',
  '/..%2foutside%2fconfig',
  '/..%2Foutside/config',
  '/%2e%2e/outside/config',
  '/%2E%2E/outside/config',
  '/%2e%2e%2foutside%2fconfig',
  '/.%2e/outside/config',
  '/alice/../../outside/config',
  '/alice/%2e%2e/%2e%2e/outside/config',
  '/alice%2f..%2f..%2foutside/config',
  `/alice/data/../../outside/data/${ID}`,
  `/alice/data/..%2f..%2f..%2foutside%2fdata%2f${ID}`,
  '/alice/keys/..',
  '/alice/keys/%2e%2e',
  '/alice/keys/../config',
  '/./alice/config',
  '/alice/./config',
  '//outside/config',
  '//etc/passwd',
  '/alice//config',
  '/%2foutside/config',
  '/%2Fetc%2Fpasswd',
  '/alice%00/config',
  `/alice/keys/${OK_ID}%00`,
  `/alice/keys/${OK_ID.slice(0, 63)}%00`,
  '/alice\\..\\..\\outside/config',
  '/alice%5c..%5c..%5coutside/config',
  '/.htpasswd',
  '/.htpasswd/config',
  '/%2ehtpasswd',
  '/alice/..%252f..%252foutside/config',
  '/%252e%252e/outside/config',
  '/alice/%c0%ae%c0%ae/config',
  '/alice/..;/config',
  '/alice/.git/config',
  '/a/b/c/config',
  '/alice/laptop/extra/config',
  `/alice/data/${OK_ID.slice(0, 63)}`,
  `/alice/data/${OK_ID}0`,
  `/alice/data/${OK_ID.toUpperCase()}`,
  `/alice/data/${OK_ID}/`,
  `/alice/data/${OK_ID.slice(0, 2)}/${OK_ID}`,
  `/alice/index/${'g'.repeat(64)}`,
  `/alice/snapshots/${OK_ID}%2f..`,
  `/alice/locks/..%2f..%2f..%2foutside%2flocks%2f${ID}`,
  '/alice/config/../../outside/config',
  '/alice/%2e/config',
  '/~root/config',
  '/alice/data/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  `http://127.0.0.1/../outside/data/${ID}`,
  '*',
  '/alice/con\u0000fig',
  '/alice/ config',
]

/** Every file below `dir` with its size, mtime and content hash. */
async function snapshotTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      const st = await lstat(p)
      if (e.isDirectory()) {
        out.set(p, `dir ${st.mtimeMs}`)
        await walk(p)
      } else {
        out.set(p, `${st.size} ${st.mtimeMs} ${st.ctimeMs} ${createHash('sha256').update(await readFile(p)).digest('hex')}`)
      }
    }
  }
  await walk(dir)
  return out
}

describe('crafted paths never reach outside --path', { skip }, () => {
  let tmp: TempRoot
  let served: string
  let outside: string
  let server: ServerProcess
  let traceFile: string | undefined
  let before1: Map<string, string>
  let topBefore: string[]
  const auth = { Authorization: basic('alice', 'pw') }

  before(async () => {
    tmp = await makeTempRoot('server-traversal')
    served = await tmp.dir('served')
    outside = await tmp.dir('outside')
    // A repository beside --path that traversal would aim at.
    for (const d of ['keys', 'locks', 'snapshots', 'index', `data/${ID.slice(0, 2)}`]) await mkdir(join(outside, d), { recursive: true })
    await writeFile(join(outside, 'config'), 'outside config')
    await writeFile(join(outside, 'data', ID.slice(0, 2), ID), 'outside object')
    await writeFile(join(outside, 'locks', ID), 'outside object')
    await writeFile(join(served, '.htpasswd'), `alice:${shaHash('pw')}\n`)
    topBefore = (await readdir(tmp.path)).sort()
    before1 = await snapshotTree(outside)
    const args = ['--path', served, '--listen', '127.0.0.1:0']
    if (await straceAvailable()) {
      traceFile = join(tmp.path, 'server.trace')
      server = await spawnServer(args, { wrapper: ['strace', '-f', '-qq', '-s', '4096', '-e', 'trace=%file', '-o', traceFile] })
    } else {
      server = await spawnServer(args)
    }
    // A real repository inside --path, so valid neighbours of the crafted names exist.
    assert.equal((await rawRequest(server.url, 'POST', '/alice/?create=true', { headers: auth })).status, 200)
    assert.equal((await rawRequest(server.url, 'POST', `/alice/keys/${OK_ID}`, { headers: auth, body: 'inside object' })).status, 200)
  })
  after(async () => {
    await server?.stop()
    await tmp?.cleanup()
  })

  test(`${CRAFTED.length} crafted targets, each with GET, HEAD, POST and DELETE, are all refused with 400 or 404`, async () => {
    assert.ok(CRAFTED.length >= 30)
    const results: string[] = []
    for (const target of CRAFTED) {
      for (const method of ['GET', 'HEAD', 'POST', 'DELETE']) {
        const body = method === 'POST' ? 'outside object' : undefined
        let status: number
        try {
          status = (await rawRequest(server.url, method, target, { headers: auth, body })).status
        } catch (err) {
          // Node's HTTP parser may drop a request line it cannot parse: that is a refusal too.
          status = /ECONNRESET|incomplete response/.test(String(err)) ? 400 : -1
        }
        if (status !== 400 && status !== 404) results.push(`${method} ${JSON.stringify(target)} → ${status}`)
      }
    }
    assert.deepEqual(results, [], 'every crafted target is refused')
    // The server still works, and the valid object is intact.
    const ok = await rawRequest(server.url, 'GET', `/alice/keys/${OK_ID}`, { headers: auth })
    assert.equal(ok.body.toString(), 'inside object')
  })

  test('a file of the served folder used as a repository path is 404, as a name that does not exist (it was 500)', async () => {
    // A 500 told whoever asked which files the folder holds (its TLS key, a users file).
    await writeFile(join(served, 'private_key'), 'a key')
    try {
      for (const method of ['GET', 'HEAD']) {
        for (const target of ['/private_key/config', `/private_key/keys/${OK_ID}`, '/nothing-here/config']) {
          const r = await rawRequest(server.url, method, target, { headers: auth })
          assert.equal(r.status, 404, `${method} ${target}`)
        }
      }
    } finally {
      await rm(join(served, 'private_key'))
    }
  })

  test('nothing outside --path was created, changed or read', async () => {
    assert.deepEqual((await readdir(tmp.path)).filter((n) => n !== 'server.trace').sort(), topBefore.filter((n) => n !== 'server.trace'))
    assert.deepEqual(await snapshotTree(outside), before1)
    const inside = (await readdir(served)).sort()
    assert.deepEqual(inside, ['.htpasswd', 'alice'])
    if (traceFile === undefined) return
    await server.stop()
    const trace = await readFile(traceFile, 'utf8')
    assert.ok(trace.includes(served), 'the trace saw the server work inside --path')
    const bad = trace
      .split('\n')
      .filter((line) => /"([^"]*)"/.test(line))
      .filter((line) => {
        const paths = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1])
        return paths.some((p) => p.includes(outside) || p.includes('/../') || p.endsWith('/..') || (p.startsWith(tmp.path) && !p.startsWith(served) && !p.startsWith(traceFile!)))
      })
    assert.deepEqual(bad, [], 'no file-system call of the server named a path outside --path')
  })
})
