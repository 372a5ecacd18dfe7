/**
 * `cairn config check`, `config show` and `config init`: the config file validated together
 * with the facts it depends on at run time (password files readable, source paths present,
 * commands installed), a set's effective settings with where each came from, and a commented
 * starter file.
 */
import { constants } from 'node:fs'
import { access, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { delimiter, dirname, join, resolve } from 'node:path'
import { AppError, errnoCode, messageOf } from '../base/index.js'
import { parseRepositoryUrl, stripPassword } from '../backends/index.js'
import { PATTERN_HINT, patternProblem } from '../archiver/index.js'
import {
  defaultConfigPath,
  inspectConfig,
  isLocalRepositoryUrl,
  parseConfig,
  readConfigText,
  resolveBackupSet,
  resolveConfigPath,
  resolveRepository,
  sortIssues,
  starterConfig,
  unsetVariableIssue,
  type ConfigIssue,
  type KeyPath,
  type LoadedConfig,
  type Origin,
} from '../config/index.js'
import { describePolicy } from '../snapshots/index.js'
import { retentionPolicyFromFlags } from './forget.js'
import { resolvePruneOptions } from './prune.js'
import { createHint, localPath } from './set-destination.js'
import { passwordFromText } from './password.js'
import { retentionFlags } from './set-maintenance.js'

/** The outcome of `config check`. */
export interface ConfigCheck {
  file: string
  /** Every problem, sorted by position; errors make the file unusable, warnings do not. */
  issues: ConfigIssue[]
  errors: number
  warnings: number
  /** Names of the sets and repositories found (empty when the file does not validate). */
  sets: string[]
  repositories: string[]
}

/** Shell words that are not programs on PATH. */
const SHELL_WORDS = new Set(
  '! { } ( ) [ [[ . : alias bg break case cd command continue declare echo eval exec exit export false fg for function getopts hash if jobs kill local printf pwd read readonly return set shift source test times trap true type ulimit umask unalias unset wait while until'.split(' '),
)

/** The program a shell command starts: its first word after `VAR=value` assignments. */
export function commandProgram(command: string): string | undefined {
  for (const word of command.trim().split(/\s+/)) {
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(word)) continue
    if (word === '' || /^[|&;<>$`"'(]/.test(word) || SHELL_WORDS.has(word)) return undefined
    return word
  }
  return undefined
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK)
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

/** True when `program` is a path to an executable, or found on PATH. */
export async function programExists(program: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (program.includes('/')) return isExecutable(program)
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && (await isExecutable(join(dir, program)))) return true
  }
  return false
}

async function readable(path: string): Promise<string | undefined> {
  try {
    await readFile(path)
    return undefined
  } catch (err) {
    return errnoCode(err) ?? messageOf(err)
  }
}

type Rec = Record<string, unknown>
const rec = (v: unknown): Rec => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {})
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [])

/**
 * Validates the config file and the facts it relies on. Never throws for a problem in the file
 * (it is an issue); throws only when the file cannot be read.
 *
 * @example
 * const { errors, issues } = await checkConfig('~/.config/cairn/cairn.yaml')
 */
export async function checkConfig(path?: string, env: NodeJS.ProcessEnv = process.env): Promise<ConfigCheck> {
  const file = resolve(path ?? defaultConfigPath(env))
  const text = await readConfigText(file, path === undefined)
  const inspected = inspectConfig(text, file)
  const issues = [...inspected.issues]
  let sets: string[] = []
  let repositories: string[] = []
  if (inspected.config !== undefined) {
    const loaded = parseConfig(text, file)
    sets = Object.keys(loaded.config.sets ?? {})
    repositories = Object.keys(loaded.config.repositories ?? {})
    issues.push(...(await runtimeIssues(loaded, env)))
  }
  const sorted = sortIssues(issues)
  return {
    file,
    issues: sorted,
    errors: sorted.filter((i) => i.severity === 'error').length,
    warnings: sorted.filter((i) => i.severity === 'warning').length,
    sets,
    repositories,
  }
}

async function runtimeIssues(loaded: LoadedConfig, env: NodeJS.ProcessEnv): Promise<ConfigIssue[]> {
  const out: ConfigIssue[] = []
  const at = (p: KeyPath, message: string, severity: ConfigIssue['severity'], hint?: string) => out.push(loaded.issueAt(p, message, severity, hint))
  const path = (p: string) => resolveConfigPath(p, loaded.dir, env)
  const config = loaded.config
  /** Reports a path whose environment variables are not all set; true when it did. */
  const unset = (keyPath: KeyPath, value: unknown): boolean => {
    const issue = unsetVariableIssue(loaded, keyPath, value, env)
    if (issue !== undefined) out.push(issue)
    return issue !== undefined
  }

  for (const name of Object.keys(config.repositories ?? {})) {
    const raw = config.repositories![name]
    const r = resolveRepository(config, name, loaded.dir, env)
    const base = ['repositories', name]
    try {
      parseRepositoryUrl(r.url)
    } catch (err) {
      at([...base, 'url'], messageOf(err), 'error', err instanceof AppError ? err.hint : undefined)
    }
    // Only a local repository's path is expanded (a remote URL is left as written).
    const url = String(raw.url ?? '')
    const urlUnset = isLocalRepositoryUrl(url) && unset([...base, 'url'], url)
    if (r.passwordFile !== undefined && !unset([...base, 'password-file'], rec(raw)['password-file'])) {
      const why = await readable(r.passwordFile)
      if (why) at([...base, 'password-file'], `cannot read password file "${r.passwordFile}": ${why}`, 'error', 'Create the file with the password in it, or fix the path (chmod 600 it)')
      else if (passwordFromText(await readFile(r.passwordFile, 'utf8')) === '') {
        at([...base, 'password-file'], `password file "${r.passwordFile}" holds no password (it is empty or only white space)`, 'error', 'Write the password into the file')
      }
    }
    if (r.passwordCommand !== undefined) {
      const program = commandProgram(r.passwordCommand)
      if (program !== undefined && !(await programExists(program, env))) at([...base, 'password-command'], `program "${program}" of the password command is not installed or not on PATH`, 'error', 'Install it, or give its full path')
    }
    if (r.passwordEnv !== undefined && (env[r.passwordEnv] ?? '') === '') {
      at([...base, 'password-env'], `environment variable ${r.passwordEnv} is not set here`, 'warning', 'Set it where cairn runs (shell profile, systemd unit), or use password-file')
    }
    for (const [i, f] of r.cacert.entries()) {
      const why = await readable(f)
      if (why) at([...base, 'cacert', ...(typeof raw.cacert === 'string' ? [] : [i])], `cannot read CA certificate "${f}": ${why}`, 'error', 'Fix the path')
    }
    const local = localPath(r.url)
    if (local !== undefined && !urlUnset) {
      const hasConfig = (await readable(join(local, 'config'))) === undefined
      if (!hasConfig && r.removable) at([...base, 'url'], `no repository at "${stripPassword(r.url)}" now (the drive may be unplugged)`, 'warning', 'Runs skip it while it is absent')
      else if (!hasConfig) {
        const hint = await createHint(local)
        at([...base, 'url'], `no repository at "${stripPassword(r.url)}" yet`, 'warning', hint.charAt(0).toUpperCase() + hint.slice(1))
      }
    }
  }

  const sections: Array<[KeyPath, Rec]> = [[['defaults'], rec(config.defaults)], ...Object.entries(config.sets ?? {}).map(([n, s]) => [['sets', n], rec(s)] as [KeyPath, Rec])]
  const beforeHooks = (section: Rec): boolean => {
    const before = rec(section.hooks).before
    return Array.isArray(before) && before.length > 0
  }
  const defaultsBefore = beforeHooks(rec(config.defaults))
  for (const [base, section] of sections) {
    // A before hook may make the source (a file system snapshot mounted for the backup, as the
    // docs' btrfs, LVM and ZFS examples do): missing now is no error then.
    const madeByHook = defaultsBefore || beforeHooks(section)
    for (const [i, src] of strings(section.sources).entries()) {
      if (!unset([...base, 'sources', i], src) && !(await exists(path(src)))) {
        if (madeByHook) at([...base, 'sources', i], `source "${path(src)}" does not exist now`, 'warning', 'Fine if a before hook makes it (a file system snapshot, say); else fix the path')
        else at([...base, 'sources', i], `source "${path(src)}" does not exist`, 'error', 'Fix the path, or remove it from sources')
      }
    }
    for (const key of ['exclude', 'iexclude'] as const) {
      for (const [i, pattern] of strings(section[key]).entries()) {
        const why = patternProblem(pattern)
        if (why) at([...base, key, i], `invalid pattern "${pattern}": ${why}`, 'error', PATTERN_HINT)
      }
    }
    for (const [i, f] of strings(section['exclude-file']).entries()) {
      if (unset([...base, 'exclude-file', i], f)) continue
      const why = await readable(path(f))
      if (why) at([...base, 'exclude-file', i], `cannot read exclude file "${path(f)}": ${why}`, 'error', 'Fix the path, or remove it')
    }
    const hooks = rec(section.hooks)
    for (const kind of ['before', 'after', 'on-error', 'finally']) {
      for (const [i, h] of (Array.isArray(hooks[kind]) ? (hooks[kind] as unknown[]) : []).entries()) {
        const command = typeof h === 'string' ? h : String(rec(h).command ?? '')
        const program = commandProgram(command)
        if (program !== undefined && !(await programExists(program, env))) {
          at([...base, 'hooks', kind, i], `program "${program}" is not installed or not on PATH`, 'warning', 'Install it, or give its full path (hooks run with sh -c)')
        }
      }
    }
    const prune = rec(section.prune)
    for (const key of ['max-unused', 'max-repack-size'] as const) {
      if (prune[key] === undefined) continue
      try {
        await resolvePruneOptions(key === 'max-unused' ? { maxUnused: String(prune[key]) } : { maxRepackSize: String(prune[key]) })
      } catch (err) {
        at([...base, 'prune', key], messageOf(err), 'error', err instanceof AppError ? err.hint : undefined)
      }
    }
  }
  return out
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p)
    return true
  } catch {
    return false
  }
}

/** `config show`: a set's effective settings, where each came from, and what they mean per destination. */
export interface SetDescription {
  file: string
  set: string
  /** Settings as spelled in the file, after inheritance. */
  effective: Record<string, unknown>
  /** Where each value came from, by key path (`mode`, `exclude[2]`, `retention.usb.keep-last`). */
  origins: Record<string, Origin>
  /** Each destination in priority order, with the retention that applies there. */
  destinations: Array<{ name: string; location: string; removable: boolean; retention: string | null }>
}

/**
 * The effective settings of set `name`. Throws CONFIG for an unknown set.
 *
 * @example
 * const d = describeBackupSet(await loadConfig(), 'data')
 * d.origins['retention.keep-daily'] // 'defaults'
 */
export function describeBackupSet(loaded: LoadedConfig, name: string, env: NodeJS.ProcessEnv = process.env): SetDescription {
  const { set, effective, origins } = resolveBackupSet(loaded.config, name, loaded.dir, env)
  return {
    file: loaded.file,
    set: name,
    effective,
    origins,
    destinations: set.destinations.map((d) => {
      const r = resolveRepository(loaded.config, d, loaded.dir, env)
      const policy = set.retention[d]
      return {
        name: d,
        location: stripPassword(r.url),
        removable: r.removable,
        retention: policy === undefined ? null : describePolicy(retentionPolicyFromFlags(retentionFlags(policy))),
      }
    }),
  }
}

/**
 * Writes the commented starter config (`config init`); refuses to replace an existing file
 * unless `force`. Returns the path written.
 */
export async function writeStarterConfig(path?: string, force = false, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = resolve(path ?? defaultConfigPath(env))
  await mkdir(dirname(file), { recursive: true })
  try {
    await writeFile(file, starterConfig(), { flag: force ? 'w' : 'wx', mode: 0o600 })
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') {
      throw new AppError('CONFIG', `Config file "${file}" exists already`, { hint: 'Edit it, or add --force to replace it with the starter file' })
    }
    throw new AppError('IO', `Cannot write config file "${file}": ${errnoCode(err) ?? messageOf(err)}`)
  }
  return file
}
