import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { mkdir, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { errnoCode } from './errors.js'
import { makeDirectories } from './make-directories.js'

describe('makeDirectories()', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-mkdirs-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const fs = { stat, mkdir }

  it('makes the missing folders with the mode given, and is content when they exist', async () => {
    const deep = join(dir, 'a', 'b', 'c')
    await makeDirectories(deep, 0o700, fs)
    assert.equal(statSync(deep).mode & 0o777, 0o700)
    assert.equal(statSync(join(dir, 'a')).mode & 0o777, 0o700)
    await makeDirectories(deep, 0o700, fs)
  })

  it('fails where a file is in the way', async () => {
    writeFileSync(join(dir, 'file'), 'x')
    await assert.rejects(makeDirectories(join(dir, 'file', 'sub'), 0o700, fs), (err) => errnoCode(err) === 'ENOTDIR')
  })

  it('fails, rather than spinning for ever as Node\'s recursive mkdir does, where no folder can be made', { skip: !existsSync('/proc/self') }, async () => {
    await assert.rejects(makeDirectories('/proc/cairn-test/x', 0o700, fs), (err) => errnoCode(err) === 'ENOENT')
  })
})
