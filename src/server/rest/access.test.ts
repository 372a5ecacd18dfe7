/**
 * Who may do what: --private-repos, --append-only, the users file's access levels, allowed
 * repositories and quotas, and --max-size. Raw HTTP against a real server on a temp directory.
 */
import assert from 'node:assert/strict'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { makeTempRoot, type TempRoot } from '../../../test/helpers/index.js'
import type { RunningRestServer, ServeRestConfig } from '../serve-rest.js'
import { basic, idOf, quickHash, rawRequest, shaHash, startTestServer } from '../testing.js'

let tmp: TempRoot
before(async () => {
  tmp = await makeTempRoot('server-access')
})
after(() => tmp?.cleanup())

/** A server on a fresh directory with a users file; returns a request function per user. */
async function serverWith(name: string, usersYaml: string, config: Partial<ServeRestConfig> = {}) {
  const root = await tmp.dir(name)
  const usersFile = join(tmp.path, `${name}.yaml`)
  await writeFile(usersFile, usersYaml)
  const server = await startTestServer({ path: root, usersFile, ...config })
  const as = (user: string, password = `pw-${user}`) => (method: string, target: string, body?: Buffer | string) =>
    rawRequest(server.url, method, target, { headers: { Authorization: basic(user, password) }, body })
  return { root, server, as }
}

const users = (entries: Record<string, string>) =>
  'users:\n' + Object.entries(entries).map(([name, extra]) => `  ${name}: { password: "${shaHash(`pw-${name}`)}"${extra ? `, ${extra}` : ''} }`).join('\n') + '\n'

const obj = (s: string) => ({ data: Buffer.from(s), id: idOf(s) })

describe('--private-repos', () => {
  let server: RunningRestServer
  let as: Awaited<ReturnType<typeof serverWith>>['as']
  let root: string
  before(async () => {
    ;({ server, as, root } = await serverWith('private', users({ alice: '', bob: '', metrics: '' }), { privateRepos: true, prometheus: true }))
    assert.equal((await as('bob')('POST', '/bob/?create=true')).status, 200)
    assert.equal((await as('bob')('POST', '/bob/laptop/?create=true')).status, 200)
  })
  after(() => server?.close())

  test('user A gets 401 for every route under user B and for the root repository; B\'s files are untouched', async () => {
    const b = obj('bob private')
    assert.equal((await as('bob')('POST', `/bob/data/${b.id}`, b.data)).status, 200)
    const alice = as('alice')
    const x = obj('alice writes')
    const attempts: Array<[string, string, Buffer?]> = [
      ['POST', '/bob/?create=true'],
      ['POST', '/bob/other/?create=true'],
      ['HEAD', '/bob/config'],
      ['GET', '/bob/config'],
      ['POST', '/bob/config', x.data],
      ['DELETE', '/bob/config'],
      ['GET', '/bob/data/'],
      ['GET', '/bob/laptop/keys/'],
      ['HEAD', `/bob/data/${b.id}`],
      ['GET', `/bob/data/${b.id}`],
      ['POST', `/bob/data/${x.id}`, x.data],
      ['DELETE', `/bob/data/${b.id}`],
      ['DELETE', `/bob/laptop/locks/${b.id}`],
      ['PUT', `/bob/data/${b.id}`],
      ['POST', '/?create=true'],
      ['GET', '/data/'],
      ['HEAD', '/config'],
      ['GET', '/metrics'],
    ]
    for (const [method, target, body] of attempts) {
      const r = await alice(method, target, body)
      assert.equal(r.status, 401, `${method} ${target}`)
    }
    assert.equal((await as('bob')('GET', `/bob/data/${b.id}`)).status, 200)
    await assert.rejects(stat(join(root, 'bob', 'data', x.id.slice(0, 2), x.id)), /ENOENT/)
    await assert.rejects(stat(join(root, 'bob', 'other')), /ENOENT/)
  })

  test('each user reaches their own repositories, and only user "metrics" reads /metrics', async () => {
    const alice = as('alice')
    assert.equal((await alice('POST', '/alice/?create=true')).status, 200)
    const a = obj('alice own')
    assert.equal((await alice('POST', `/alice/data/${a.id}`, a.data)).status, 200)
    assert.equal((await alice('GET', `/alice/data/${a.id}`)).status, 200)
    const m = await as('metrics')('GET', '/metrics')
    assert.equal(m.status, 200)
    assert.match(m.body.toString(), /rest_server_blob_write_total\{user="alice",repo="alice",type="data"\} 1/)
  })
})

describe('access levels and allowed repositories from the users file', () => {
  let server: RunningRestServer
  let as: Awaited<ReturnType<typeof serverWith>>['as']
  const a = obj('readable pack')
  before(async () => {
    ;({ server, as } = await serverWith(
      'levels',
      users({ owner: '', reader: 'access: read-only', appender: 'access: append-only', team: 'repos: [shared, "bob/x"]' }),
    ))
    const owner = as('owner')
    assert.equal((await owner('POST', '/shared/?create=true')).status, 200)
    assert.equal((await owner('POST', `/shared/data/${a.id}`, a.data)).status, 200)
  })
  after(() => server?.close())

  test('a read-only user reads everything and is refused (403) every write and delete', async () => {
    const reader = as('reader')
    assert.equal((await reader('GET', `/shared/data/${a.id}`)).status, 200)
    assert.equal((await reader('HEAD', `/shared/data/${a.id}`)).status, 200)
    assert.equal((await reader('GET', '/shared/data/')).status, 200)
    const n = obj('reader write')
    for (const [method, target, body] of [
      ['POST', `/shared/data/${n.id}`, n.data],
      ['POST', `/shared/locks/${n.id}`, n.data],
      ['POST', '/shared/config', n.data],
      ['DELETE', `/shared/data/${a.id}`],
      ['DELETE', `/shared/locks/${a.id}`],
      ['POST', '/reader/?create=true'],
    ] as Array<[string, string, Buffer?]>) {
      const r = await reader(method, target, body)
      assert.equal(r.status, 403, `${method} ${target}`)
      assert.match(r.body.toString(), /read-only/)
    }
    assert.equal((await reader('GET', `/shared/data/${a.id}`)).status, 200)
    assert.equal((await reader('HEAD', `/shared/data/${n.id}`)).status, 404)
  })

  test('an append-only user adds files and removes locks, but deletes nothing else and overwrites nothing', async () => {
    const ap = as('appender')
    const n = obj('appended')
    assert.equal((await ap('POST', `/shared/data/${n.id}`, n.data)).status, 200)
    assert.equal((await ap('POST', `/shared/locks/${n.id}`, n.data)).status, 200)
    assert.equal((await ap('DELETE', `/shared/locks/${n.id}`)).status, 200)
    assert.equal((await ap('DELETE', `/shared/data/${n.id}`)).status, 403)
    assert.equal((await ap('DELETE', '/shared/config')).status, 403)
    assert.equal((await ap('POST', `/shared/data/${a.id}`, a.data)).status, 403)
    assert.equal((await ap('GET', `/shared/data/${n.id}`)).status, 200)
  })

  test('a user with a repos list gets 403 outside it and full access inside it', async () => {
    const team = as('team')
    const n = obj('team file')
    assert.equal((await team('POST', `/shared/data/${n.id}`, n.data)).status, 200)
    assert.equal((await team('POST', '/bob/x/?create=true')).status, 200)
    for (const [method, target] of [['POST', '/bob/?create=true'], ['GET', '/bob/y/data/'], ['GET', '/data/'], ['POST', '/team/?create=true']]) {
      assert.equal((await team(method, target)).status, 403, `${method} ${target}`)
    }
  })
})

describe('--append-only for everyone', () => {
  test('a full user may not delete anything but locks; forget/prune style deletes are 403 and the files stay', async () => {
    const { server, as } = await serverWith('append-only', users({ owner: '' }), { appendOnly: true })
    try {
      const owner = as('owner')
      assert.equal((await owner('POST', '/r/?create=true')).status, 200)
      const n = obj('kept')
      assert.equal((await owner('POST', `/r/config`, n.data)).status, 200)
      for (const type of ['data', 'index', 'snapshots', 'keys']) {
        assert.equal((await owner('POST', `/r/${type}/${n.id}`, n.data)).status, 200)
        assert.equal((await owner('DELETE', `/r/${type}/${n.id}`)).status, 403, type)
        assert.equal((await owner('HEAD', `/r/${type}/${n.id}`)).status, 200, type)
      }
      assert.equal((await owner('DELETE', '/r/config')).status, 403)
      assert.equal((await owner('POST', `/r/locks/${n.id}`, n.data)).status, 200)
      assert.equal((await owner('DELETE', `/r/locks/${n.id}`)).status, 200)
    } finally {
      await server.close()
    }
  })
})

describe('quotas', () => {
  test('a user quota counts everything under /<user>/: an upload past it is 507 with a clear body, and deleting frees space', async () => {
    const { server, as } = await serverWith('quota', users({ q: 'quota: 2000', other: '' }))
    try {
      const q = as('q')
      assert.equal((await q('POST', '/q/one/?create=true')).status, 200)
      assert.equal((await q('POST', '/q/two/?create=true')).status, 200)
      const a = { data: Buffer.alloc(1200, 1), id: idOf(Buffer.alloc(1200, 1)) }
      const b = { data: Buffer.alloc(1200, 2), id: idOf(Buffer.alloc(1200, 2)) }
      assert.equal((await q('POST', `/q/one/data/${a.id}`, a.data)).status, 200)
      const over = await q('POST', `/q/two/data/${b.id}`, b.data)
      assert.equal(over.status, 507)
      assert.match(over.body.toString(), /would exceed the quota of user "q" \(2000 bytes; 1200 in use\)/)
      assert.equal((await q('HEAD', `/q/two/data/${b.id}`)).status, 404)
      const chunked = await rawRequest(server.url, 'POST', `/q/two/data/${b.id}`, {
        headers: { Authorization: basic('q', 'pw-q'), 'Transfer-Encoding': 'chunked' },
        body: `${b.data.length.toString(16)}\r\n${b.data.toString('latin1')}\r\n0\r\n\r\n`,
        omitLength: true,
      })
      assert.equal(chunked.status, 411, 'an unsized upload cannot be checked against a quota')
      assert.equal((await q('DELETE', `/q/one/data/${a.id}`)).status, 200)
      assert.equal((await q('POST', `/q/two/data/${b.id}`, b.data)).status, 200)
      const other = as('other')
      assert.equal((await other('POST', '/other/?create=true')).status, 200)
      assert.equal((await other('POST', `/other/data/${a.id}`, a.data)).status, 200, 'another user is not limited by q\'s quota')
    } finally {
      await server.close()
    }
  })

  test('a user limited to some repositories has one quota over all of them, not one per repository', async () => {
    // With repos [shared/a, shared/b] and a 2000-byte quota, each repository took 2000 bytes.
    const { server, as } = await serverWith('quota-repos', users({ t: 'quota: 2000, repos: ["shared/a", "shared/b"]' }))
    try {
      const t = as('t')
      for (const r of ['shared/a', 'shared/b']) assert.equal((await t('POST', `/${r}/?create=true`)).status, 200)
      const a = { data: Buffer.alloc(1200, 5), id: idOf(Buffer.alloc(1200, 5)) }
      const b = { data: Buffer.alloc(1200, 6), id: idOf(Buffer.alloc(1200, 6)) }
      assert.equal((await t('POST', `/shared/a/data/${a.id}`, a.data)).status, 200)
      const over = await t('POST', `/shared/b/data/${b.id}`, b.data)
      assert.equal(over.status, 507)
      assert.match(over.body.toString(), /would exceed the quota of user "t" \(2000 bytes; 1200 in use\)/)
    } finally {
      await server.close()
    }
  })

  test('--max-size limits everything served, counted at startup, including files already there', async () => {
    const root = await tmp.dir('max-size')
    await writeFile(join(root, 'existing'), Buffer.alloc(500))
    const usersFile = join(tmp.path, 'max-size.yaml')
    await writeFile(usersFile, users({ u: '' }))
    const server = await startTestServer({ path: root, usersFile, maxSize: 3000 })
    try {
      const req = (method: string, target: string, body?: Buffer) => rawRequest(server.url, method, target, { headers: { Authorization: basic('u', 'pw-u') }, body })
      assert.equal(server.handler.usage.used([]), 500)
      assert.equal((await req('POST', '/a/?create=true')).status, 200)
      const blobs = [1, 2, 3].map((i) => Buffer.alloc(1000, i))
      assert.equal((await req('POST', `/a/data/${idOf(blobs[0])}`, blobs[0])).status, 200)
      assert.equal((await req('POST', `/a/data/${idOf(blobs[1])}`, blobs[1])).status, 200)
      const r = await req('POST', `/a/data/${idOf(blobs[2])}`, blobs[2])
      assert.equal(r.status, 507)
      assert.match(r.body.toString(), /--max-size/)
    } finally {
      await server.close()
    }
  })
})

test('htpasswd users get the server\'s access: with --append-only they cannot delete', async () => {
  const root = await tmp.dir('htpasswd-append')
  await writeFile(join(root, '.htpasswd'), `h:${quickHash('pw')}\n`)
  const server = await startTestServer({ path: root, appendOnly: true })
  try {
    const req = (method: string, target: string, body?: Buffer) => rawRequest(server.url, method, target, { headers: { Authorization: basic('h', 'pw') }, body })
    const n = obj('h file')
    assert.equal((await req('POST', '/?create=true')).status, 200)
    assert.equal((await req('POST', `/data/${n.id}`, n.data)).status, 200)
    assert.equal((await req('DELETE', `/data/${n.id}`)).status, 403)
  } finally {
    await server.close()
  }
})
