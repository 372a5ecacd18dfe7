import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { WEAK_SCRYPT } from '../repository/testing.js'
import { cairn, initRepo, interopSkipReason, json, openRepo, PASSWORD, restic, tempDir, withRepo, type TempDir } from './interop-testing.js'
import { addKey, changePassword, listKeys, readNewPassword, removeKey } from './keys.js'

const skip = await interopSkipReason()

describe('key management', { skip }, () => {
  let tmp: TempDir
  before(async () => {
    tmp = await tempDir('keys')
  })
  after(() => tmp.remove())

  it('addKey() adds a password that cairn and restic open, with the user and host given', async () => {
    const repo = join(tmp.path, 'add')
    await initRepo(repo)
    const id = await withRepo(repo, (r) => addKey(r, { password: 'second', username: 'alice', hostname: 'box', scrypt: WEAK_SCRYPT }))
    const opened = await openRepo(repo, 'second')
    assert.equal(opened.keyId, id)
    await opened.close()

    const listed = json<Array<{ id: string; userName: string; hostName: string; current: boolean }>>(await restic(repo, ['key', 'list', '--json'], { RESTIC_PASSWORD: 'second' }))
    assert.equal(listed.length, 2)
    const mine = listed.find((k) => k.id === id.slice(0, 8))
    assert.deepEqual({ user: mine?.userName, host: mine?.hostName, current: mine?.current }, { user: 'alice', host: 'box', current: true })
  })

  it('removeKey() refuses the key in use and removes another, which then no longer opens', async () => {
    const repo = join(tmp.path, 'remove')
    await initRepo(repo)
    const first = await withRepo(repo, async (r) => {
      await addKey(r, { password: 'second', scrypt: WEAK_SCRYPT })
      await assert.rejects(removeKey(r, r.keyId.slice(0, 8)), (err) => isAppError(err, 'INVALID_ARGUMENT') && /currently used/.test(err.message))
      return r.keyId
    })
    const second = await openRepo(repo, 'second')
    assert.equal(await removeKey(second, first.slice(0, 10).toUpperCase()), first, 'an ID in capitals, as cat takes it')
    assert.deepEqual((await listKeys(second)).map((k) => [k.id, k.current]), [[second.keyId, true]])
    await second.close()
    await assert.rejects(openRepo(repo, PASSWORD), (err) => isAppError(err, 'WRONG_PASSWORD'))
    const old = await restic(repo, ['snapshots'], { RESTIC_PASSWORD: PASSWORD })
    assert.notEqual(old.code, 0, 'restic no longer opens it with the old password either')
    assert.match(old.stderr, /wrong password/)
  })

  it('removeKey() refuses when this session\'s own key was removed meanwhile: two sessions removing each other\'s key left none', async () => {
    const repo = join(tmp.path, 'remove-race')
    await initRepo(repo)
    await withRepo(repo, (r) => addKey(r, { password: 'second', scrypt: WEAK_SCRYPT }))
    const a = await openRepo(repo, PASSWORD)
    const b = await openRepo(repo, 'second')
    try {
      assert.equal(await removeKey(a, b.keyId), b.keyId)
      await assert.rejects(removeKey(b, a.keyId), (err) => isAppError(err, 'INVALID_ARGUMENT') && /was removed meanwhile/.test(err.message))
      assert.deepEqual(await a.listIds('keys'), [a.keyId], 'one key is left, and it opens the repository')
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('changePassword() replaces the key in use: the old password fails, the new one works in cairn and restic', async () => {
    const repo = join(tmp.path, 'passwd')
    await initRepo(repo)
    const { newId, oldId } = await withRepo(repo, (r) => changePassword(r, { password: 'brand new', scrypt: WEAK_SCRYPT }))
    assert.notEqual(newId, oldId)
    await assert.rejects(openRepo(repo, PASSWORD), (err) => isAppError(err, 'WRONG_PASSWORD'))
    const r = await openRepo(repo, 'brand new')
    assert.deepEqual((await listKeys(r)).map((k) => k.id), [newId])
    await r.close()
    const listed = json<Array<{ id: string }>>(await restic(repo, ['key', 'list', '--json'], { RESTIC_PASSWORD: 'brand new' }))
    assert.deepEqual(listed.map((k) => k.id), [newId.slice(0, 8)])
  })

  it('cairn key list --json prints restic\'s fields with the key in use marked; key remove refuses that key', async () => {
    const repo = join(tmp.path, 'list')
    await initRepo(repo)
    await withRepo(repo, (r) => addKey(r, { password: 'third', username: 'bob', hostname: 'nas', scrypt: WEAK_SCRYPT }))
    const keys = json<Array<Record<string, unknown>>>(await cairn(repo, ['key', 'list', '--json'], { CAIRN_PASSWORD: 'third' }))
    assert.equal(keys.length, 2)
    const bob = keys.find((k) => k.userName === 'bob')
    assert.ok(bob)
    assert.deepEqual(Object.keys(bob), ['current', 'id', 'userName', 'hostName', 'created'])
    assert.equal(bob.current, true)
    assert.equal(bob.hostName, 'nas')
    assert.match(String(bob.created), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
    assert.equal(keys.filter((k) => k.current).length, 1)

    const refused = await cairn(repo, ['key', 'remove', String(bob.id)], { CAIRN_PASSWORD: 'third' })
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /Refusing to remove key/)
  })

  it('cairn key passwd --user --host records them in the new key, as key add does', async () => {
    // They were taken and dropped: the new key had this machine's user and host.
    const repo = join(tmp.path, 'passwd-user')
    await initRepo(repo)
    const pass = join(tmp.path, 'passwd-user-new')
    await fs.writeFile(pass, 'renamed\n')
    const r = await cairn(repo, ['key', 'passwd', '--new-password-file', pass, '--user', 'carol', '--host', 'pi'])
    assert.equal(r.code, 0, r.stderr)
    const keys = json<Array<Record<string, unknown>>>(await restic(repo, ['key', 'list', '--json'], { RESTIC_PASSWORD: 'renamed' }))
    assert.deepEqual(keys.map((k) => [k.userName, k.hostName]), [['carol', 'pi']])
  })
})

describe('readNewPassword()', () => {
  it('reads the whole file trimmed, as restic does, then CAIRN_NEW_PASSWORD, then asks', async () => {
    const tmp = await tempDir('newpw')
    try {
      const file = join(tmp.path, 'pw')
      await fs.writeFile(file, '  spaced secret \n')
      assert.equal(await readNewPassword({ file, env: { CAIRN_NEW_PASSWORD: 'env' } }), 'spaced secret')
      assert.equal(await readNewPassword({ env: { CAIRN_NEW_PASSWORD: 'env' } }), 'env')
      assert.equal(await readNewPassword({ env: {}, prompt: async (q) => (q === 'enter new password: ' ? 'typed' : '') }), 'typed')
      await assert.rejects(readNewPassword({ env: {} }), (err) => isAppError(err, 'NO_PASSWORD'))
    } finally {
      await tmp.remove()
    }
  })
})
