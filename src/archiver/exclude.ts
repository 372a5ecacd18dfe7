/**
 * Exclude rules with restic's semantics: `--exclude` / `--iexclude` patterns (filepath.Match
 * globs per path component, `**` for any number of components, a pattern without a leading `/`
 * matches at any depth), `--exclude-caches`, `--exclude-if-present FILE[:HEADER]`,
 * `--exclude-larger-than SIZE`.
 */
import { open } from 'node:fs/promises'
import { join } from 'node:path'

export interface ExcludeOptions {
  exclude?: string[]
  iexclude?: string[]
  excludeCaches?: boolean
  excludeIfPresent?: string[]
  excludeLargerThan?: number
  /** Absolute paths excluded exactly (not patterns), e.g. the repository itself. */
  excludePaths?: string[]
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
  if (fold) p = p.toLowerCase()
  const parts = p.split('/').filter((s) => s !== '' && s !== '.')
  return { parts: p.startsWith('/') ? [...parts, '**'] : ['**', ...parts, '**'], negate }
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
    if (c === '?') {
      pi++
      si++
      continue
    }
    if (c === '[') {
      const end = p.indexOf(']', pi + 2)
      if (end < 0) return false
      let set = p.slice(pi + 1, end)
      // Go negates a class with `^` only: `[!a]` is the class of `!` and `a`.
      const neg = set[0] === '^'
      if (neg) set = set.slice(1)
      let hit = false
      for (let k = 0; k < set.length; k++) {
        if (set[k + 1] === '-' && k + 2 < set.length) {
          if (s[si] >= set[k] && s[si] <= set[k + 2]) hit = true
          k += 2
        } else if (set[k] === s[si]) hit = true
      }
      if (hit === neg) return false
      pi = end + 1
      si++
      continue
    }
    if (c === '\\' && pi + 1 < p.length) pi++
    if (p[pi] !== s[si]) return false
    pi++
    si++
  }
  return si === s.length
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

export class ExcludeMatcher {
  #patterns: Pattern[]
  #foldPatterns: Pattern[]
  #caches: boolean
  #ifPresent: Array<{ file: string; header?: string }>
  #largerThan: number | undefined
  #paths: Set<string>

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
  }

  get isEmpty(): boolean {
    return this.#patterns.length === 0 && this.#foldPatterns.length === 0 && this.#ifPresent.length === 0 && this.#largerThan === undefined && this.#paths.size === 0
  }

  /** True when the absolute path (as a string) is excluded by a pattern. The last matching pattern wins. */
  excludedByPattern(absPath: string): boolean {
    if (this.#paths.has(absPath)) return true
    if (this.#patterns.length === 0 && this.#foldPatterns.length === 0) return false
    const parts = absPath.split('/').filter((s) => s !== '')
    if (matchList(this.#patterns, parts)) return true
    return this.#foldPatterns.length > 0 && matchList(this.#foldPatterns, parts.map((s) => s.toLowerCase()))
  }

  excludedBySize(size: number): boolean {
    return this.#largerThan !== undefined && size > this.#largerThan
  }

  /**
   * The entries of a directory that survive marker rules (CACHEDIR.TAG with its signature,
   * --exclude-if-present): undefined when no marker is present, else only the marker file
   * itself, which restic keeps so the snapshot shows why the directory is empty.
   */
  async markerSurvivors(dirPath: string, entryNames: ReadonlySet<string>): Promise<Set<string> | undefined> {
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
