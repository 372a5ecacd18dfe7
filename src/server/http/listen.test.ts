import assert from 'node:assert/strict'
import { test } from 'node:test'
import { basicCredentials } from '../rest/rest-handler.js'
import { closedRange } from '../rest/range.js'
import { parseByteSize } from '../size.js'
import { parseListenAddress } from './listen.js'

test('parseListenAddress() takes rest-server\'s --listen forms and refuses others', () => {
  assert.deepEqual(parseListenAddress(':8000'), { kind: 'tcp', port: 8000 })
  assert.deepEqual(parseListenAddress('127.0.0.1:0'), { kind: 'tcp', host: '127.0.0.1', port: 0 })
  assert.deepEqual(parseListenAddress('[::1]:8443'), { kind: 'tcp', host: '::1', port: 8443 })
  assert.deepEqual(parseListenAddress('backup.lan:8000'), { kind: 'tcp', host: 'backup.lan', port: 8000 })
  assert.deepEqual(parseListenAddress('unix:/run/cairn.sock'), { kind: 'unix', path: '/run/cairn.sock' })
  for (const bad of ['8000', 'host', ':70000', '::1:80', 'unix:', 'host:port']) assert.throws(() => parseListenAddress(bad), /Invalid listen address/, bad)
})

test('parseByteSize() takes bytes and binary units, and names a bad value', () => {
  assert.equal(parseByteSize('1073741824'), 1073741824)
  assert.equal(parseByteSize(5000), 5000)
  assert.equal(parseByteSize('500M'), 500 * 1024 ** 2)
  assert.equal(parseByteSize('10GiB'), 10 * 1024 ** 3)
  assert.equal(parseByteSize('1.5t'), 1.5 * 1024 ** 4)
  assert.equal(parseByteSize('2 KB'), 2048)
  for (const bad of ['', 'lots', '-1', '5X', '1e3']) assert.throws(() => parseByteSize(bad), /Invalid size/, bad)
  assert.throws(() => parseByteSize(-1), /Invalid size/)
})

test('closedRange() picks out restic\'s bytes=a-b reads only', () => {
  assert.deepEqual(closedRange('bytes=0-99'), { start: 0, end: 99 })
  for (const h of [undefined, 'bytes=0-', 'bytes=-5', 'bytes=5-1', 'bytes=0-1,3-4', 'items=0-1']) assert.equal(closedRange(h), undefined, String(h))
})

test('basicCredentials() decodes HTTP Basic auth, keeping colons in the password', () => {
  const h = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`
  assert.deepEqual(basicCredentials(h('alice:pa:ss')), { user: 'alice', password: 'pa:ss' })
  assert.deepEqual(basicCredentials(h('jürgen:ö')), { user: 'jürgen', password: 'ö' })
  assert.deepEqual(basicCredentials(`basic  ${Buffer.from('a:b').toString('base64')}`), { user: 'a', password: 'b' })
  for (const bad of [undefined, 'Bearer x', 'Basic', h('no-colon'), 'Basic ###']) assert.equal(basicCredentials(bad), undefined, String(bad))
})
