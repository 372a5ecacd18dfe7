import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, describe, it } from 'node:test'
import { expandVariables, globPaths, readListFiles } from './list-files.js'

describe('exclude files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-list-files-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('expand $NAME and ${NAME} from the environment, and $$ to $, as restic reads them', async () => {
    // Variables were taken literally, so a line such as $HOME/.cache matched nothing.
    const env = { BASE: '/home/me', X: 'x' }
    assert.equal(expandVariables('$BASE/.cache', env), '/home/me/.cache')
    assert.equal(expandVariables('${BASE}x/$X.tmp', env), '/home/mex/x.tmp')
    assert.equal(expandVariables('$UNSET/a', env), '/a')
    assert.equal(expandVariables('price$$', env), 'price$')
    assert.equal(expandVariables('a$/b', env), 'a$/b')
    const file = join(dir, 'excludes')
    writeFileSync(file, '# comment\n$CAIRN_TEST_BASE/cache\n\n*.tmp\n')
    process.env.CAIRN_TEST_BASE = '/srv'
    try {
      assert.deepEqual(await readListFiles([file], 'exclude file', 'patterns'), ['/srv/cache', '*.tmp'])
      assert.deepEqual(await readListFiles([file], 'files-from list'), ['$CAIRN_TEST_BASE/cache', '*.tmp'], 'not in other lists')
    } finally {
      delete process.env.CAIRN_TEST_BASE
    }
  })
})

describe('globPaths()', () => {
  it('expands a --files-from line as restic does (filepath.Glob)', async () => {
    // Lines were taken literally: logs/*.log was a path that did not exist.
    const dir = mkdtempSync(join(tmpdir(), 'cairn-glob-'))
    try {
      for (const f of ['logs/a.log', 'logs/b.log', 'logs/c.txt', 'other/x.log', 'we[ird].log']) {
        const p = join(dir, f)
        mkdirSync(dirname(p), { recursive: true })
        writeFileSync(p, 'x')
      }
      assert.deepEqual(await globPaths(`${dir}/logs/*.log`), [`${dir}/logs/a.log`, `${dir}/logs/b.log`])
      assert.deepEqual(await globPaths(`${dir}/*/?.log`), [`${dir}/logs/a.log`, `${dir}/logs/b.log`, `${dir}/other/x.log`])
      assert.deepEqual(await globPaths(`${dir}/we\\[ird\\].log`), [`${dir}/we[ird].log`])
      assert.deepEqual(await globPaths(`${dir}/logs/c.txt`), [`${dir}/logs/c.txt`])
      assert.deepEqual(await globPaths(`${dir}/nothing/*`), [])
      assert.deepEqual(await globPaths(`${dir}/missing.txt`), [])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
