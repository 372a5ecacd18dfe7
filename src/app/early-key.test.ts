import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { earlyDerivations } from '../crypto/early-scrypt.js'
import { WEAK_SCRYPT } from '../repository/testing.js'
import { startKeyDerivationEarly } from './early-key.js'
import { initRepository, openRepository } from './session.js'

describe('startKeyDerivationEarly', () => {
  let dir: string
  let repo: string
  const env = { CAIRN_PASSWORD: 'early bird', CAIRN_CACHE_DIR: '' }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-early-key-'))
    repo = join(dir, 'repo')
    const r = await initRepository({ repo, env, noCache: true }, { scrypt: WEAK_SCRYPT })
    await r.close?.()
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('derives the key of a local repository ahead, and opening it takes that result', async () => {
    for (const argv of [['-r', repo, 'snapshots'], [`--repo=${repo}`, 'ls', 'latest'], [`-r${repo}`, 'backup', '.'], ['backup', '--repo', repo]]) {
      assert.equal(startKeyDerivationEarly(argv, env), 1, argv.join(' '))
      assert.equal(earlyDerivations(), 1)
      const r = await openRepository({ repo, env, noLock: true, noCache: true })
      assert.equal(earlyDerivations(), 0, 'the early derivation was used')
      await r.close?.()
    }
  })

  it('uses the repository and password file of the environment, as the command will', async () => {
    const file = join(dir, 'password')
    await writeFile(file, '  early bird \n')
    assert.equal(startKeyDerivationEarly(['snapshots'], { CAIRN_REPOSITORY: repo, CAIRN_PASSWORD_FILE: file }), 1)
    const r = await openRepository({ env: { CAIRN_REPOSITORY: repo, CAIRN_PASSWORD_FILE: file }, noLock: true, noCache: true })
    assert.equal(earlyDerivations(), 0)
    await r.close?.()
  })

  it('leaves a password file that is a pipe for the command to read', async () => {
    const { execFileSync } = await import('node:child_process')
    const fifo = join(dir, 'password.fifo')
    execFileSync('mkfifo', [fifo])
    // Opening a FIFO for reading would block until a writer comes: nothing must touch it.
    assert.equal(startKeyDerivationEarly(['-r', repo, '--password-file', fifo, 'snapshots'], {}), 0)
    assert.equal(earlyDerivations(), 0)
  })

  it('a wrong password is still refused', async () => {
    const wrong = { CAIRN_PASSWORD: 'not it' }
    assert.equal(startKeyDerivationEarly(['-r', repo, 'snapshots'], wrong), 1)
    await assert.rejects(openRepository({ repo, env: wrong, noLock: true, noCache: true }), (e: Error & { code?: string }) => e.code === 'WRONG_PASSWORD')
    assert.equal(earlyDerivations(), 0)
  })

  it('starts nothing for remote repositories, password commands, missing repositories or help', () => {
    assert.equal(startKeyDerivationEarly(['-r', 'sftp:host:/srv/repo', 'snapshots'], env), 0)
    assert.equal(startKeyDerivationEarly(['-r', 'rest:http://localhost:8000/', 'snapshots'], env), 0)
    assert.equal(startKeyDerivationEarly(['-r', repo, '--password-command', 'echo x', 'snapshots'], env), 0)
    assert.equal(startKeyDerivationEarly(['-r', join(dir, 'missing'), 'snapshots'], env), 0)
    assert.equal(startKeyDerivationEarly(['-r', repo, 'snapshots'], {}), 0, 'no password given: the command will say so')
    assert.equal(startKeyDerivationEarly(['-r', repo, '--help'], env), 0)
    assert.equal(earlyDerivations(), 0)
  })
})
