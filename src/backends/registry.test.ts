import assert from 'node:assert/strict'
import { resolve } from 'node:path'
import { describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { LocalBackend } from './local/local-backend.js'
import { MemoryBackend } from './memory/memory-backend.js'
import { openBackend, parseRepositoryUrl, stripPassword } from './registry.js'

describe('parseRepositoryUrl()', () => {
  const cases: Array<[string, ReturnType<typeof parseRepositoryUrl>]> = [
    ['/srv/restic-repo', { scheme: 'local', path: '/srv/restic-repo' }],
    ['relative/path', { scheme: 'local', path: 'relative/path' }],
    ['../up/repo', { scheme: 'local', path: '../up/repo' }],
    ['/path/with:colon', { scheme: 'local', path: '/path/with:colon' }],
    ['local:/srv/repo', { scheme: 'local', path: '/srv/repo' }],
    ['local:relative:with:colons', { scheme: 'local', path: 'relative:with:colons' }],
    ['C:\\Users\\me\\repo', { scheme: 'local', path: 'C:\\Users\\me\\repo' }],
    ['memory:', { scheme: 'memory', name: '' }],
    ['memory:t1', { scheme: 'memory', name: 't1' }],
    ['sftp:user@host:/srv/repo', { scheme: 'sftp', user: 'user', host: 'host', path: '/srv/repo' }],
    ['sftp:host:backups/repo/', { scheme: 'sftp', host: 'host', path: 'backups/repo' }],
    ['sftp:me@example.com@host:/a//b/../c', { scheme: 'sftp', user: 'me@example.com', host: 'host', path: '/a/c' }],
    ['sftp://user@host:2222//srv/repo', { scheme: 'sftp', user: 'user', host: 'host', port: 2222, path: '/srv/repo' }],
    ['sftp://host/relative/dir', { scheme: 'sftp', host: 'host', path: 'relative/dir' }],
    ['sftp://us%40er@[::1]:22//x', { scheme: 'sftp', user: 'us@er', host: '[::1]', port: 22, path: '/x' }],
    [
      's3:https://minio.local:9000/bucket/some/prefix',
      { scheme: 's3', endpoint: 'minio.local:9000', bucket: 'bucket', prefix: 'some/prefix', useHttp: false },
    ],
    ['s3:http://10.0.0.1:9000/bucket', { scheme: 's3', endpoint: '10.0.0.1:9000', bucket: 'bucket', prefix: '', useHttp: true }],
    ['s3:s3.amazonaws.com/bucket', { scheme: 's3', endpoint: 's3.amazonaws.com', bucket: 'bucket', prefix: '', useHttp: false }],
    [
      's3:s3.us-east-1.amazonaws.com/bucket/a/b/',
      { scheme: 's3', endpoint: 's3.us-east-1.amazonaws.com', bucket: 'bucket', prefix: 'a/b', useHttp: false },
    ],
    ['s3://host/bucket/p', { scheme: 's3', endpoint: 'host', bucket: 'bucket', prefix: 'p', useHttp: false }],
    ['rest:http://host:8000', { scheme: 'rest', url: 'http://host:8000/' }],
    ['rest:https://host/user/repo/', { scheme: 'rest', url: 'https://host/user/repo/' }],
    [
      'rest:https://alice:p%40ss:w@host:8000/alice/',
      { scheme: 'rest', url: 'https://host:8000/alice/', username: 'alice', password: 'p@ss:w' },
    ],
    ['rclone:b2prod:bucket/repo', { scheme: 'rclone', remote: 'b2prod:bucket/repo' }],
    ['rclone:/tmp/repo', { scheme: 'rclone', remote: '/tmp/repo' }],
  ]
  for (const [url, want] of cases) {
    it(`parses "${url}"`, () => {
      assert.deepEqual(parseRepositoryUrl(url), want)
    })
  }

  const invalid: Array<[string, RegExp]> = [
    ['', /empty/],
    ['local:', /no path/],
    ['foo:bar', /unknown backend "foo"/],
    ['sftp:hostonly', /host or path missing/],
    ['sftp::/path', /no host/],
    ['sftp://host', /no directory/],
    ['sftp:host:~/repo', /"~"/],
    ['s3:host', /no bucket/],
    ['s3:/bucket', /no host/],
    ['s3:https://host', /no bucket/],
    ['rest:ftp://host/', /unsupported protocol "ftp"/],
    ['rest:http://', /not a valid URL/],
    ['rclone:', /no rclone remote/],
  ]
  for (const [url, why] of invalid) {
    it(`rejects "${url}" with INVALID_ARGUMENT`, () => {
      assert.throws(
        () => parseRepositoryUrl(url),
        (err: unknown) => isAppError(err, 'INVALID_ARGUMENT') && why.test(err.message),
      )
    })
  }

  it('rejects backends restic has and cairn does not, with a hint to use rclone', () => {
    assert.throws(
      () => parseRepositoryUrl('b2:bucket:path'),
      (err: unknown) => isAppError(err, 'UNSUPPORTED') && /"b2"/.test(err.message) && /rclone/.test(err.hint ?? ''),
    )
  })

  it('never puts the password into an error message', () => {
    assert.throws(
      () => parseRepositoryUrl('rest:ftp://bob:hunter2@host/'),
      (err: unknown) => isAppError(err) && !err.message.includes('hunter2') && err.message.includes('bob:***@'),
    )
  })
})

describe('stripPassword()', () => {
  it('replaces a password in rest, sftp and s3 URLs', () => {
    assert.equal(stripPassword('rest:https://alice:s3cret@host:8000/repo/'), 'rest:https://alice:***@host:8000/repo/')
    assert.equal(stripPassword('rest:http://u:p@ss@host/'), 'rest:http://u:***@host/')
    assert.equal(stripPassword('sftp://u:pw@host//srv'), 'sftp://u:***@host//srv')
    assert.equal(stripPassword('s3:https://k:secret@host/bucket'), 's3:https://k:***@host/bucket')
  })

  it('keeps locations without a password as written', () => {
    for (const url of [
      'rest:https://alice@host/repo/',
      'rest:http://host:8000',
      'sftp:user@host:/a:b',
      '/srv/user:pw@x',
      'rclone:remote:path',
      'rest:http://host/path@x',
    ]) {
      assert.equal(stripPassword(url), url)
    }
  })
})

describe('openBackend()', () => {
  it('opens a local path as a LocalBackend at the absolute path', async () => {
    const be = await openBackend('some/relative/repo')
    assert.ok(be instanceof LocalBackend)
    assert.equal(be.location, resolve('some/relative/repo'))
    assert.equal((await openBackend('local:/srv/x')).location, '/srv/x')
  })

  it('opens the same memory repository for the same name', async () => {
    const a = await openBackend('memory:registry-test')
    assert.ok(a instanceof MemoryBackend)
    await a.save({ type: 'config', name: '' }, Buffer.from('cfg'))
    const b = await openBackend('memory:registry-test')
    assert.deepEqual(await b.load({ type: 'config', name: '' }), Buffer.from('cfg'))
    assert.notEqual(await openBackend('memory:registry-other'), a)
  })

  it('opens every scheme without connecting, and never shows the password in the location', async () => {
    for (const url of [
      'sftp:alice@host:/srv',
      's3:https://s3.example.com/bucket/prefix',
      'rest:https://bob:hunter2@host:8000/repo/',
      'rclone:remote:path',
    ]) {
      const be = await openBackend(url)
      assert.equal(typeof be.save, 'function', url)
      assert.ok(!be.location.includes('hunter2'), `${url} → ${be.location}`)
      await be.close()
    }
  })
})
