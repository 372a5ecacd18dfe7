import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { bashCompletion, fishCompletion, manPages } from './completion.js'
import { buildProgram } from './program.js'

const { program } = await buildProgram([])

describe('bash completion', () => {
  let dir: string
  let script: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cairn-completion-'))
    script = join(dir, 'cairn.bash')
    writeFileSync(script, bashCompletion(program))
    writeFileSync(join(dir, 'notes.txt'), '')
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  /** What bash offers after the words typed so far (the last one is being completed). */
  const complete = (...words: string[]): string[] => {
    const quoted = words.map((w) => `'${w}'`).join(' ')
    const r = spawnSync('bash', ['-c', `source '${script}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _cairn; printf '%s\\n' "\${COMPREPLY[@]}"`], { cwd: dir, encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    return r.stdout.split('\n').filter((l) => l !== '').sort()
  }

  it('offers the commands, and the subcommands of a command', () => {
    assert.deepEqual(complete('cairn', 're'), ['rebuild-index', 'recover', 'repair', 'restore', 'rewrite'])
    assert.deepEqual(complete('cairn', 'repair', ''), ['index', 'packs', 'snapshots'])
    assert.deepEqual(complete('cairn', '-r', '/srv/repo', 'key', 'p'), ['passwd'])
  })

  it("offers a command's own flags and the global ones", () => {
    assert.deepEqual(complete('cairn', 'backup', '--exclude-'), ['--exclude-caches', '--exclude-file', '--exclude-if-present', '--exclude-larger-than'])
    assert.deepEqual(complete('cairn', 'snapshots', '--pas'), ['--password-command', '--password-file'])
  })

  it('offers the words a flag takes, and file names for other values and for paths', () => {
    assert.deepEqual(complete('cairn', '--compression', ''), ['auto', 'max', 'off'])
    assert.deepEqual(complete('cairn', 'dump', '--archive', 'z'), ['zip'])
    assert.deepEqual(complete('cairn', 'backup', '--exclude-file', 'no'), ['notes.txt'])
    assert.deepEqual(complete('cairn', 'backup', '--tag', 'x', 'no'), ['notes.txt'])
  })
})

describe('fish completion and man pages', () => {
  it('describes each command and flag for fish', () => {
    const fish = fishCompletion(program)
    assert.match(fish, /^complete -c cairn -n '__fish_use_subcommand' -a backup -d 'Create a new snapshot of files and directories'$/m)
    assert.match(fish, /^complete -c cairn -n '__fish_seen_subcommand_from repair; and not __fish_seen_subcommand_from index packs snapshots' -a index -d /m)
    assert.match(fish, /^complete -c cairn -n '__fish_seen_subcommand_from backup' -l exclude -s e -r -F -d 'exclude a pattern \(repeatable\)'$/m)
    assert.match(fish, /^complete -c cairn -l compression -x -a 'auto off max' -d /m)
  })

  it('writes a page per command, with its flags, the global flags and its examples', () => {
    const pages = manPages(program, new Date('2026-11-24T00:00:00Z'))
    assert.ok(pages.has('cairn.1') && pages.has('cairn-repair-index.1') && pages.has('cairn-key-passwd.1'))
    const backup = pages.get('cairn-backup.1')!
    assert.match(backup, /^\.TH "CAIRN-BACKUP" 1 "2026-11-24" "cairn" "cairn manual"$/m)
    assert.match(backup, /^\.B \\-e, \\-\\-exclude <pattern>$/m)
    assert.match(backup, /^\.SH GLOBAL OPTIONS$/m)
    assert.match(backup, /pg_dump mydb \| cairn backup \\-\\-stdin/)
    assert.doesNotMatch(backup, /\\-\\-version/, 'only the program takes --version')
    const groff = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z'], { input: backup, encoding: 'utf8' })
    if (groff.error === undefined) assert.equal(groff.stderr, '', 'groff has no complaint')
  })
})
