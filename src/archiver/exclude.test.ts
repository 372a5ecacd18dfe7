import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createTestRepository } from '../repository/testing.js'
import { backup } from './archiver.js'
import { checkPatterns, compileIgnoreLine, ExcludeMatcher, matchComponent, parseSize, patternProblem } from './exclude.js'
import { nodesAt, writeFiles } from './testing.js'

/** Asserts which of `paths` the patterns exclude. */
function check(options: ConstructorParameters<typeof ExcludeMatcher>[0], excluded: string[], kept: string[]): void {
  const m = new ExcludeMatcher(options)
  for (const p of excluded) assert.equal(m.excludedByPattern(p), true, `${p} should be excluded by ${JSON.stringify(options)}`)
  for (const p of kept) assert.equal(m.excludedByPattern(p), false, `${p} should be kept by ${JSON.stringify(options)}`)
}

describe('matchComponent()', () => {
  it('follows Go filepath.Match for one path component', () => {
    const yes: Array<[string, string]> = [
      ['*.go', 'main.go'],
      ['*', ''],
      ['a*b*c', 'axxbyyc'],
      ['?at', 'cat'],
      ['[a-c]at', 'bat'],
      ['[^a-c]at', 'rat'],
      ['[!x]', '!'], // Go negates with ^ only
      ['[xyz]', 'y'],
      ['\\*', '*'],
      ['a\\?', 'a?'],
    ]
    const no: Array<[string, string]> = [
      ['*.go', 'main.gox'],
      ['?at', 'at'],
      ['[a-c]at', 'rat'],
      ['[^a-c]at', 'bat'],
      ['[!x]', 'y'],
      ['\\*', 'a'],
      ['abc', 'abcd'],
    ]
    for (const [p, s] of yes) assert.equal(matchComponent(p, s), true, `${p} ~ ${s}`)
    for (const [p, s] of no) assert.equal(matchComponent(p, s), false, `${p} !~ ${s}`)
  })
})

/** Patterns and whether restic 0.14 refuses them (`restic backup --exclude P` exits 1 before it starts). */
export const PATTERN_VALIDITY: ReadonlyArray<[string, boolean]> = [
  ['[', false], ['[]', false], ['[]a]', false], ['[a', false], ['[a-]', false], ['[-a]', false], ['[^]', false],
  ['a\\', false], ['[a\\', false], ['x/[/y', false], ['a[', false], ['[\\', false],
  ['[^a]', true], ['[\\]]', true], ['[a-z]', true], ['*.c', true], ['[!a]', true], ['\\[', true], ['[a-\\]]', true],
]

describe('patternProblem()', () => {
  it('refuses the patterns restic refuses, and only those', () => {
    for (const [pattern, valid] of PATTERN_VALIDITY) assert.equal(patternProblem(pattern) === undefined, valid, pattern)
  })

  it('checkPatterns() names the flag, the pattern and the problem', () => {
    assert.doesNotThrow(() => checkPatterns('--exclude', ['*.tmp', '/home/*/cache']))
    assert.throws(
      () => checkPatterns('--include', ['ok', 'photos/[2024']),
      (err: Error & { code?: string; hint?: string }) =>
        err.code === 'INVALID_ARGUMENT' &&
        err.message === 'Invalid pattern "photos/[2024" for --include: a "[" class is not closed by "]", or is empty, or has a range without an end' &&
        /\[abc\]/.test(err.hint ?? ''),
    )
  })

  it('? and classes take a whole character beyond the BMP, as Go takes a rune', () => {
    assert.equal(matchComponent('[😀]', '😀'), true)
    assert.equal(matchComponent('[^a]', '😀'), true)
    assert.equal(matchComponent('?', '😀'), true)
    assert.equal(matchComponent('a?b', 'a😀b'), true)
    assert.equal(matchComponent('[😀-😂]x', '😁x'), true)
    assert.equal(matchComponent('[😀]', '😁'), false)
  })

  it('classes take escaped characters as Go does', () => {
    assert.equal(matchComponent('[\\]]', ']'), true)
    assert.equal(matchComponent('[\\]]', 'a'), false)
    assert.equal(matchComponent('[\\-x]', '-'), true)
    assert.equal(matchComponent('[^\\]]', 'a'), true)
  })
})

describe('ExcludeMatcher.excludedByPattern()', () => {
  it('a pattern without a slash matches a name at any depth, and everything below it', () => {
    check({ exclude: ['*.go'] }, ['/a.go', '/src/pkg/main.go', '/x.go/inner.txt'], ['/src/main.gox', '/go', '/src/go/file'])
    check({ exclude: ['foo'] }, ['/foo', '/a/b/foo', '/a/foo/b/c'], ['/foobar', '/a/xfoo', '/a/b'])
  })

  it('a relative pattern with slashes matches a run of components anywhere', () => {
    check({ exclude: ['foo/bar'] }, ['/foo/bar', '/x/foo/bar', '/x/foo/bar/baz'], ['/foo/baz', '/bar', '/foo'])
  })

  it('a pattern starting with / is anchored at the root', () => {
    check({ exclude: ['/abs/anchored'] }, ['/abs/anchored', '/abs/anchored/deeper/file'], ['/x/abs/anchored', '/abs', '/abs/anchoredx'])
    check({ exclude: ['/tmp/*'] }, ['/tmp/a', '/tmp/a/b'], ['/tmp', '/var/tmp/a'])
  })

  it('** matches any number of components, including none', () => {
    check({ exclude: ['/home/**/cache'] }, ['/home/cache', '/home/me/cache', '/home/me/a/b/cache/x'], ['/home/me/caches', '/var/home/cache'])
    check({ exclude: ['**/node_modules'] }, ['/node_modules', '/p/q/node_modules/x'], ['/p/node_modulesx'])
    check({ exclude: ['/data/**/*.tmp'] }, ['/data/x.tmp', '/data/a/b/y.tmp'], ['/data/x.tmpl', '/other/x.tmp'])
  })

  it('[a-z] and ? match one character of a component', () => {
    check({ exclude: ['log[0-9]'] }, ['/var/log1', '/var/log9/x'], ['/var/log', '/var/logx', '/var/log10'])
    check({ exclude: ['/d/?.txt'] }, ['/d/a.txt', '/d/1.txt'], ['/d/ab.txt', '/d/.txt'])
  })

  it('a ! pattern re-includes what an earlier pattern excluded; the last match wins', () => {
    const options = { exclude: ['/home/me/*', '!/home/me/work', '/home/me/work/tmp'] }
    check(options, ['/home/me/music', '/home/me/music/a.mp3', '/home/me/work/tmp', '/home/me/work/tmp/x'], [
      '/home/me',
      '/home/me/work',
      '/home/me/work/report.odt',
    ])
    // a negation before the pattern it would undo has no effect
    check({ exclude: ['!/a/keep', '/a/*'] }, ['/a/keep', '/a/other'], ['/a'])
    // "exclude everything but /etc": the exception covers everything below /etc too
    check({ exclude: ['*', '!/etc'] }, ['/home', '/home/me', '/var/log'], ['/etc', '/etc/nginx/nginx.conf'])
  })

  it('iexclude ignores case; its exceptions do not undo --exclude matches', () => {
    check({ iexclude: ['*.JPG'] }, ['/p/a.jpg', '/p/B.Jpg', '/P/c.JPG'], ['/p/a.png'])
    check({ exclude: ['*.JPG'] }, ['/p/c.JPG'], ['/p/a.jpg'])
    check({ exclude: ['*.log'], iexclude: ['!KEEP.LOG'] }, ['/var/keep.log', '/var/x.log'], ['/var/x.txt'])
    check({ exclude: ['/Data/*'], iexclude: ['/data/cache'] }, ['/Data/x', '/data/CACHE/y'], ['/data/x'])
    // Go's strings.ToLower, one character at a time, as restic folds: "İ" is "i", a final "Σ" is "σ"
    check({ iexclude: ['istanbul', 'οδοσ'] }, ['/p/İstanbul', '/p/ΟΔΟΣ'], ['/p/Istanbul-x'])
  })

  it('ignores empty patterns and comments, and matches exact paths given as excludePaths', () => {
    check({ exclude: ['', '  ', '# a comment'] }, [], ['/a', '/# a comment'])
    check({ excludePaths: ['/srv/repo'] }, ['/srv/repo'], ['/srv', '/srv/repository', '/srv/rep'])
  })

  it('isEmpty is true only without any rule', () => {
    assert.equal(new ExcludeMatcher().isEmpty, true)
    assert.equal(new ExcludeMatcher({ exclude: [''] }).isEmpty, true)
    assert.equal(new ExcludeMatcher({ iexclude: ['x'] }).isEmpty, false)
    assert.equal(new ExcludeMatcher({ excludeCaches: true }).isEmpty, false)
    assert.equal(new ExcludeMatcher({ excludeLargerThan: 5 }).isEmpty, false)
  })
})

describe('ExcludeMatcher.mayMatchBelow()', () => {
  it('says whether a pattern could match something below a folder, as restic\'s childMayMatch does', () => {
    const m = new ExcludeMatcher({ exclude: ['/home/*/docs/x.txt'], iexclude: ['/SRV/Data'] })
    assert.equal(m.mayMatchBelow('/'), true)
    assert.equal(m.mayMatchBelow('/home'), true)
    assert.equal(m.mayMatchBelow('/home/me'), true)
    assert.equal(m.mayMatchBelow('/home/me/docs'), true)
    assert.equal(m.mayMatchBelow('/home/me/music'), false)
    assert.equal(m.mayMatchBelow('/etc'), false)
    assert.equal(m.mayMatchBelow('/srv/DATA/deep'), true, 'below a match, and case folded')
    assert.equal(new ExcludeMatcher({ exclude: ['*.txt'] }).mayMatchBelow('/any/where'), true)
    assert.equal(new ExcludeMatcher({ exclude: ['/a/**/z'] }).mayMatchBelow('/a/b/c'), true)
    assert.equal(new ExcludeMatcher({ exclude: ['/a/**/z'] }).mayMatchBelow('/b'), false)
  })
})

describe('ExcludeMatcher marker files', () => {
  let dir: string
  const SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55'

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-exclude-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  async function dirWith(name: string, files: Record<string, string>): Promise<{ path: string; names: Set<string> }> {
    const path = join(dir, name)
    await rm(path, { recursive: true, force: true })
    await mkdir(path)
    for (const [f, content] of Object.entries(files)) await writeFile(join(path, f), content)
    return { path, names: new Set(Object.keys(files)) }
  }

  it('exclude-caches empties a directory with a correctly signed CACHEDIR.TAG, keeping the tag', async () => {
    const m = new ExcludeMatcher({ excludeCaches: true })
    const d = await dirWith('cache', { 'CACHEDIR.TAG': `${SIGNATURE}\n# This file is a cache directory tag.\n`, 'a.bin': 'x' })
    assert.deepEqual(await m.markerSurvivors(d.path, d.names), new Set(['CACHEDIR.TAG']))
  })

  it('exclude-caches ignores a CACHEDIR.TAG without the signature, or too short', async () => {
    const m = new ExcludeMatcher({ excludeCaches: true })
    const bad = await dirWith('bad', { 'CACHEDIR.TAG': 'Signature: 0000\n', 'a.bin': 'x' })
    assert.equal(await m.markerSurvivors(bad.path, bad.names), undefined)
    const short = await dirWith('short', { 'CACHEDIR.TAG': SIGNATURE.slice(0, 20) })
    assert.equal(await m.markerSurvivors(short.path, short.names), undefined)
    const none = await dirWith('none', { 'a.bin': 'x' })
    assert.equal(await m.markerSurvivors(none.path, none.names), undefined)
    // without the option, even a good tag does nothing
    const good = await dirWith('good', { 'CACHEDIR.TAG': SIGNATURE })
    assert.equal(await new ExcludeMatcher().markerSurvivors(good.path, good.names), undefined)
  })

  it('exclude-if-present works with a bare name and with name:header', async () => {
    const m = new ExcludeMatcher({ excludeIfPresent: ['.nobackup', '.marker:SKIP ME'] })
    const bare = await dirWith('bare', { '.nobackup': '', 'f': '1' })
    assert.deepEqual(await m.markerSurvivors(bare.path, bare.names), new Set(['.nobackup']))
    const hdr = await dirWith('hdr', { '.marker': 'SKIP ME please', 'f': '1' })
    assert.deepEqual(await m.markerSurvivors(hdr.path, hdr.names), new Set(['.marker']))
    const wrong = await dirWith('wrong', { '.marker': 'keep me', 'f': '1' })
    assert.equal(await m.markerSurvivors(wrong.path, wrong.names), undefined)
    // two markers: each rule removes the other's marker too
    const both = await dirWith('both', { '.marker': 'SKIP ME', '.nobackup': '', 'f': '1' })
    assert.deepEqual(await m.markerSurvivors(both.path, both.names), new Set())
  })

  it('excludedBySize() compares with --exclude-larger-than', () => {
    const m = new ExcludeMatcher({ excludeLargerThan: 1024 })
    assert.equal(m.excludedBySize(1024), false)
    assert.equal(m.excludedBySize(1025), true)
    assert.equal(new ExcludeMatcher().excludedBySize(2 ** 40), false)
  })
})

describe('parseSize()', () => {
  it('reads restic size syntax in powers of 1024', () => {
    assert.equal(parseSize('1024'), 1024)
    assert.equal(parseSize('10k'), 10 * 1024)
    assert.equal(parseSize('10K'), 10 * 1024)
    assert.equal(parseSize('5M'), 5 * 1024 ** 2)
    assert.equal(parseSize('2g'), 2 * 1024 ** 3)
    assert.equal(parseSize('1T'), 1024 ** 4)
    assert.equal(parseSize('100b'), 100)
    assert.equal(parseSize('1.5M'), 1.5 * 1024 ** 2)
  })

  it('rejects anything else with a RangeError naming the text', () => {
    for (const bad of ['', 'M', '-5', '5X', '5 MB extra', 'ten']) {
      assert.throws(() => parseSize(bad), (err) => err instanceof RangeError && err.message.includes(`"${bad}"`), bad)
    }
  })
})

describe('ExcludeMatcher ignore files (.cairnignore, gitignore syntax)', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-ignore-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('compileIgnoreLine() skips comments and blanks and reads the gitignore forms', () => {
    assert.equal(compileIgnoreLine('# note'), undefined)
    assert.equal(compileIgnoreLine('   '), undefined)
    assert.deepEqual(compileIgnoreLine('\\#hash'), { parts: ['**', '#hash'], negate: false, dirOnly: false })
    assert.deepEqual(compileIgnoreLine('!keep.log  '), { parts: ['**', 'keep.log'], negate: true, dirOnly: false })
    assert.deepEqual(compileIgnoreLine('build/'), { parts: ['**', 'build'], negate: false, dirOnly: true })
    assert.deepEqual(compileIgnoreLine('/top.txt'), { parts: ['top.txt'], negate: false, dirOnly: false })
    assert.deepEqual(compileIgnoreLine('docs/**'), { parts: ['docs', '*', '**'], negate: false, dirOnly: false })
    assert.deepEqual(compileIgnoreLine('[!a]*.o'), { parts: ['**', '[^a]*.o'], negate: false, dirOnly: false })
  })

  it('a backup leaves out what the ignore files name, below the directory holding each', async () => {
    const root = join(dir, 'tree')
    await writeFiles(root, {
      '.cairnignore': '*.log\n!keep.log\n/top.txt\nbuild/\ncache/**\n',
      'top.txt': 'root only',
      'a.log': 'x',
      'keep.log': 'x',
      'build/out': 'x',
      'cache/deep/x': 'x',
      'sub/top.txt': 'anchored rules do not reach here',
      'sub/b.log': 'x',
      'sub/build': 'a file named build is not a directory',
      'sub/.cairnignore': '!b.log\nsecret/\nnotes.txt\n',
      'sub/secret/s': 'x',
      'sub/notes.txt': 'x',
      'other/notes.txt': 'only ignored below sub',
    })
    const repo = await createTestRepository()
    const m = new ExcludeMatcher({ ignoreFiles: ['.cairnignore'] })
    assert.equal(m.isEmpty, false)
    const r = await backup(repo, { paths: [root], excludes: m, hostname: 'h' })
    const kept: string[] = []
    const walk = async (abs: string, rel: string): Promise<void> => {
      for (const n of await nodesAt(repo, r.snapshot.tree, abs)) {
        const name = n.name.toString()
        const p = rel === '' ? name : `${rel}/${name}`
        kept.push(n.type === 'dir' ? `${p}/` : p)
        if (n.type === 'dir') await walk(`${abs}/${name}`, p)
      }
    }
    await walk(root, '')
    assert.deepEqual(kept.sort(), [
      '.cairnignore',
      'cache/',
      'keep.log',
      'other/',
      'other/notes.txt',
      'sub/',
      'sub/.cairnignore',
      'sub/b.log',
      'sub/build',
      'sub/top.txt',
    ])
  })
})
