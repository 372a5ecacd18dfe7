import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { repositoryLocation } from './session.js'

describe('repositoryLocation()', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-session-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'repository')
  writeFileSync(file, '  sftp:nas:/srv/cairn\n')
  const env = { HOME: dir }

  it('reads --repository-file and CAIRN_/RESTIC_REPOSITORY_FILE, trimmed, as restic does', () => {
    assert.deepEqual(repositoryLocation({ repositoryFile: file, env }), { url: 'sftp:nas:/srv/cairn', isDefault: false })
    assert.equal(repositoryLocation({ env: { ...env, RESTIC_REPOSITORY_FILE: file } }).url, 'sftp:nas:/srv/cairn')
    assert.equal(repositoryLocation({ env: { ...env, CAIRN_REPOSITORY_FILE: file } }).url, 'sftp:nas:/srv/cairn')
  })

  it('lets a flag win over the environment, and refuses a URL and a file given together', () => {
    assert.equal(repositoryLocation({ repo: '/srv/a', env: { ...env, CAIRN_REPOSITORY_FILE: file } }).url, '/srv/a')
    assert.equal(repositoryLocation({ repositoryFile: file, env: { ...env, CAIRN_REPOSITORY: '/srv/b' } }).url, 'sftp:nas:/srv/cairn')
    assert.throws(() => repositoryLocation({ repo: '/srv/a', repositoryFile: file, env }), (err) => isAppError(err, 'INVALID_ARGUMENT') && /Both a repository/.test(err.message))
    assert.throws(() => repositoryLocation({ env: { ...env, RESTIC_REPOSITORY: '/srv/a', RESTIC_REPOSITORY_FILE: file } }), /Both a repository/)
  })

  it('names a repository file it cannot read, or one that is empty', () => {
    assert.throws(() => repositoryLocation({ repositoryFile: join(dir, 'missing'), env }), (err) => isAppError(err, 'INVALID_ARGUMENT') && /Cannot read the repository file ".*missing": ENOENT/.test(err.message))
    const empty = join(dir, 'empty')
    writeFileSync(empty, '\n')
    assert.throws(() => repositoryLocation({ repositoryFile: empty, env }), /is empty/)
  })
})
