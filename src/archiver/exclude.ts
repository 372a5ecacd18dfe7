/**
 * Exclude rules with restic's semantics: `--exclude` / `--iexclude` patterns (filepath.Match
 * globs per path component, `**` for any number of components, a pattern without a leading `/`
 * matches at any depth), `--exclude-caches`, `--exclude-if-present FILE[:HEADER]`,
 * `--exclude-larger-than SIZE`; and per-directory ignore files (`.cairnignore`) in gitignore
 * syntax, read as the walk enters each directory.
 */
import { lstatSync } from 'node:fs'
import { open, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { AppError } from '../base/index.js'

export interface ExcludeOptions {
  exclude?: string[]
  iexclude?: string[]
  excludeCaches?: boolean
  excludeIfPresent?: string[]
  excludeLargerThan?: number
  /** Absolute paths excluded exactly (not patterns), e.g. the repository itself. */
  excludePaths?: string[]
  /**
   * Names of per-directory ignore files (e.g. `.cairnignore`) in gitignore syntax: the rules of
   * one apply below the directory holding it, deeper files' rules after their ancestors'.
   */
  ignoreFiles?: string[]
}

const CACHEDIR_TAG = 'CACHEDIR.TAG'
const CACHEDIR_SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55'

type Pattern = { parts: string[]; negate: boolean }

/**
 * Compiles one pattern; a leading `!` makes it an exception (as restic's filter does). restic
 * matches a pattern against any run of path components (a rooted one: starting at the root), so
 * a pattern also matches everything below a matching path: `foo` matches `/a/foo/b`. That is
 * the same as surrounding the components with `**`.
 */
function compile(pattern: string, fold: boolean): Pattern | undefined {
  let p = pattern.trim()
  if (p === '' || p.startsWith('#')) return undefined
  let negate = false
  if (p.startsWith('!')) {
    negate = true
    p = p.slice(1)
  }
  if (fold) p = goToLower(p)
  const parts = p.split('/').filter((s) => s !== '' && s !== '.')
  return { parts: p.startsWith('/') ? [...parts, '**'] : ['**', ...parts, '**'], negate }
}

/**
 * Go's strings.ToLower, which --iexclude and friends use in restic: each character on its own.
 * JavaScript's toLowerCase differs for two: "İ" (U+0130) becomes two characters ("i̇", Go: "i"),
 * and a capital sigma at a word's end becomes "ς" (Go: always "σ").
 */
export function goToLower(s: string): string {
  if (!/[\u0130\u03a3]/.test(s)) return s.toLowerCase()
  let out = ''
  for (const ch of s) out += ch === '\u0130' ? 'i' : ch === '\u03a3' ? '\u03c3' : ch.toLowerCase()
  return out
}

/** filepath.Match for one component: `*`, `?`, `[...]` (with `^` negation and ranges), `\` escapes. */
export function matchComponent(pattern: string, name: string): boolean {
  return matchAt(pattern, 0, name, 0)
}

function matchAt(p: string, pi: number, s: string, si: number): boolean {
  while (pi < p.length) {
    const c = p[pi]
    if (c === '*') {
      while (p[pi] === '*') pi++
      if (pi === p.length) return true
      for (let k = si; k <= s.length; k++) if (matchAt(p, pi, s, k)) return true
      return false
    }
    if (si >= s.length) return false
    // `?` and a class take one character, as Go takes one rune: both halves of a UTF-16 pair.
    const ch = s.codePointAt(si)!
    const width = ch > 0xffff ? 2 : 1
    if (c === '?') {
      pi++
      si += width
      continue
    }
    if (c === '[') {
      // Ranges up to the closing `]` (the first character may not be it), each `x` or `lo-hi`,
      // with `\` taking the next character literally. Go negates a class with `^` only: `[!a]`
      // is the class of `!` and `a`. A malformed class (see patternProblem) matches nothing.
      let i = pi + 1
      const neg = p[i] === '^'
      if (neg) i++
      let hit = false
      const next = (): number => {
        if (p[i] === '\\') i++
        const cp = p.codePointAt(i) ?? -1
        i += cp > 0xffff ? 2 : 1
        return cp
      }
      for (let ranges = 0; !(p[i] === ']' && ranges > 0); ranges++) {
        if (i >= p.length) return false
        const lo = next()
        let hi = lo
        if (p[i] === '-') {
          i++
          hi = next()
        }
        if (lo <= ch && ch <= hi) hit = true
      }
      if (hit === neg) return false
      pi = i + 1
      si += width
      continue
    }
    if (c === '\\' && pi + 1 < p.length) pi++
    if (p[pi] !== s[si]) return false
    pi++
    si++
  }
  return si === s.length
}

/**
 * Why `pattern` is not one restic takes, or undefined. restic checks each component of a pattern
 * with Go's filepath.Match and refuses the whole command when one is malformed: a `[` without its
 * `]`, a class that is empty or whose range lacks an end, a `\` with nothing after it.
 */
export function patternProblem(pattern: string): string | undefined {
  for (const part of pattern.split('/')) {
    const why = componentProblem(part)
    if (why !== undefined) return why
  }
  return undefined
}

function componentProblem(p: string): string | undefined {
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\') {
      if (++i === p.length) return 'it ends in a "\\" that escapes nothing'
      continue
    }
    if (p[i] !== '[') continue
    i++
    if (p[i] === '^') i++
    // Ranges up to the closing `]`: one at least, each a character or `lo-hi`.
    for (let ranges = 0; !(p[i] === ']' && ranges > 0); ranges++) {
      i = classChar(p, i)
      if (i >= 0 && p[i] === '-') i = classChar(p, i + 1)
      if (i < 0) return 'a "[" class is not closed by "]", or is empty, or has a range without an end'
    }
  }
  return undefined
}

/** The index after one character of a class at `i` (escaped or not), or -1 where Go finds none: the end, `-`, `]`, or nothing after it. */
function classChar(p: string, i: number): number {
  if (i >= p.length || p[i] === '-' || p[i] === ']') return -1
  if (p[i] === '\\' && ++i >= p.length) return -1
  i += p.codePointAt(i)! > 0xffff ? 2 : 1
  return i < p.length ? i : -1
}

/** What to tell someone whose pattern patternProblem() refused. */
export const PATTERN_HINT = 'Patterns are restic\'s: * and ? within a name, [abc] and [^a-z] classes, ** across folders, \\ before a character to take it literally'

/**
 * Throws INVALID_ARGUMENT naming `flag` and the first malformed pattern in `patterns`, as restic
 * refuses them before it starts (a pattern that cannot match would otherwise exclude, include
 * or find nothing without a word).
 */
export function checkPatterns(flag: string, patterns: readonly string[] | undefined): void {
  for (const pattern of patterns ?? []) {
    const why = patternProblem(pattern)
    if (why !== undefined) {
      throw new AppError('INVALID_ARGUMENT', `Invalid pattern "${pattern}" for ${flag}: ${why}`, { hint: PATTERN_HINT })
    }
  }
}

function matchParts(pp: string[], pi: number, path: string[], si: number): boolean {
  if (pi === pp.length) return si === path.length
  if (pp[pi] === '**') {
    if (pi === pp.length - 1) return true
    for (let k = si; k <= path.length; k++) if (matchParts(pp, pi + 1, path, k)) return true
    return false
  }
  if (si === path.length) return false
  return matchComponent(pp[pi], path[si]) && matchParts(pp, pi + 1, path, si + 1)
}

/** Whether `path[si..]` could be the start of a path that `pp[pi..]` matches. */
function prefixMayMatch(pp: string[], pi: number, path: string[], si: number): boolean {
  if (si === path.length || pi === pp.length || pp[pi] === '**') return true
  return matchComponent(pp[pi], path[si]) && prefixMayMatch(pp, pi + 1, path, si + 1)
}

function compileAll(patterns: string[] | undefined, fold: boolean): Pattern[] {
  return (patterns ?? []).map((p) => compile(p, fold)).filter((p): p is Pattern => p !== undefined)
}

/** The last matching pattern wins: a `!` exception re-includes what earlier patterns excluded. */
function matchList(patterns: Pattern[], parts: string[]): boolean {
  let excluded = false
  for (const p of patterns) {
    if (p.negate ? excluded : !excluded) {
      if (matchParts(p.parts, 0, parts, 0)) excluded = !p.negate
    }
  }
  return excluded
}

/** One line of an ignore file. */
type IgnoreRule = { parts: string[]; negate: boolean; dirOnly: boolean }

/**
 * Compiles one gitignore line: blank lines and `#` comments are skipped, `\#` and `\!` escape
 * a leading character, `!` re-includes, a trailing `/` matches directories only, a pattern with a
 * `/` before its end is anchored at the ignore file's directory (a leading `/` only anchors),
 * others match a name at any depth; `**` spans any number of directories, a trailing `/**`
 * everything inside. Trailing unescaped spaces are dropped.
 */
export function compileIgnoreLine(line: string): IgnoreRule | undefined {
  let p = line.replace(/\r$/, '').replace(/(?<!\\)\s+$/, '')
  if (p === '' || p.startsWith('#')) return undefined
  let negate = false
  if (p.startsWith('!')) {
    negate = true
    p = p.slice(1)
  } else if (p.startsWith('\\#') || p.startsWith('\\!')) p = p.slice(1)
  const dirOnly = p.endsWith('/')
  if (dirOnly) p = p.replace(/\/+$/, '')
  if (p === '') return undefined
  const anchored = p.includes('/')
  // gitignore negates a class with `!` as well as `^`; matchComponent knows only `^`
  const parts = p.split('/').filter((x) => x !== '').map((x) => x.replace(/\[!/g, '[^'))
  if (parts.at(-1) === '**') parts.splice(parts.length - 1, 1, '*', '**')
  return { parts: anchored ? parts : ['**', ...parts], negate, dirOnly }
}

export class ExcludeMatcher {
  #patterns: Pattern[]
  #foldPatterns: Pattern[]
  #caches: boolean
  #ifPresent: Array<{ file: string; header?: string }>
  #largerThan: number | undefined
  #paths: Set<string>
  #ignoreFiles: string[]
  /** Rules of the ignore files read so far, by the directory holding them. */
  #ignoreRules = new Map<string, IgnoreRule[]>()

  constructor(options: ExcludeOptions = {}) {
    this.#paths = new Set(options.excludePaths ?? [])
    // Two separate lists, as restic has: a `!` exception in one does not undo a match of the other.
    this.#patterns = compileAll(options.exclude, false)
    this.#foldPatterns = compileAll(options.iexclude, true)
    this.#caches = options.excludeCaches === true
    this.#ifPresent = (options.excludeIfPresent ?? []).map((spec) => {
      const i = spec.indexOf(':')
      return i < 0 ? { file: spec } : { file: spec.slice(0, i), header: spec.slice(i + 1) }
    })
    if (this.#caches) this.#ifPresent.push({ file: CACHEDIR_TAG, header: CACHEDIR_SIGNATURE })
    this.#largerThan = options.excludeLargerThan
    this.#ignoreFiles = (options.ignoreFiles ?? []).filter((f) => f !== '')
  }

  get isEmpty(): boolean {
    return (
      this.#patterns.length === 0 &&
      this.#foldPatterns.length === 0 &&
      this.#ifPresent.length === 0 &&
      this.#largerThan === undefined &&
      this.#paths.size === 0 &&
      this.#ignoreFiles.length === 0
    )
  }

  /** True when the absolute path (as a string) is excluded by a pattern. The last matching pattern wins. */
  excludedByPattern(absPath: string): boolean {
    if (this.#paths.has(absPath)) return true
    if (this.#ignoreRules.size > 0 && this.#ignoredByFiles(absPath)) return true
    if (this.#patterns.length === 0 && this.#foldPatterns.length === 0) return false
    const parts = absPath.split('/').filter((s) => s !== '')
    if (matchList(this.#patterns, parts)) return true
    return this.#foldPatterns.length > 0 && matchList(this.#foldPatterns, parts.map(goToLower))
  }

  /**
   * Whether a pattern could match something below the folder `absDir` (restic's childMayMatch):
   * a walk for `--include` skips a folder when none can, instead of reading every folder of the
   * snapshot. Patterns that are not anchored at the root (`*.txt`) can match anywhere.
   */
  mayMatchBelow(absDir: string): boolean {
    if (this.#paths.size > 0 || this.#ignoreFiles.length > 0) return true
    const parts = absDir.split('/').filter((s) => s !== '')
    const could = (list: Pattern[], path: string[]) => list.some((p) => p.negate || prefixMayMatch(p.parts, 0, path, 0))
    return could(this.#patterns, parts) || (this.#foldPatterns.length > 0 && could(this.#foldPatterns, parts.map(goToLower)))
  }

  /**
   * The rules of the ignore files in the ancestors of `absPath`, the root's first; the last
   * matching rule decides. Directory-only rules stat the path, and only when their name matches.
   */
  #ignoredByFiles(path: string): boolean {
    const absPath = resolve(path)
    const parts = absPath.split('/').filter((s) => s !== '')
    let ignored = false
    let isDir: boolean | undefined
    for (let depth = 0; depth < parts.length; depth++) {
      const rules = this.#ignoreRules.get(depth === 0 ? '/' : `/${parts.slice(0, depth).join('/')}`)
      if (rules === undefined) continue
      const rel = parts.slice(depth)
      for (const r of rules) {
        if (r.negate !== ignored || !matchParts(r.parts, 0, rel, 0)) continue
        if (r.dirOnly) {
          isDir ??= isDirectory(absPath)
          if (!isDir) continue
        }
        ignored = !r.negate
      }
    }
    return ignored
  }

  /** Reads the ignore files among a directory's entries, so their rules apply below it. */
  async #readIgnoreFiles(dirPath: string, entryNames: ReadonlySet<string>): Promise<void> {
    const rules: IgnoreRule[] = []
    for (const name of this.#ignoreFiles) {
      if (!entryNames.has(name)) continue
      const text = await readFile(join(dirPath, name), 'utf8').catch(() => '')
      for (const line of text.split('\n')) {
        const r = compileIgnoreLine(line)
        if (r) rules.push(r)
      }
    }
    if (rules.length > 0) this.#ignoreRules.set(resolve(dirPath), rules)
  }

  excludedBySize(size: number): boolean {
    return this.#largerThan !== undefined && size > this.#largerThan
  }

  /**
   * The entries of a directory that survive marker rules (CACHEDIR.TAG with its signature,
   * --exclude-if-present): undefined when no marker is present, else only the marker file
   * itself, which restic keeps so the snapshot shows why the directory is empty. Also reads the
   * directory's ignore files, so call it before asking about its entries.
   */
  async markerSurvivors(dirPath: string, entryNames: ReadonlySet<string>): Promise<Set<string> | undefined> {
    if (this.#ignoreFiles.length > 0) await this.#readIgnoreFiles(dirPath, entryNames)
    let keep: Set<string> | undefined
    for (const m of this.#ifPresent) {
      if (!entryNames.has(m.file)) continue
      if (m.header !== undefined && !(await startsWith(join(dirPath, m.file), m.header))) continue
      // every rule that applies removes everything but its own marker
      keep = keep === undefined || keep.has(m.file) ? new Set([m.file]) : new Set()
    }
    return keep
  }
}

function isDirectory(path: string): boolean {
  try {
    return lstatSync(path).isDirectory()
  } catch {
    return false
  }
}

/** True when the file starts with `header`; an unreadable marker does not exclude. */
async function startsWith(path: string, header: string): Promise<boolean> {
  const want = Buffer.from(header)
  let fh
  try {
    fh = await open(path, 'r')
    const buf = Buffer.alloc(want.length)
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0)
    return bytesRead === want.length && buf.equals(want)
  } catch {
    return false
  } finally {
    await fh?.close()
  }
}

/** Parses restic's size syntax: 1024, 10k, 5M, 2G, 1T (powers of 1024). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(text)
  if (!m) throw new RangeError(`Invalid size "${text}": use a number with an optional unit k, M, G or T`)
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't']
  return Math.floor(Number(m[1]) * mult)
}
