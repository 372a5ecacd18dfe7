/**
 * Checks that need more than one place of the file: every destination names a repository,
 * every repository has exactly one password source, every set ends up with sources and
 * destinations (its own or from defaults), retention keys are `keep-*` options or repository
 * names. Works on the plain parsed value, so these problems are reported together with the
 * schema's even when the schema rejects the file.
 */
import type { KeyPath } from './locate.js'
import { RETENTION_KEYS } from './schema.js'
import { closest } from './suggest.js'
import type { PathIssue } from './zod-issues.js'

type Rec = Record<string, unknown>
const asRecord = (v: unknown): Rec | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : undefined)
const POLICY_KEYS: ReadonlySet<string> = new Set(RETENTION_KEYS)
const PASSWORD_KEYS = ['password-file', 'password-command', 'password-env'] as const

/**
 * True when a schema issue at `path` sits under a `retention` key that references.ts reports
 * itself (neither a `keep-*` option nor a repository), so it is not reported twice.
 */
export function coveredByReferences(value: unknown, path: KeyPath): boolean {
  const repos = new Set(Object.keys(asRecord(asRecord(value)?.repositories) ?? {}))
  const i = path.indexOf('retention')
  if (i < 0 || path.length <= i + 1) return false
  const key = String(path[i + 1])
  return !POLICY_KEYS.has(key) && !repos.has(key)
}

/** Cross-reference problems of a parsed config file. */
export function checkReferences(value: unknown): PathIssue[] {
  const issues: PathIssue[] = []
  const root = asRecord(value) ?? {}
  const repos = asRecord(root.repositories) ?? {}
  const repoNames = Object.keys(repos)
  const defaults = asRecord(root.defaults) ?? {}
  const sets = asRecord(root.sets)

  for (const [name, raw] of Object.entries(repos)) {
    const repo = asRecord(raw)
    if (!repo) continue
    const given = PASSWORD_KEYS.filter((k) => repo[k] !== undefined)
    if (given.length === 0) {
      issues.push({
        path: ['repositories', name],
        message: `repository "${name}" has no password source`,
        hint: 'Add one of password-file: FILE, password-command: "CMD" or password-env: VARIABLE',
        severity: 'error',
      })
    } else if (given.length > 1) {
      issues.push({
        path: ['repositories', name, given[1]],
        message: `repository "${name}" has ${given.join(' and ')}; give only one`,
        hint: `Remove all but one of ${given.join(', ')}`,
        severity: 'error',
      })
    }
  }

  if (repoNames.length === 0 && sets && Object.keys(sets).length > 0) {
    issues.push({ path: [], message: 'no repositories are defined', hint: 'Add a "repositories:" section naming where backups go', severity: 'error' })
  }
  checkDestinations(['defaults'], defaults, repoNames, issues)
  checkRetention(['defaults'], defaults, repoNames, undefined, issues)

  if (sets === undefined || Object.keys(sets).length === 0) {
    issues.push({ path: [], message: 'no backup sets are defined', hint: 'Add a "sets:" section; see "cairn config init" for a starting point', severity: 'warning' })
    return issues
  }
  for (const [name, raw] of Object.entries(sets)) {
    const set = asRecord(raw)
    if (!set) continue
    const path = ['sets', name]
    if (set.sources === undefined) {
      issues.push({ path, message: `set "${name}" has no sources`, hint: 'Add sources: [/path/to/back/up, …]', severity: 'error' })
    }
    const destinations = set.destinations ?? defaults.destinations
    if (destinations === undefined) {
      issues.push({ path, message: `set "${name}" has no destinations`, hint: 'Add destinations: [repository, …] to the set, or to defaults', severity: 'error' })
    }
    checkDestinations(path, set, repoNames, issues)
    const destNames = Array.isArray(destinations) ? destinations.filter((d): d is string => typeof d === 'string') : undefined
    checkRetention(path, set, repoNames, destNames, issues)
    const mode = set.mode ?? defaults.mode ?? 'first-available'
    if ((set.copy ?? defaults.copy) === true && mode !== 'all') {
      issues.push({
        path: [...path, set.copy !== undefined ? 'copy' : 'mode'],
        message: 'copy: true has no effect unless mode is "all"',
        hint: 'Set mode: all to back up once and copy to the other destinations, or remove copy',
        severity: 'warning',
      })
    }
    const check = asRecord(set.check)
    if (check?.['read-data'] === true && check['read-data-subset'] !== undefined) {
      issues.push({ path: [...path, 'check', 'read-data-subset'], message: 'read-data and read-data-subset cannot both be given', hint: 'Keep one of them', severity: 'error' })
    }
  }
  return issues
}

function checkDestinations(path: KeyPath, section: Rec, repoNames: string[], issues: PathIssue[]): void {
  const list = section.destinations
  if (!Array.isArray(list)) return
  const seen = new Set<string>()
  list.forEach((d, i) => {
    if (typeof d !== 'string') return
    if (seen.has(d)) {
      issues.push({ path: [...path, 'destinations', i], message: `destination "${d}" is listed twice`, hint: 'Remove the second one', severity: 'error' })
    }
    seen.add(d)
    if (!repoNames.includes(d)) {
      const guess = closest(d, repoNames)
      issues.push({
        path: [...path, 'destinations', i],
        message: `destination "${d}" is not a repository defined under "repositories"`,
        hint: `${guess ? `Did you mean "${guess}"? ` : ''}${repoNames.length > 0 ? `Defined: ${repoNames.join(', ')}` : 'Define it under "repositories:"'}`,
        severity: 'error',
      })
    }
  })
}

function checkRetention(path: KeyPath, section: Rec, repoNames: string[], destinations: string[] | undefined, issues: PathIssue[]): void {
  const retention = asRecord(section.retention)
  if (!retention) return
  for (const key of Object.keys(retention)) {
    if (POLICY_KEYS.has(key)) continue
    if (!repoNames.includes(key)) {
      const guess = closest(key, [...RETENTION_KEYS, ...repoNames])
      issues.push({
        path: [...path, 'retention', key],
        message: `"${key}" is neither a keep-* option nor a repository name`,
        hint: `${guess ? `Did you mean "${guess}"? ` : ''}Use keep-last, keep-daily, … or the name of a repository for a policy of its own`,
        severity: 'error',
      })
    } else if (destinations !== undefined && !destinations.includes(key)) {
      issues.push({
        path: [...path, 'retention', key],
        message: `retention for "${key}", which is not a destination of this set, is never used`,
        hint: `Add "${key}" to destinations, or remove this policy`,
        severity: 'warning',
      })
    }
  }
}
