import assert from 'node:assert/strict'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { makeTempRoot } from '../../../test/helpers/index.js'
import { quickHash, shaHash } from '../testing.js'
import { parseHtpasswd, removeHtpasswdUser, setHtpasswdUser } from './htpasswd.js'
import { hashPassword, verifyPassword } from './password-hash.js'

const tmp = await makeTempRoot('server-htpasswd')
after(() => tmp.cleanup())

test('parseHtpasswd() reads bcrypt and {SHA} lines and skips comments, bad names and unsupported hashes', () => {
  const text = [
    '# users',
    '',
    `alice:${quickHash('a')}`,
    `  bob:${shaHash('b')}`,
    `carol:$apr1$abc$defghijklmnopqrstuvwx`,
    `dave:plaintext`,
    `bad name:${shaHash('x')}`,
    'no-colon-here',
    `jürgen@example.org:${quickHash('j', '$2y$')}`,
  ].join('\n')
  const { users, skipped } = parseHtpasswd(text)
  assert.deepEqual([...users.keys()].sort(), ['alice', 'bob', 'jürgen@example.org'])
  assert.equal(skipped.length, 4)
  assert.ok(skipped.every((s) => !s.includes('$apr1$abc')), 'messages never quote a hash')
})

test('verifyPassword() checks $2a$, $2b$, $2y$ and {SHA} and never matches unsupported formats', async () => {
  for (const prefix of ['$2a$', '$2b$', '$2y$'] as const) {
    const h = quickHash('secret', prefix)
    assert.equal(await verifyPassword(h, 'secret'), true, prefix)
    assert.equal(await verifyPassword(h, 'Secret'), false, prefix)
  }
  assert.equal(await verifyPassword(shaHash('secret'), 'secret'), true)
  assert.equal(await verifyPassword(shaHash('secret'), 'secret2'), false)
  assert.equal(await verifyPassword('$apr1$abc$defghijklmnopqrstuvwx', 'secret'), false)
  assert.equal(await verifyPassword('secret', 'secret'), false)
})

test('verifyPassword() checks bcrypt off the calling thread: a burst of wrong passwords does not stall it', async () => {
  // bcryptjs ran on the server's thread: 100 wrong logins at once held a valid request for 9 s.
  const hash = await hashPassword('secret', 10)
  const done: number[] = []
  const checks = Array.from({ length: 6 }, () => verifyPassword(hash, 'wrong').then((ok) => (done.push(Date.now()), ok)))
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r))
  const turned = Date.now()
  assert.deepEqual(await Promise.all(checks), [false, false, false, false, false, false])
  assert.ok(turned < Math.min(...done), 'the thread turned ten times before the first check ended')
  assert.equal(await verifyPassword(hash, 'secret'), true)
})

test('setHtpasswdUser() and removeHtpasswdUser() edit one line, keep the others, and write mode 0600', async () => {
  const file = join(tmp.path, 'htpasswd')
  assert.equal(await setHtpasswdUser(file, 'alice', shaHash('a')), 'added')
  assert.equal(await setHtpasswdUser(file, 'bob', shaHash('b')), 'added')
  assert.equal(await setHtpasswdUser(file, 'alice', shaHash('a2')), 'replaced')
  assert.equal((await stat(file)).mode & 0o777, 0o600)
  const users = parseHtpasswd(await readFile(file, 'utf8')).users
  assert.equal(users.get('alice'), shaHash('a2'))
  assert.equal(users.get('bob'), shaHash('b'))
  assert.equal(await removeHtpasswdUser(file, 'alice'), true)
  assert.equal(await removeHtpasswdUser(file, 'alice'), false)
  assert.deepEqual([...parseHtpasswd(await readFile(file, 'utf8')).users.keys()], ['bob'])
  await assert.rejects(setHtpasswdUser(file, '../x', shaHash('x')), /Invalid user name/)
})
