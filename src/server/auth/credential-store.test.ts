import assert from 'node:assert/strict'
import { utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { makeTempRoot } from '../../../test/helpers/index.js'
import { quickHash, shaHash } from '../testing.js'
import { CredentialStore } from './credential-store.js'
import { hashPassword } from './password-hash.js'

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

test('CredentialStore.authenticate() takes as long for a user name that does not exist as for a wrong password', async () => {
  // An unknown name was refused at once, a known one after bcrypt: the time told which names exist.
  const file = join(tmp.path, 'timing.htpasswd')
  await writeFile(file, `alice:${await hashPassword('right', 8)}\n`)
  const store = await CredentialStore.open({ htpasswdFile: file })
  const fastest = async (name: string) => {
    let best = Infinity
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now()
      assert.equal(await store.authenticate(name, `wrong-${i}`), undefined)
      best = Math.min(best, performance.now() - t0)
    }
    return best
  }
  await store.authenticate('nobody', 'warm-up')
  const known = await fastest('alice')
  const unknown = await fastest('nobody')
  assert.ok(unknown > known * 0.3, `unknown user ${unknown.toFixed(1)} ms, wrong password ${known.toFixed(1)} ms`)
})
