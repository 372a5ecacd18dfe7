import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { resolvePassword } from './password.js'

describe('resolvePassword()', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-password-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const file = (name: string, text: string) => {
    const p = join(dir, name)
    writeFileSync(p, text)
    return p
  }

  it('reads a password file as restic does: the whole text, trimmed of white space', async () => {
    // The first line was taken as it was: a trailing space or a blank first line gave "Wrong password".
    assert.equal(await resolvePassword({ passwordFile: file('a', 'secret \t\n'), env: {} }), 'secret')
    assert.equal(await resolvePassword({ passwordFile: file('b', '\n  secret\n'), env: {} }), 'secret')
    assert.equal(await resolvePassword({ passwordCommand: 'printf " secret \\n"', env: {} }), 'secret')
  })

  it('takes a command, then a file, then the password in the environment, as restic does; CAIRN_* as a set before RESTIC_*', async () => {
    const f = file('c', 'from-file\n')
    assert.equal(await resolvePassword({ env: { RESTIC_PASSWORD: 'from-env', RESTIC_PASSWORD_FILE: f } }), 'from-file')
    assert.equal(await resolvePassword({ env: { RESTIC_PASSWORD: 'from-env', RESTIC_PASSWORD_COMMAND: 'echo from-command' } }), 'from-command')
    assert.equal(await resolvePassword({ env: { RESTIC_PASSWORD: 'from-env' } }), 'from-env')
    // A leftover of the other tool's set does not win, nor clash.
    assert.equal(await resolvePassword({ env: { CAIRN_PASSWORD: 'cairn', RESTIC_PASSWORD_FILE: f } }), 'cairn')
    assert.equal(await resolvePassword({ env: { CAIRN_PASSWORD_FILE: f, RESTIC_PASSWORD_COMMAND: 'echo x' } }), 'from-file')
    assert.equal(await resolvePassword({ passwordFile: f, env: { CAIRN_PASSWORD_COMMAND: 'echo x' } }), 'from-file', 'a flag beats the environment')
  })

  it('refuses a file and a command together, and names an empty file as such', async () => {
    await assert.rejects(
      resolvePassword({ passwordFile: file('d', 'x\n'), passwordCommand: 'echo y', env: {} }),
      (err) => isAppError(err, 'INVALID_ARGUMENT') && /password file .* and a password command .* are both given/.test(err.message),
    )
    await assert.rejects(resolvePassword({ passwordFile: file('e', ' \n\n'), env: {} }), (err) => isAppError(err, 'NO_PASSWORD') && /holds no password/.test(err.message))
  })

  it('runs a password command with no standard input, as restic does, and names how it failed', { timeout: 20_000 }, async () => {
    // Its stdin was a pipe nobody wrote to or closed: a command that reads it waited for ever.
    assert.equal(await resolvePassword({ passwordCommand: 'read line; echo "got [$line]"', env: {} }), 'got []')
    await assert.rejects(
      resolvePassword({ passwordCommand: 'exit 3', env: {} }),
      (err) => isAppError(err, 'NO_PASSWORD') && err.message === 'Password command "exit 3" failed with exit status 3',
    )
    await assert.rejects(resolvePassword({ passwordCommand: 'kill -TERM $$', env: {} }), (err) => isAppError(err, 'NO_PASSWORD') && /was ended by SIGTERM/.test(err.message))
    await assert.rejects(resolvePassword({ passwordCommand: 'true', env: {} }), (err) => isAppError(err, 'NO_PASSWORD') && /printed no password/.test(err.message))
  })
})
