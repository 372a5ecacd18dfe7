import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { listTree, writeFiles } from '../archiver/testing.js'
import type { Repository } from '../repository/index.js'
import { createTestRepository } from '../repository/testing.js'
import { runBackup } from './backup.js'
import { runRestore, type RestoreRequest } from './restore.js'

describe('runRestore()', () => {
  let dir: string
  let src: string
  let repo: Repository
  let n = 0

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-app-restore-'))
    src = join(dir, 'src')
    await writeFiles(src, {
      'docs/a.txt': 'a',
      'docs/b.md': 'b',
      'docs/old/c.txt': 'c',
      'music/song.MP3': 'm',
      'music/list.txt': 'l',
      'top.txt': 't',
    })
    repo = await createTestRepository()
    await runBackup(repo, { paths: [src] })
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  async function restoreWith(req: Partial<RestoreRequest>): Promise<string[]> {
    const target = join(dir, `t${n++}`)
    const result = await runRestore(repo, { snapshot: 'latest', target, ...req })
    assert.equal(result.summary.errors, 0)
    return listTree(join(target, src)).catch(() => [])
  }

  it('restores everything by default', async () => {
    assert.deepEqual(await restoreWith({}), [
      'docs/',
      'docs/a.txt',
      'docs/b.md',
      'docs/old/',
      'docs/old/c.txt',
      'music/',
      'music/list.txt',
      'music/song.MP3',
      'top.txt',
    ])
  })

  it('--exclude leaves out matching paths and everything below them', async () => {
    assert.deepEqual(await restoreWith({ exclude: ['*.txt', 'music'] }), ['docs/', 'docs/b.md', 'docs/old/'])
  })

  it('--include restores matching paths, everything below them, and only the directories leading there', async () => {
    assert.deepEqual(await restoreWith({ include: [`${src}/docs/old`] }), ['docs/', 'docs/old/', 'docs/old/c.txt'])
    assert.deepEqual(await restoreWith({ include: ['*.md'] }), ['docs/', 'docs/b.md'])
  })

  it('--include and --exclude together: excludes win', async () => {
    assert.deepEqual(await restoreWith({ include: [`${src}/docs`], exclude: ['old'] }), ['docs/', 'docs/a.txt', 'docs/b.md'])
  })

  it('--iinclude and --iexclude ignore case', async () => {
    assert.deepEqual(await restoreWith({ iinclude: ['*.mp3'] }), ['music/', 'music/song.MP3'])
    assert.deepEqual(await restoreWith({ iexclude: ['*.MP3', 'DOCS', 'TOP.TXT'] }), ['music/', 'music/list.txt'])
  })

  it('SNAPSHOT:PATH restores a sub-folder directly into the target', async () => {
    const target = join(dir, 'sub')
    const result = await runRestore(repo, { snapshot: `latest:${src}/docs`, target, include: ['*.txt'] })
    assert.equal(result.summary.files, 2)
    assert.deepEqual(await listTree(target), ['a.txt', 'old/', 'old/c.txt'])
  })

  it('fails with INVALID_ARGUMENT for a missing target or a path that is not a directory', async () => {
    await assert.rejects(runRestore(repo, { snapshot: 'latest', target: '' }), (err) => isAppError(err, 'INVALID_ARGUMENT'))
    await assert.rejects(
      runRestore(repo, { snapshot: `latest:${src}/top.txt`, target: join(dir, 'x') }),
      (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message.includes('top.txt'),
    )
    await assert.rejects(runRestore(repo, { snapshot: `latest:${src}/nope`, target: join(dir, 'x') }), (err) => isAppError(err, 'NOT_FOUND'))
  })

  it('refuses a malformed include or exclude pattern, as restic does, instead of restoring nothing', async () => {
    const cases: Array<[string, Partial<RestoreRequest>]> = [
      ['--include', { include: ['['] }],
      ['--iinclude', { iinclude: ['docs/[^]'] }],
      ['--exclude', { exclude: ['a\\'] }],
      ['--iexclude', { iexclude: ['[z-'] }],
    ]
    for (const [flag, req] of cases) {
      const target = join(dir, `bad-pattern-${n++}`)
      await assert.rejects(runRestore(repo, { snapshot: 'latest', target, ...req }), (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message.includes(`for ${flag}:`))
      assert.deepEqual(await listTree(target).catch(() => 'no target'), 'no target', 'nothing was restored')
    }
  })
})
