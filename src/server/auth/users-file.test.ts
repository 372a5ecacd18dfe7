import assert from 'node:assert/strict'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { makeTempRoot } from '../../../test/helpers/index.js'
import { quickHash, shaHash } from '../testing.js'
import { loadUsersFile, parseUsersFile, removeUsersFileUser, setUsersFileUser } from './users-file.js'
import { setHtpasswdUser } from './htpasswd.js'

const tmp = await makeTempRoot('server-users-file')
after(() => tmp.cleanup())

test('parseUsersFile() reads access, quota and repos, with full access by default', () => {
  const users = parseUsersFile(
    [
      'users:',
      `  alice: { password: "${quickHash('a')}", access: append-only, quota: 10GiB, repos: [alice, shared/photos] }`,
      `  bob: { password: "${shaHash('b')}", quota: 1048576 }`,
      `  root: { password: "${shaHash('r')}", access: read-only, repos: ["/"] }`,
      `  free: { password: "${shaHash('f')}", quota: 0 }`,
    ].join('\n'),
    'users.yaml',
  )
  assert.deepEqual(users.get('alice'), {
    name: 'alice',
    passwordHash: users.get('alice')!.passwordHash,
    access: 'append-only',
    quota: 10 * 1024 ** 3,
    repos: [['alice'], ['shared', 'photos']],
  })
  assert.equal(users.get('bob')?.access, 'full')
  assert.equal(users.get('bob')?.quota, 1048576)
  assert.deepEqual(users.get('root')?.repos, [[]])
  // 0 is no limit, as --max-size 0 is: it refused every upload.
  assert.equal(users.get('free')?.quota, undefined)
})

test('parseUsersFile() refuses bad files with a message naming the place', () => {
  const cases: Array<[string, RegExp]> = [
    ['users: [', /Cannot read users file "u.yaml"/],
    [`users:\n  alice: { password: "plain" }`, /users\.alice\.password.*bcrypt/],
    [`users:\n  alice: { password: "${shaHash('a')}", access: admin }`, /users\.alice\.access/],
    [`users:\n  alice: { password: "${shaHash('a')}", quota: lots }`, /users\.alice.*Invalid size "lots"/],
    [`users:\n  alice: { password: "${shaHash('a')}", repos: ["../etc"] }`, /users\.alice.*invalid repository path "\.\.\/etc"/],
    [`users:\n  alice: { password: "${shaHash('a')}", repos: ["a/b/c"] }`, /invalid repository path "a\/b\/c"/],
    [`users:\n  "a b": { password: "${shaHash('a')}" }`, /users\.a b.*invalid user name/],
    [`users:\n  alice: { password: "${shaHash('a')}", acess: full }`, /users\.alice/],
    [`user:\n  alice: {}`, /Invalid users file/],
  ]
  for (const [text, re] of cases) assert.throws(() => parseUsersFile(text, 'u.yaml'), re, text)
})

test('setUsersFileUser() adds and updates users, keeps comments and other users, writes mode 0600', async () => {
  const file = join(tmp.path, 'users.yaml')
  await writeFile(file, `# team users\nusers:\n  bob:\n    password: "${shaHash('b')}" # bob's\n    access: read-only\n`)
  assert.equal(await setUsersFileUser(file, 'alice', { passwordHash: shaHash('a'), access: 'append-only', quota: 5000, repos: ['alice'] }), 'added')
  assert.equal(await setUsersFileUser(file, 'alice', { passwordHash: shaHash('a2') }), 'replaced')
  const text = await readFile(file, 'utf8')
  assert.match(text, /# team users/)
  assert.equal((await stat(file)).mode & 0o777, 0o600)
  const users = await loadUsersFile(file)
  assert.equal(users.get('alice')?.passwordHash, shaHash('a2'))
  assert.equal(users.get('alice')?.access, 'append-only', 'an update keeps the access level')
  assert.equal(users.get('alice')?.quota, 5000)
  assert.deepEqual(users.get('alice')?.repos, [['alice']])
  assert.equal(users.get('bob')?.access, 'read-only')
  assert.equal(await removeUsersFileUser(file, 'bob'), true)
  assert.equal(await removeUsersFileUser(file, 'bob'), false)
  assert.deepEqual([...(await loadUsersFile(file)).keys()], ['alice'])
})

test('setUsersFileUser() creates a missing file and refuses bad names and repository paths', async () => {
  const file = join(tmp.path, 'new-users.yaml')
  await setUsersFileUser(file, 'carol', { passwordHash: shaHash('c') })
  assert.equal((await loadUsersFile(file)).get('carol')?.access, 'full')
  await assert.rejects(setUsersFileUser(file, 'ca/rol', { passwordHash: shaHash('c') }), /Invalid user name/)
  // Names that could never reach a repository of their own were added: every request then failed.
  for (const name of ['.hidden', 'data', 'keys', 'config']) {
    await assert.rejects(setUsersFileUser(file, name, { passwordHash: shaHash('c') }), (err: Error) => err.message.includes(`User name "${name}" cannot name a repository of its own`), name)
    await assert.rejects(setHtpasswdUser(join(tmp.path, 'names.htpasswd'), name, shaHash('c')), /cannot name a repository of its own/, name)
  }
  await assert.rejects(setUsersFileUser(file, 'carol', { passwordHash: shaHash('c'), repos: ['..'] }), /Invalid repository path/)
  await assert.rejects(loadUsersFile(join(tmp.path, 'missing.yaml')), /does not exist/)
})
