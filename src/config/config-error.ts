/**
 * Problems found in a config file, each with the file, line, column and key path, what is
 * wrong and how to fix it; and ConfigError (code CONFIG), which carries them.
 */
import { AppError } from '../base/index.js'
import { formatKeyPath, type KeyPath, type Position } from './locate.js'

export type IssueSeverity = 'error' | 'warning'

/** One problem in a config file. `position` is absent only for a file that could not be read. */
export interface ConfigIssue {
  file: string
  path: KeyPath
  position?: Position
  /** What is wrong, naming the value. */
  message: string
  /** How to fix it. */
  hint?: string
  severity: IssueSeverity
}

/**
 * One line (two with a hint) in the style compilers use, so editors can jump to it:
 * `FILE:LINE:COLUMN: key.path: message`.
 *
 * @example
 * formatIssue(issue) // 'cairn.yaml:12:5: sets.data.mode: unknown mode "firstavailable"\n  Did you mean …'
 */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.position ? `${issue.file}:${issue.position.line}:${issue.position.column}` : issue.file
  const key = issue.path.length > 0 ? ` ${formatKeyPath(issue.path)}:` : ''
  const label = issue.severity === 'warning' ? ' warning:' : ''
  return `${where}:${label}${key} ${issue.message}${issue.hint ? `\n    ${issue.hint}` : ''}`
}

/** Orders issues by line, then column, errors before warnings on the same spot. */
export function sortIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort(
    (a, b) =>
      (a.position?.line ?? 0) - (b.position?.line ?? 0) ||
      (a.position?.column ?? 0) - (b.position?.column ?? 0) ||
      (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1),
  )
}

/** The config file is malformed: the message lists every error (warnings are left out). */
export class ConfigError extends AppError {
  readonly file: string
  readonly issues: readonly ConfigIssue[]

  constructor(file: string, issues: readonly ConfigIssue[]) {
    const errors = sortIssues(issues.filter((i) => i.severity === 'error'))
    const message =
      errors.length === 1
        ? `Invalid configuration: ${formatIssue(errors[0])}`
        : `Invalid configuration "${file}": ${errors.length} problems\n${errors.map(formatIssue).join('\n')}`
    super('CONFIG', message, { hint: 'Fix the places named above; "cairn config check" lists every problem' })
    this.name = 'ConfigError'
    this.file = file
    this.issues = issues
  }
}
