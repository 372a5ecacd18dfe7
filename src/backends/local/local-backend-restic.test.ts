import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FILE_TYPES } from '../backend.js'
import { LocalBackend } from './local-backend.js'

const RESTIC = '/usr/bin/restic'
const skip = existsSync(RESTIC) ? false : 'restic is not installed'

let root = ''
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cairn-local-restic-'))
})
after(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true })
})

function restic(repo: string, ...args: string[]): string {
  return execFileSync(RESTIC, ['--repo', repo, '--no-cache', '--quiet', ...args], {
    env: { ...process.env, RESTIC_PASSWORD: 'cairn-test' },
    encoding: 'utf8',
  })
}

describe('LocalBackend with restic', { skip }, () => {
  it('copies a restic repository file by file into a repository restic checks clean and writes to', async () => {
    const src = join(root, 'src')
    await mkdir(src)
    await writeFile(join(src, 'random.bin'), randomBytes(3_000_000))
    await writeFile(join(src, 'small.txt'), 'hello restic\n')
    const original = join(root, 'original')
    restic(original, 'init')
    restic(original, 'backup', src)

    const from = new LocalBackend(original)
    const to = new LocalBackend(join(root, 'copy'))
    await to.create()
    await to.save({ type: 'config', name: '' }, await from.load({ type: 'config', name: '' }))
    for (const type of FILE_TYPES) {
      if (type === 'config') continue
      const names: string[] = []
      for await (const { name, size } of from.list(type)) {
        const data = await from.load({ type, name })
        assert.equal(data.length, size)
        await to.save({ type, name }, data)
        names.push(name)
      }
      if (type !== 'locks') {
        const kind = type === 'data' ? 'packs' : type
        const listed = restic(original, 'list', kind).trim().split('\n').sort()
        assert.deepEqual(names.sort(), listed, `our listing of ${type} matches restic's`)
      }
    }

    restic(to.location, 'check', '--read-data')
    await writeFile(join(src, 'later.txt'), 'second backup\n')
    restic(to.location, 'backup', src)
    restic(to.location, 'check')
    let snapshots = 0
    for await (const _ of to.list('snapshots')) snapshots++
    assert.equal(snapshots, 2)
    for await (const { name } of to.list('snapshots')) {
      assert.equal((await stat(join(to.location, 'snapshots', name))).mode & 0o777, 0o400)
    }
  })
})
