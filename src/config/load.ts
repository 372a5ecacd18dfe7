/**
 * Reading and validating a config file: YAML or JSON text → the YAML document (for positions)
 * → the schema → cross-references. Every problem becomes a ConfigIssue with file, line, key
 * path and a hint; loadConfig() throws a ConfigError when there is any error.
 */
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { AppError, errnoCode, messageOf } from '../base/index.js'
import { ConfigError, sortIssues, type ConfigIssue } from './config-error.js'
import { ConfigText, type KeyPath } from './locate.js'
import { defaultConfigPath } from './paths.js'
import { checkReferences, coveredByReferences } from './references.js'
import { configSchema, type ConfigFile } from './schema.js'
import { translateZodIssue, type PathIssue } from './zod-issues.js'
import { unsetVariableIssues } from './variables.js'

/** A config file that passed validation. */
export interface LoadedConfig {
  /** Absolute path of the file. */
  file: string
  /** Its directory: relative paths in the file are relative to it. */
  dir: string
  config: ConfigFile
  /** Problems that do not stop it being used. */
  warnings: ConfigIssue[]
  /** Positions of key paths, for messages about runtime facts (an unreadable password file). */
  text: ConfigText
  /** An issue placed at a key path of this file. */
  issueAt(path: KeyPath, message: string, severity: ConfigIssue['severity'], hint?: string): ConfigIssue
}

/** The outcome of checking a config text: the config when there is no error, and every issue. */
export interface InspectedConfig {
  file: string
  config?: ConfigFile
  issues: ConfigIssue[]
  text: ConfigText
}

/**
 * Checks config text without throwing. YAML and JSON are both accepted (JSON is YAML). Issues
 * are sorted by position.
 *
 * @example
 * const { config, issues } = inspectConfig('sets: {}', '/tmp/cairn.yaml')
 */
export function inspectConfig(text: string, file: string): InspectedConfig {
  const parsed = new ConfigText(text)
  const place = (i: PathIssue): ConfigIssue => ({ file, position: parsed.locate(i.path), ...i })
  if (parsed.problems.length > 0) {
    const issues = parsed.problems.map((p) => ({
      file,
      path: [],
      position: p.position,
      ...(p.duplicateKey !== undefined
        ? { message: `not valid YAML: the key "${p.duplicateKey}" is given twice in the same map`, hint: 'A map holds each key once: merge the two into one, or rename one of them' }
        : { message: `not valid YAML: ${p.message}`, hint: 'Check the indentation (spaces, not tabs), colons after keys, and closing brackets and quotes' }),
      severity: 'error' as const,
    }))
    return { file, issues, text: parsed }
  }
  const value = parsed.value ?? {}
  const issues: PathIssue[] = []
  if (typeof value !== 'object' || Array.isArray(value)) {
    issues.push({ path: [], message: 'the file must hold a map of sections (repositories, defaults, sets)', severity: 'error' })
    return { file, issues: issues.map(place), text: parsed }
  }
  const result = configSchema.safeParse(value)
  if (!result.success) {
    // A value out of bounds whose own check also failed (a timeout of -5) gets that check's
    // message alone, which says how to write it.
    const key = (p: readonly PropertyKey[]) => p.map(String).join('\0')
    const checked = new Set(result.error.issues.filter((zi) => zi.code === 'custom').map((zi) => key(zi.path)))
    for (const zi of result.error.issues) {
      if ((zi.code === 'too_small' || zi.code === 'too_big') && checked.has(key(zi.path))) continue
      for (const i of translateZodIssue(zi, value, configSchema)) if (!coveredByReferences(value, i.path)) issues.push(i)
    }
  }
  issues.push(...checkReferences(value))
  const placed = sortIssues(issues.map(place))
  const ok = result.success && !placed.some((i) => i.severity === 'error')
  return { file, config: ok ? result.data : undefined, issues: placed, text: parsed }
}

/**
 * Reads and validates a config file (default: {@link defaultConfigPath}). Throws ConfigError
 * (code CONFIG) listing every error with its line, or AppError CONFIG when the file cannot be
 * read.
 */
export async function loadConfig(path?: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const file = resolve(path ?? defaultConfigPath(env))
  const text = await readConfigText(file, path === undefined)
  const loaded = parseConfig(text, file)
  // A path with an unset variable would name a folder "$VAR" beside the file: refused, as
  // "config check" reports it.
  const unset = unsetVariableIssues(loaded, env)
  if (unset.length > 0) throw new ConfigError(file, unset)
  return loaded
}

/** Validates config text that was read already (tests, the daemon's reload); throws as loadConfig. */
export function parseConfig(text: string, file: string): LoadedConfig {
  const inspected = inspectConfig(text, file)
  if (inspected.config === undefined) throw new ConfigError(file, inspected.issues)
  const parsed = inspected.text
  return {
    file,
    dir: dirname(file),
    config: inspected.config,
    warnings: inspected.issues.filter((i) => i.severity === 'warning'),
    text: parsed,
    issueAt: (p, message, severity, hint) => ({ file, path: p, position: parsed.locate(p), message, severity, ...(hint ? { hint } : {}) }),
  }
}

/** The text of a config file; a missing file gets a hint on how to make one. */
export async function readConfigText(file: string, isDefault: boolean): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    const code = errnoCode(err)
    if (code === 'ENOENT') {
      throw new AppError('CONFIG', `No config file "${file}"`, {
        hint: isDefault ? 'Create one with "cairn config init", or name one with --config FILE' : 'Check the path given with --config',
        cause: err,
      })
    }
    throw new AppError('CONFIG', `Cannot read config file "${file}": ${code ?? messageOf(err)}`, { hint: 'Check that the file is readable', cause: err })
  }
}
