import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AppError, isAppError } from '../../base/index.js'
import type { Handle } from '../backend.js'
import { NotFoundError } from '../errors.js'
import { MemoryBackend } from '../memory/memory-backend.js'
import { FaultyBackend } from '../testing/faulty.js'
import { wrapBackend } from './compose.js'
import { createScrubber, scrubError, withScrubbedErrors } from './scrub.js'
import { secretsOf } from './secrets.js'

const H: Handle = { type: 'data', name: 'a'.repeat(64) }

describe('secretsOf()', () => {
  it('finds the URL password (as written, decoded, and as a Basic-auth token)', () => {
    const s = secretsOf('rest:https://alice:p%40ss%2Fw0rd@host:8000/repo/', {})
    assert.ok(s.includes('p%40ss%2Fw0rd'))
    assert.ok(s.includes('p@ss/w0rd'))
    assert.ok(s.includes(Buffer.from('alice:p@ss/w0rd').toString('base64')))
    assert.deepEqual(secretsOf('sftp:alice@host:/srv/repo', {}), [])
    assert.deepEqual(secretsOf('rest:http://alice@host/', {}), [], 'a user without password has no secret')
  })

  it('takes known credential variables, and others whose names look secret', () => {
    const env = {
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI',
      AWS_SESSION_TOKEN: 'FwoGZXIvYXdzE',
      RESTIC_REST_PASSWORD: 'xy', // known: scrubbed however short
      RCLONE_CONFIG_PASS: 'rclonepass',
      MY_API_KEY: 'k-123456',
      GITHUB_TOKEN: 'ghp_abcdef',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', // an ID, not a secret
      RESTIC_PASSWORD_FILE: '/etc/restic/pw', // where a secret is
      SOME_PASSWORD: 'no', // guessed, but too short to scrub
      HOME: '/root',
    }
    const s = new Set(secretsOf('s3:https://s3.example.com/bucket', env))
    for (const v of ['wJalrXUtnFEMI', 'FwoGZXIvYXdzE', 'xy', 'rclonepass', 'k-123456', 'ghp_abcdef']) assert.ok(s.has(v), v)
    for (const v of ['AKIAEXAMPLE', '/etc/restic/pw', 'no', '/root']) assert.ok(!s.has(v), v)
  })
})

describe('createScrubber()', () => {
  it('replaces a short secret only where it stands alone, so messages stay readable', () => {
    const scrub = createScrubber(['x1', 'a.b', 'Hunt'])
    assert.equal(scrub('key Hunt refused'), 'key *** refused', 'a short secret that is not a lower-case word is hidden anywhere')
    assert.equal(scrub('File "data/x1a" does not exist'), 'File "data/x1a" does not exist')
    assert.equal(scrub('password x1 was refused (x1)'), 'password *** was refused (***)')
    assert.equal(scrub('user a.b, not a.bc'), 'user ***, not a.bc')
  })

  it('replaces every occurrence, longest secret first', () => {
    const scrub = createScrubber(['ab1', 'ab1def', ''])
    assert.equal(scrub('x ab1def y ab1 z ab1defab1'), 'x *** y *** z ******')
    assert.equal(createScrubber([])('unchanged'), 'unchanged')
  })

  it('hides the password of any URL by its place, and a word or address only there, so messages stay whole', () => {
    // A password that is a word of the message, or the server's address: replacing it everywhere
    // garbles the message and tells whoever reads it which word the password is.
    const scrub = createScrubber(['wrong', 'credentials', '127.0.0.1'])
    assert.equal(
      scrub('rest:http://alice:wrong@127.0.0.1:8000/ said: missing or wrong credentials'),
      'rest:http://alice:***@127.0.0.1:8000/ said: missing or wrong credentials',
    )
    assert.equal(scrub('http://bob:127.0.0.1@127.0.0.1:8000/'), 'http://bob:***@127.0.0.1:8000/')
    assert.equal(createScrubber([])('sftp://me:anything@nas/x'), 'sftp://me:***@nas/x', 'even a password not known as a secret')
    assert.equal(createScrubber(['correcthorsebattery'])('key correcthorsebattery'), 'key ***', 'a long one is hidden wherever it is')
  })
})

describe('scrubError()', () => {
  it('scrubs message, hint, stack and causes in place, keeping class and code', () => {
    const cause = new Error('token s3cret in cause')
    const err = new AppError('NETWORK', 'Cannot reach https://u:s3cret@host', { hint: 'check s3cret', cause })
    const out = scrubError(err, createScrubber(['s3cret']))
    assert.equal(out, err)
    assert.ok(isAppError(out, 'NETWORK'))
    assert.equal(err.message, 'Cannot reach https://u:***@host')
    assert.equal(err.hint, 'check ***')
    assert.ok(!err.stack?.includes('s3cret'))
    assert.equal(cause.message, 'token *** in cause')
  })
})

describe('withScrubbedErrors()', () => {
  it('scrubs errors from every method and from listing, and keeps NotFoundError recognisable', async () => {
    const faulty = new FaultyBackend()
    const leak = () => new AppError('PERMISSION_DENIED', 'server said: bad key hunter2')
    faulty.failNext('save', 1, { error: leak }).failNext('stat', 1, { error: leak }).failListAfter(0, 1, leak).failNext('remove', 1, { error: leak })
    const be = withScrubbedErrors(faulty, createScrubber(['hunter2']))
    const clean = (err: unknown) => isAppError(err, 'PERMISSION_DENIED') && err.message === 'server said: bad key ***'
    await assert.rejects(be.save(H, Buffer.from('x')), clean)
    await assert.rejects(be.stat(H), clean)
    await assert.rejects(be.remove(H), clean)
    await assert.rejects(async () => {
      for await (const _ of be.list('data'));
    }, clean)
    await assert.rejects(be.load(H), (err: unknown) => err instanceof NotFoundError)
  })
})

describe('wrapBackend()', () => {
  const url = 'rest:https://alice:hunter2@backup.example:8000/repo/'

  it('scrubs retry notices and the lines a backend reports itself', async () => {
    const messages: string[] = []
    const faulty = new FaultyBackend()
    faulty.failNext('stat', 2, { error: () => new AppError('NETWORK', 'connect to https://alice:hunter2@backup.example failed') })
    const be = wrapBackend(
      'rest',
      url,
      { env: { AWS_SECRET_ACCESS_KEY: 'ZZsecretZZ' }, onMessage: (m) => messages.push(m) },
      (o) => {
        o.onMessage?.('rclone: using key ZZsecretZZ')
        return faulty
      },
      { initialDelayMs: 1, jitter: 0 },
    )
    await assert.rejects(be.stat(H), NotFoundError)
    assert.equal(messages.length, 3)
    assert.equal(messages[0], 'rclone: using key ***')
    for (const m of messages) assert.ok(!m.includes('hunter2') && !m.includes('ZZsecretZZ'), m)
    assert.match(messages[1], /^Stat\(data\/aaaaaaaaaa\) failed: connect to https:\/\/alice:\*\*\*@backup\.example failed, retrying in 1ms$/)
  })

  it('scrubs an error thrown while the backend is opened', () => {
    assert.throws(
      () =>
        wrapBackend('rest', url, {}, () => {
          throw new AppError('INVALID_ARGUMENT', 'bad URL https://alice:hunter2@x')
        }),
      (err: unknown) => isAppError(err, 'INVALID_ARGUMENT') && err.message === 'bad URL https://alice:***@x',
    )
  })

  it('limits connections from -o <scheme>.connections, else the backend\'s own count', async () => {
    const mem = new MemoryBackend()
    assert.equal(wrapBackend('sftp', 'sftp:host:/r', { extended: { 'sftp.connections': '2' } }, () => mem).properties.connections, 2)
    assert.equal(wrapBackend('sftp', 'sftp:host:/r', {}, () => mem).properties.connections, mem.properties.connections)
    assert.throws(
      () => wrapBackend('s3', 's3:host/bucket', { extended: { 's3.connections': 'many' } }, () => mem),
      (err: unknown) => isAppError(err, 'INVALID_ARGUMENT') && /-o s3\.connections=many/.test(err.message),
    )
  })

  it('leaves memory backends alone and gives local ones only a requested connection limit', () => {
    const mem = new MemoryBackend()
    assert.equal(wrapBackend('memory', 'memory:x', { extended: { 'memory.connections': '1' } }, () => mem), mem)
    assert.equal(wrapBackend('local', '/srv/repo', {}, () => mem), mem)
    assert.equal(wrapBackend('local', '/srv/repo', { extended: { 'local.connections': '1' } }, () => mem).properties.connections, 1)
  })
})
