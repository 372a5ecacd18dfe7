/**
 * The real restic 0.14 against `cairn serve rest` on 127.0.0.1: the whole cycle (init, backup,
 * snapshots, check --read-data, restore to an identical tree, forget --prune), append-only,
 * private repositories and per-user access levels, refused credentials, several restic clients
 * backing up at once, and TLS with a CA made by openssl.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { after, before, describe, test } from 'node:test'
import {
  cairn,
  compareTrees,
  makeFixtureTree,
  makeLargeTree,
  makeTempRoot,
  needs,
  randomBytes,
  restic,
  resticCheck,
  resticSnapshotIds,
  type FixtureInfo,
  type TempRoot,
} from '../../test/helpers/index.js'
import type { RunningRestServer } from './serve-rest.js'
import { basic, quickHash, rawRequest, restUrl, shaHash, startTestServer } from './testing.js'

const execFileP = promisify(execFile)
const skip = await needs('restic')
const password = 'restic over cairn serve rest'

let tmp: TempRoot
let info: FixtureInfo
before(async () => {
  tmp = await makeTempRoot('server-restic')
  if (!skip) info = await makeFixtureTree(join(tmp.path, 'src'))
})
after(() => tmp?.cleanup())

/** Snapshot IDs listed by restic, which must succeed. */
async function snapshotIds(repo: string, extra: string[] = []): Promise<string[]> {
  const r = await restic([...extra, 'snapshots', '--json'], { repo, password })
  assert.equal(r.code, 0, r.stderr)
  return (JSON.parse(r.stdout) as { id: string }[]).map((s) => s.id)
}

describe('restic: the whole cycle against a private repository', { skip }, () => {
  let server: RunningRestServer
  let repo: string
  let root: string
  before(async () => {
    root = await tmp.dir('cycle')
    const usersFile = join(tmp.path, 'cycle-users.yaml')
    await writeFile(usersFile, `users:\n  alice: { password: "${quickHash('alice pw')}" }\n  bob: { password: "${shaHash('bob pw')}" }\n`)
    server = await startTestServer({ path: root, usersFile, privateRepos: true })
    repo = restUrl(server.url, '/alice/main/', 'alice', 'alice pw')
  })
  after(() => server?.close())

  test('init, two backups, snapshots, check --read-data', async () => {
    const init = await restic(['init'], { repo, password })
    assert.equal(init.code, 0, init.stderr)
    // The same directory is a restic local repository.
    assert.ok((await readdir(join(root, 'alice', 'main'))).includes('config'))
    for (let i = 0; i < 2; i++) {
      const b = await restic(['backup', '--host', 'h', info.root], { repo, password })
      assert.equal(b.code, 0, b.stderr)
    }
    assert.equal((await snapshotIds(repo)).length, 2)
    const check = await resticCheck(repo, password, true)
    assert.equal(check.code, 0, check.stdout + check.stderr)
    assert.match(check.stdout, /no errors were found/)
    const local = await resticCheck(join(root, 'alice', 'main'), password, false)
    assert.equal(local.code, 0, 'the served directory is also a valid local repository')
  })

  test('restore gives a tree identical to the source', async () => {
    const [id] = await snapshotIds(repo)
    const target = await tmp.dir('cycle-restore')
    const r = await restic(['restore', id, '--target', target], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(await compareTrees(info.root, join(target, info.root), { mtimeToleranceNs: 0 }), [])
  })

  test('forget --prune removes a snapshot and its unused data; the repository stays clean', async () => {
    await writeFile(join(info.root, 'only-in-third.bin'), randomBytes('third', 3 * 1024 * 1024))
    const b = await restic(['backup', '--host', 'h', info.root], { repo, password })
    assert.equal(b.code, 0, b.stderr)
    const packsBefore = (await readdir(join(root, 'alice', 'main', 'data'), { recursive: true })).length
    const f = await restic(['forget', '--keep-last', '1', '--prune'], { repo, password })
    assert.equal(f.code, 0, f.stderr)
    assert.equal((await snapshotIds(repo)).length, 1)
    const check = await resticCheck(repo, password, true)
    assert.equal(check.code, 0, check.stdout + check.stderr)
    assert.ok((await readdir(join(root, 'alice', 'main', 'locks'))).length === 0, 'restic removed its locks')
    assert.ok(packsBefore > 0)
  })

  test('user bob cannot reach alice\'s repository (401), nor can wrong or missing credentials', async () => {
    const before = await snapshotIds(repo)
    const attempts = [
      restUrl(server.url, '/alice/main/', 'bob', 'bob pw'),
      restUrl(server.url, '/alice/main/', 'alice', 'wrong'),
      restUrl(server.url, '/alice/main/'),
    ]
    for (const other of attempts) {
      const r = await restic(['snapshots'], { repo: other, password })
      assert.notEqual(r.code, 0, other)
      assert.match(r.stderr, /401|Unauthorized/, other)
      const w = await restic(['backup', info.root], { repo: other, password })
      assert.notEqual(w.code, 0, other)
    }
    const init = await restic(['init'], { repo: restUrl(server.url, '/alice/other/', 'bob', 'bob pw'), password })
    assert.notEqual(init.code, 0)
    assert.deepEqual(await snapshotIds(repo), before)
    // bob has his own repository
    const bobRepo = restUrl(server.url, '/bob/', 'bob', 'bob pw')
    assert.equal((await restic(['init'], { repo: bobRepo, password })).code, 0)
  })
})

describe('restic: --append-only', { skip }, () => {
  let server: RunningRestServer
  let repo: string
  let root: string
  before(async () => {
    root = await tmp.dir('append')
    await writeFile(join(root, '.htpasswd'), `backup:${quickHash('pw')}\n`)
    server = await startTestServer({ path: root, appendOnly: true })
    repo = restUrl(server.url, '/host1/', 'backup', 'pw')
  })
  after(() => server?.close())

  test('init, backups and reads work', async () => {
    assert.equal((await restic(['init'], { repo, password })).code, 0)
    for (let i = 0; i < 2; i++) {
      const b = await restic(['backup', '--host', 'h', info.root], { repo, password })
      assert.equal(b.code, 0, b.stderr)
    }
    const [id] = await snapshotIds(repo)
    const target = await tmp.dir('append-restore')
    const r = await restic(['restore', id, '--target', target], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(await compareTrees(info.root, join(target, info.root), { mtimeToleranceNs: 0 }), [])
  })

  test('forget --prune fails, and the repository keeps every snapshot and passes check --read-data', async () => {
    const before = (await snapshotIds(repo)).sort()
    const f = await restic(['forget', '--keep-last', '1', '--prune'], { repo, password })
    assert.notEqual(f.code, 0, 'forget must fail')
    assert.match(f.stderr, /403|Forbidden/)
    assert.deepEqual((await snapshotIds(repo)).sort(), before)
    const check = await resticCheck(repo, password, true)
    assert.equal(check.code, 0, check.stdout + check.stderr)
    assert.deepEqual(await readdir(join(root, 'host1', 'locks')), [], 'restic could still remove its locks')
  })

  test('deleting or overwriting any file directly is refused with 403', async () => {
    const auth = { Authorization: basic('backup', 'pw') }
    const snaps = await readdir(join(root, 'host1', 'snapshots'))
    const keys = await readdir(join(root, 'host1', 'keys'))
    for (const target of [`/host1/snapshots/${snaps[0]}`, `/host1/keys/${keys[0]}`, '/host1/config']) {
      assert.equal((await rawRequest(server.url, 'DELETE', target, { headers: auth })).status, 403, target)
    }
    const snapBytes = await readFile(join(root, 'host1', 'snapshots', snaps[0]))
    assert.equal((await rawRequest(server.url, 'POST', `/host1/snapshots/${snaps[0]}`, { headers: auth, body: snapBytes })).status, 403)
    assert.equal((await rawRequest(server.url, 'POST', '/host1/config', { headers: auth, body: 'x' })).status, 403)
    assert.deepEqual(await readFile(join(root, 'host1', 'snapshots', snaps[0])), snapBytes)
  })
})

describe('restic: per-user access levels from the users file', { skip }, () => {
  let server: RunningRestServer
  let root: string
  const url = (user: string) => restUrl(server.url, '/shared/', user, `pw-${user}`)
  before(async () => {
    root = await tmp.dir('levels')
    const usersFile = join(tmp.path, 'levels-users.yaml')
    const entry = (name: string, extra: string) => `  ${name}: { password: "${quickHash(`pw-${name}`)}"${extra} }\n`
    await writeFile(usersFile, 'users:\n' + entry('owner', '') + entry('reader', ', access: read-only, repos: [shared]') + entry('appender', ', access: append-only'))
    server = await startTestServer({ path: root, usersFile })
    assert.equal((await restic(['init'], { repo: url('owner'), password })).code, 0)
    assert.equal((await restic(['backup', '--host', 'h', info.root], { repo: url('owner'), password })).code, 0)
  })
  after(() => server?.close())

  test('a read-only user restores an identical tree (restic --no-lock) but cannot write anything', async () => {
    const repo = url('reader')
    const [id] = await snapshotIds(repo, ['--no-lock'])
    const target = await tmp.dir('levels-restore')
    const r = await restic(['--no-lock', 'restore', id, '--target', target], { repo, password })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(await compareTrees(info.root, join(target, info.root), { mtimeToleranceNs: 0 }), [])
    const filesBefore = (await readdir(join(root, 'shared'), { recursive: true })).sort()
    const b = await restic(['backup', info.root], { repo, password })
    assert.notEqual(b.code, 0)
    assert.match(b.stderr, /403|Forbidden/)
    // (restic retries a refused write for about 30 s, so one refused command is enough here;
    // access.test.ts refuses every kind of write and delete for read-only users.)
    assert.deepEqual((await readdir(join(root, 'shared'), { recursive: true })).sort(), filesBefore, 'nothing changed on disk')
  })

  test('an append-only user backs up (creating and removing its lock) but cannot delete a snapshot', async () => {
    const repo = url('appender')
    const b = await restic(['backup', '--host', 'h2', info.root], { repo, password })
    assert.equal(b.code, 0, b.stderr)
    const ids = await snapshotIds(repo)
    assert.equal(ids.length, 2)
    assert.deepEqual(await readdir(join(root, 'shared', 'locks')), [])
    const del = await rawRequest(server.url, 'DELETE', `/shared/snapshots/${ids[0]}`, { headers: { Authorization: basic('appender', 'pw-appender') } })
    assert.equal(del.status, 403)
    assert.equal((await snapshotIds(repo)).length, 2)
  })
})

describe('restic: concurrent clients', { skip }, () => {
  test('4 restic clients backing up at once (2 into one repository, 2 into their own) all succeed', async () => {
    const root = await tmp.dir('concurrent')
    await writeFile(join(root, '.htpasswd'), ['a', 'b', 'c'].map((u) => `${u}:${quickHash(`pw-${u}`)}`).join('\n') + '\n')
    const server = await startTestServer({ path: root, privateRepos: true })
    try {
      const repos = [restUrl(server.url, '/a/', 'a', 'pw-a'), restUrl(server.url, '/a/', 'a', 'pw-a'), restUrl(server.url, '/b/', 'b', 'pw-b'), restUrl(server.url, '/c/', 'c', 'pw-c')]
      for (const r of new Set(repos)) assert.equal((await restic(['init'], { repo: r, password })).code, 0)
      const sources = await Promise.all(
        repos.map(async (_, i) => {
          const dir = join(tmp.path, `concurrent-src-${i}`)
          await makeLargeTree(dir, 24 * 1024 * 1024, 3 * 1024 * 1024 + i)
          return dir
        }),
      )
      const t0 = Date.now()
      const results = await Promise.all(repos.map((r, i) => restic(['backup', '--host', `client${i}`, sources[i]], { repo: r, password, timeoutMs: 300_000 })))
      const seconds = (Date.now() - t0) / 1000
      results.forEach((r, i) => assert.equal(r.code, 0, `client ${i}: ${r.stderr}`))
      assert.equal((await resticSnapshotIds(repos[0], password)).length, 2)
      for (const r of [repos[0], repos[2], repos[3]]) {
        const check = await resticCheck(r, password, true)
        assert.equal(check.code, 0, check.stdout + check.stderr)
      }
      process.stderr.write(`# 4 concurrent restic backups of 24 MiB each: ${seconds.toFixed(1)} s\n`)
    } finally {
      await server.close()
    }
  })
})

describe('restic: TLS', { skip: skip || (await needsOpenssl()) }, () => {
  let certs: string
  before(async () => {
    certs = await tmp.dir('tls')
    const sh = async (...args: string[]) => execFileP('openssl', args, { cwd: certs })
    for (const ca of ['ca', 'wrong-ca']) {
      await sh('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=cairn test ${ca}`)
    }
    const server = async (name: string, san: string, ca: string) => {
      await sh('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`)
      await writeFile(join(certs, `${name}.ext`), `subjectAltName=${san}\n`)
      await sh('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`)
    }
    await server('good', 'IP:127.0.0.1,DNS:localhost', 'ca')
    await server('other-host', 'DNS:backup.example.org', 'ca')
  })

  test('restic with --cacert works over https; another CA, no CA, or a certificate for another host is refused', async () => {
    const root = await tmp.dir('tls-repos')
    await writeFile(join(root, '.htpasswd'), `t:${quickHash('pw')}\n`)
    const server = await startTestServer({ path: root, tls: true, tlsCert: join(certs, 'good.pem'), tlsKey: join(certs, 'good.key') })
    try {
      assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+\/$/)
      const repo = restUrl(server.url, '/t/', 't', 'pw')
      const ca = ['--cacert', join(certs, 'ca.pem')]
      const init = await restic([...ca, 'init'], { repo, password })
      assert.equal(init.code, 0, init.stderr)
      assert.equal((await restic([...ca, 'backup', info.root], { repo, password })).code, 0)
      assert.equal((await snapshotIds(repo, ca)).length, 1)
      const check = await restic([...ca, 'check', '--read-data'], { repo, password })
      assert.equal(check.code, 0, check.stderr)
      const wrongCa = await restic(['--cacert', join(certs, 'wrong-ca.pem'), 'snapshots'], { repo, password })
      assert.notEqual(wrongCa.code, 0)
      assert.match(wrongCa.stderr, /certificate signed by unknown authority|x509/)
      const noCa = await restic(['snapshots'], { repo, password })
      assert.notEqual(noCa.code, 0)
      assert.match(noCa.stderr, /x509|certificate/)
      const plain = await restic(['snapshots'], { repo: repo.replace('https:', 'http:'), password })
      assert.notEqual(plain.code, 0, 'plain http to the TLS port fails')
    } finally {
      await server.close()
    }
    const other = await startTestServer({ path: root, tls: true, tlsCert: join(certs, 'other-host.pem'), tlsKey: join(certs, 'other-host.key') })
    try {
      const r = await restic(['--cacert', join(certs, 'ca.pem'), 'snapshots'], { repo: restUrl(other.url, '/t/', 't', 'pw'), password })
      assert.notEqual(r.code, 0)
      assert.match(r.stderr, /certificate is valid for backup\.example\.org|x509/)
    } finally {
      await other.close()
    }
  })

  test('cairn takes a certificate it cannot verify only with --insecure-tls, as restic does', async () => {
    const root = await tmp.dir('tls-insecure')
    await writeFile(join(root, '.htpasswd'), `t:${quickHash('pw')}\n`)
    // Signed by a CA the client is not given, for another host name: nothing about it checks out.
    const server = await startTestServer({ path: root, tls: true, tlsCert: join(certs, 'other-host.pem'), tlsKey: join(certs, 'other-host.key') })
    try {
      const repo = restUrl(server.url, '/t/', 't', 'pw')
      const refused = await cairn(['init'], { repo, password })
      assert.notEqual(refused.code, 0)
      assert.match(refused.stderr, /certificate|self[- ]signed|issuer/i)
      const init = await cairn(['--insecure-tls', 'init'], { repo, password })
      assert.equal(init.code, 0, init.stderr)
      const backup = await cairn(['--insecure-tls', 'backup', info.root], { repo, password })
      assert.equal(backup.code, 0, backup.stderr)
      const ids = await restic(['--insecure-tls', 'snapshots', '--json'], { repo, password })
      assert.equal(ids.code, 0, ids.stderr)
      assert.equal((JSON.parse(ids.stdout) as unknown[]).length, 1)
    } finally {
      await server.close()
    }
  })

  test('--tls-min-ver 1.3 refuses a TLS 1.2 client', async () => {
    const root = await tmp.dir('tls13')
    const server = await startTestServer({ path: root, noAuth: true, tls: true, tlsCert: join(certs, 'good.pem'), tlsKey: join(certs, 'good.key'), tlsMinVersion: '1.3' })
    try {
      const u = new URL(server.url)
      const tls12 = await execFileP('openssl', ['s_client', '-connect', `127.0.0.1:${u.port}`, '-tls1_2', '-CAfile', join(certs, 'ca.pem')], { timeout: 10_000 }).then(
        (r) => r.stdout,
        (e: { stdout?: string }) => `failed ${e.stdout ?? ''}`,
      )
      assert.match(tls12, /failed|alert|no peer certificate/)
      const ok = await rawRequest(server.url, 'GET', '/health', { ca: await readFile(join(certs, 'ca.pem')) })
      assert.equal(ok.status, 200)
    } finally {
      await server.close()
    }
  })
})

async function needsOpenssl(): Promise<string | false> {
  return execFileP('openssl', ['version']).then(
    () => false,
    () => 'openssl is not installed',
  )
}

