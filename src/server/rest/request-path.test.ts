import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseRestTarget } from './request-path.js'

const id = 'a'.repeat(64)

test('parseRestTarget() maps restic\'s requests to routes with 0 to 2 repository segments', () => {
  const route = (t: string) => {
    const p = parseRestTarget(t)
    assert.ok(p.ok, `${t}: ${p.ok ? '' : p.reason}`)
    return p.route
  }
  assert.deepEqual(route('/'), { kind: 'repository', repo: [] })
  assert.deepEqual(route('/?create=true'), { kind: 'repository', repo: [] })
  assert.deepEqual(route('/alice/'), { kind: 'repository', repo: ['alice'] })
  assert.deepEqual(route('/alice/laptop/'), { kind: 'repository', repo: ['alice', 'laptop'] })
  assert.deepEqual(route('/config'), { kind: 'config', repo: [] })
  assert.deepEqual(route('/alice/laptop/config'), { kind: 'config', repo: ['alice', 'laptop'] })
  assert.deepEqual(route('/data/'), { kind: 'list', repo: [], type: 'data' })
  assert.deepEqual(route('/alice/keys/'), { kind: 'list', repo: ['alice'], type: 'keys' })
  assert.deepEqual(route(`/alice/data/${id}`), { kind: 'object', repo: ['alice'], type: 'data', id })
  assert.deepEqual(route(`/a/b/snapshots/${id}`), { kind: 'object', repo: ['a', 'b'], type: 'snapshots', id })
  // rest-server's user name characters, Unicode letters percent-encoded as Go sends them
  assert.deepEqual(route('/j%C3%BCrgen@host.example_1-2/'), { kind: 'repository', repo: ['jürgen@host.example_1-2'] })
})

test('parseRestTarget() reads the query: create=true on a repository path', () => {
  const p = parseRestTarget('/alice/?create=true')
  assert.ok(p.ok)
  assert.equal(p.query.get('create'), 'true')
})

test('parseRestTarget() refuses traversal, odd names and depth with 400 or 404', () => {
  const cases: Array<[string, 400 | 404]> = [
    ['/../config', 404],
    ['/alice/../bob/config', 404],
    ['/%2e%2e/config', 404],
    ['/alice%2f..%2fbob/config', 404],
    ['/alice%2Fbob/config', 404],
    ['/alice%5cbob/config', 404],
    ['/alice%00/config', 404],
    ['/./config', 404],
    ['//config', 404],
    ['/alice//config', 404],
    ['/.htpasswd/config', 404],
    ['/alice/%252e%252e/config', 404],
    ['/a/b/c/config', 404],
    ['/alice', 404],
    ['/alice/config/', 404],
    ['/alice/data', 404],
    [`/alice/data/${id}/`, 404],
    [`/alice/data/${'A'.repeat(64)}`, 404],
    [`/alice/data/${'a'.repeat(63)}`, 404],
    [`/alice/data/aa/${id}`, 404],
    ['/alice\\..\\bob/config', 400],
    ['/alice/%zz/config', 400],
    ['/alice/%c0%ae%c0%ae/config', 400],
    ['http://host/alice/config', 400],
    ['*', 400],
    ['/alice/\u00e9/config', 400],
    [`/${'x'.repeat(3000)}/config`, 400],
  ]
  for (const [target, status] of cases) {
    const p = parseRestTarget(target)
    assert.equal(p.ok, false, `${target} was accepted`)
    if (!p.ok) assert.equal(p.status, status, `${target}: ${p.reason}`)
  }
})
