import assert from 'node:assert/strict'
import { utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { makeTempRoot } from '../../../test/helpers/index.js'
import { quickHash, shaHash } from '../testing.js'
import { CredentialStore } from './credential-store.js'

const tmp = await makeTempRoot('server-credentials')
after(() => tmp.cleanup())

test('CredentialStore.authenticate() accepts right passwords only, and users-file entries win over htpasswd', async () => {
  const htpasswd = join(tmp.path, 'a.htpasswd')
  const users = join(tmp.path, 'a.yaml')
  await writeFile(htpasswd, `alice:${quickHash('pw-a')}\nbob:${shaHash('pw-b')}\n`)
  await writeFile(users, `users:\n  bob: { password: "${shaHash('pw-b2')}", access: read-only, quota: 100 }\n`)
  const store = await CredentialStore.open({ htpasswdFile: htpasswd, usersFile: users, htpasswdAccess: 'append-only' })
  assert.deepEqual(await store.authenticate('alice', 'pw-a'), { name: 'alice', access: 'append-only' })
  assert.equal(await store.authenticate('alice', 'pw-A'), undefined)
  assert.equal(await store.authenticate('bob', 'pw-b'), undefined)
  assert.deepEqual(await store.authenticate('bob', 'pw-b2'), { name: 'bob', access: 'read-only', quota: 100 })
  assert.equal(await store.authenticate('nobody', 'x'), undefined)
  assert.equal(await store.authenticate('', ''), undefined)
})

test('CredentialStore reloads a changed file at the next check, and keeps the old users when the new file is broken', async () => {
  const file = join(tmp.path, 'b.yaml')
  await writeFile(file, `users:\n  alice: { password: "${shaHash('one')}" }\n`)
  let clock = 1_000_000
  const messages: string[] = []
  const store = await CredentialStore.open({ usersFile: file, reloadCheckMs: 1000, now: () => clock, onMessage: (m) => messages.push(m) })
  assert.ok(await store.authenticate('alice', 'one'))
  await writeFile(file, `users:\n  alice: { password: "${shaHash('two')}" }\n  bob: { password: "${shaHash('b')}" }\n`)
  await utimes(file, new Date(), new Date(Date.now() + 5000))
  assert.ok(await store.authenticate('alice', 'one'), 'not checked again before the interval ends (cached login)')
  clock += 1001
  assert.equal(await store.authenticate('alice', 'one'), undefined, 'the old password stops working after the reload')
  assert.ok(await store.authenticate('alice', 'two'))
  assert.ok(await store.authenticate('bob', 'b'))
  await writeFile(file, 'users: [broken')
  await utimes(file, new Date(), new Date(Date.now() + 10000))
  clock += 1001
  assert.ok(await store.authenticate('bob', 'b'), 'a broken file keeps the previous users')
  assert.ok(messages.some((m) => /not reloaded/.test(m)), messages.join('\n'))
  await assert.rejects(store.reload(), /Cannot read users file/)
})

test('CredentialStore caches a successful bcrypt login, and a reload() clears the cache', async () => {
  const file = join(tmp.path, 'c.htpasswd')
  await writeFile(file, `alice:${quickHash('pw')}\n`)
  const store = await CredentialStore.open({ htpasswdFile: file, reloadCheckMs: 3_600_000 })
  assert.ok(await store.authenticate('alice', 'pw'))
  await writeFile(file, `alice:${quickHash('new')}\n`)
  assert.ok(await store.authenticate('alice', 'pw'), 'served from the cache, file not looked at yet')
  await store.reload()
  assert.equal(await store.authenticate('alice', 'pw'), undefined)
  assert.ok(await store.authenticate('alice', 'new'))
})

test('CredentialStore.open() names a missing file and suggests --no-auth', async () => {
  await assert.rejects(CredentialStore.open({ htpasswdFile: join(tmp.path, 'missing') }), (err: Error & { hint?: string }) => {
    assert.match(err.message, /htpasswd file ".*missing": it does not exist/)
    assert.match(err.hint ?? '', /--no-auth/)
    return true
  })
})
