/**
 * The effective settings of one backup set: the set's own values over `defaults` over
 * cairn's built-in defaults, with where each value came from. Rules:
 * - lists of patterns, tags and hooks add the set's entries after the defaults';
 * - `retention` merges key by key; a policy under a repository's name also merges key by key
 *   (defaults, then the set) and then replaces the general policy for that destination;
 * - `prune`, `check` and `hooks` merge key by key;
 * - everything else (sources, destinations, mode, …) is the set's value when it has one.
 * Pure apart from reading the host name and HOME.
 */
import { hostname } from 'node:os'
import { AppError } from '../base/index.js'
import { resolveConfigPath } from './paths.js'
import { RETENTION_KEYS, setSchema, type ConfigFile, type RetentionPolicyConfig, type ScheduleConfig } from './schema.js'
import type { NotificationTarget } from './notifications.js'
import { parseByteSize, parseTimeout } from './values.js'

/** Where an effective value came from. */
export type Origin = 'set' | 'defaults' | 'built-in'

/** A hook command ready to run. */
export interface HookCommand {
  command: string
  timeoutMs: number
  continueOnError: boolean
}

/** A set's settings after inheritance, in the shapes the run needs (paths absolute, sizes in bytes). */
export interface EffectiveSet {
  name: string
  description?: string
  sources: string[]
  exclude: string[]
  iexclude: string[]
  excludeFile: string[]
  excludeCaches: boolean
  excludeIfPresent: string[]
  excludeLargerThan?: number
  oneFileSystem: boolean
  ignoreFiles: string[]
  tags: string[]
  host: string
  destinations: string[]
  mode: 'first-available' | 'all'
  copy: boolean
  schedule?: ScheduleConfig
  /** The policy for each destination (its own, else the general one); undefined: keep everything. */
  retention: Record<string, RetentionPolicyConfig | undefined>
  prune: { when: string; maxUnused: string; maxRepackSize?: string; repackUncompressed: boolean; repackSmall: boolean }
  check: { schedule?: ScheduleConfig; afterBackup: boolean; readData: boolean; readDataSubset?: string }
  hooks: { before: HookCommand[]; after: HookCommand[]; onError: HookCommand[]; finally: HookCommand[] }
  notify: NotificationTarget[]
}

/** resolveBackupSet's answer. */
export interface ResolvedSet {
  set: EffectiveSet
  /** The merged settings spelled as in the file (kebab-case keys, paths as written). */
  effective: Record<string, unknown>
  /** Where each value came from, by key path (`mode`, `exclude[2]`, `retention.usb.keep-last`). */
  origins: Record<string, Origin>
}

/** Built-in defaults, spelled as in the file. */
export const BUILT_IN_DEFAULTS = {
  mode: 'first-available',
  copy: false,
  'exclude-caches': false,
  'one-file-system': false,
  prune: { when: 'after-forget', 'max-unused': '5%', 'repack-uncompressed': false, 'repack-small': false },
  check: { 'after-backup': false, 'read-data': false },
  hooks: { timeout: '1h' },
} as const

const APPEND_LISTS = new Set(['exclude', 'iexclude', 'exclude-file', 'exclude-if-present', 'ignore-files', 'tags', 'notify'])
const HOOK_LISTS = ['before', 'after', 'on-error', 'finally'] as const
const NESTED = new Set(['prune', 'check', 'hooks'])
const POLICY_KEYS: ReadonlySet<string> = new Set(RETENTION_KEYS)

type Rec = Record<string, unknown>
const rec = (v: unknown): Rec => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {})

/** Merges one level: lists in `append` concatenate, every other key is set > defaults > built-in. */
function mergeLevel(prefix: string, layers: Array<[Origin, Rec]>, append: ReadonlySet<string>, out: Rec, origins: Record<string, Origin>): void {
  const keys = new Set(layers.flatMap(([, l]) => Object.keys(l)))
  for (const key of keys) {
    const path = prefix === '' ? key : `${prefix}.${key}`
    if (append.has(key)) {
      const list: unknown[] = []
      // defaults before the set; built-ins hold no lists
      for (const [origin, layer] of [...layers].reverse()) {
        for (const item of (layer[key] as unknown[] | undefined) ?? []) {
          origins[`${path}[${list.length}]`] = origin
          list.push(item)
        }
      }
      out[key] = list
      continue
    }
    const found = layers.find(([, l]) => l[key] !== undefined)
    if (found) {
      out[key] = found[1][key]
      origins[path] = found[0]
    }
  }
}

function mergeRetention(defaults: Rec, set: Rec, origins: Record<string, Origin>): Rec {
  const out: Rec = {}
  const layers: Array<[Origin, Rec]> = [
    ['set', set],
    ['defaults', defaults],
  ]
  const general = layers.map(([o, l]) => [o, Object.fromEntries(Object.entries(l).filter(([k]) => POLICY_KEYS.has(k)))] as [Origin, Rec])
  mergeLevel('retention', general, new Set(), out, origins)
  const destinations = new Set([...Object.keys(defaults), ...Object.keys(set)].filter((k) => !POLICY_KEYS.has(k)))
  for (const d of destinations) {
    const policy: Rec = {}
    mergeLevel(`retention.${d}`, layers.map(([o, l]) => [o, rec(l[d])] as [Origin, Rec]), new Set(), policy, origins)
    out[d] = policy
  }
  return out
}

/**
 * The effective settings of set `name`, and where each came from. Relative paths are resolved
 * against `dir` (the config file's directory) and `~` against HOME. Throws AppError CONFIG
 * when no set has that name.
 *
 * @example
 * const { set, origins } = resolveBackupSet(config, 'data', '/home/me/.config/cairn')
 * origins['retention.usb.keep-last'] // 'set'
 */
export function resolveBackupSet(config: ConfigFile, name: string, dir: string, env: NodeJS.ProcessEnv = process.env): ResolvedSet {
  const sets = config.sets ?? {}
  const own = sets[name]
  if (own === undefined) {
    const names = Object.keys(sets)
    throw new AppError('CONFIG', `No backup set "${name}" in the config file`, {
      hint: names.length > 0 ? `Sets defined: ${names.join(', ')}` : 'Add it under "sets:"',
    })
  }
  const set = own as Rec
  const defaults = (config.defaults ?? {}) as Rec
  const builtIn: Rec = { ...BUILT_IN_DEFAULTS, host: hostname() }
  const origins: Record<string, Origin> = {}
  const effective: Rec = {}
  const top = (l: Rec) => Object.fromEntries(Object.entries(l).filter(([k]) => !NESTED.has(k) && k !== 'retention'))
  mergeLevel('', [['set', top(set)], ['defaults', top(defaults)], ['built-in', top(builtIn)]], APPEND_LISTS, effective, origins)
  for (const key of NESTED) {
    const nested: Rec = {}
    const append = key === 'hooks' ? new Set<string>(HOOK_LISTS) : new Set<string>()
    mergeLevel(key, [['set', rec(set[key])], ['defaults', rec(defaults[key])], ['built-in', rec(builtIn[key])]], append, nested, origins)
    effective[key] = nested
  }
  if (set.retention !== undefined || defaults.retention !== undefined) effective.retention = mergeRetention(rec(defaults.retention), rec(set.retention), origins)
  const ordered = inSchemaOrder(effective)
  const resolved = toEffectiveSet(name, ordered, dir, env)
  // paths as they will be read: ~ expanded, relative ones made absolute
  if (ordered.sources !== undefined) ordered.sources = resolved.sources
  if (ordered['exclude-file'] !== undefined) ordered['exclude-file'] = resolved.excludeFile
  return { set: resolved, effective: ordered, origins }
}

/** The keys in the order the schema (and the docs) list them. */
function inSchemaOrder(e: Rec): Rec {
  const out: Rec = {}
  for (const key of Object.keys(setSchema.shape)) {
    if (e[key] === undefined) continue
    const nested = NESTED.has(key) ? (setSchema.shape[key as 'prune' | 'check' | 'hooks'].unwrap().shape as Rec) : undefined
    out[key] = nested ? Object.fromEntries(Object.keys(nested).filter((k) => rec(e[key])[k] !== undefined).map((k) => [k, rec(e[key])[k]])) : e[key]
  }
  return out
}

function toEffectiveSet(name: string, e: Rec, dir: string, env: NodeJS.ProcessEnv): EffectiveSet {
  const list = (k: string) => ((e[k] as string[] | undefined) ?? []).map(String)
  const path = (p: string) => resolveConfigPath(p, dir, env)
  const destinations = list('destinations')
  const retention = rec(e.retention)
  const general = Object.fromEntries(Object.entries(retention).filter(([k]) => POLICY_KEYS.has(k))) as RetentionPolicyConfig
  const perDestination: Record<string, RetentionPolicyConfig | undefined> = {}
  for (const d of destinations) {
    const p = retention[d] !== undefined ? (retention[d] as RetentionPolicyConfig) : general
    perDestination[d] = Object.keys(p).length > 0 ? p : undefined
  }
  const prune = rec(e.prune)
  const check = rec(e.check)
  const hooks = rec(e.hooks)
  const defaultTimeout = parseTimeout(hooks.timeout as string | number) ?? 3_600_000
  const hookList = (k: string): HookCommand[] =>
    ((hooks[k] as unknown[] | undefined) ?? []).map((h) => {
      if (typeof h === 'string') return { command: h, timeoutMs: defaultTimeout, continueOnError: false }
      const o = rec(h)
      return {
        command: String(o.command),
        timeoutMs: o.timeout === undefined ? defaultTimeout : (parseTimeout(o.timeout as string | number) ?? defaultTimeout),
        continueOnError: o['continue-on-error'] === true,
      }
    })
  const largerThan = e['exclude-larger-than']
  return {
    name,
    ...(typeof e.description === 'string' ? { description: e.description } : {}),
    sources: list('sources').map(path),
    exclude: list('exclude'),
    iexclude: list('iexclude'),
    excludeFile: list('exclude-file').map(path),
    excludeCaches: e['exclude-caches'] === true,
    excludeIfPresent: list('exclude-if-present'),
    ...(largerThan === undefined ? {} : { excludeLargerThan: parseByteSize(largerThan as string | number) }),
    oneFileSystem: e['one-file-system'] === true,
    ignoreFiles: list('ignore-files'),
    tags: list('tags'),
    host: String(e.host),
    destinations,
    mode: e.mode === 'all' ? 'all' : 'first-available',
    copy: e.copy === true,
    ...(e.schedule === undefined ? {} : { schedule: e.schedule as ScheduleConfig }),
    retention: perDestination,
    prune: {
      when: String(prune.when),
      maxUnused: String(prune['max-unused']),
      ...(prune['max-repack-size'] === undefined ? {} : { maxRepackSize: String(prune['max-repack-size']) }),
      repackUncompressed: prune['repack-uncompressed'] === true,
      repackSmall: prune['repack-small'] === true,
    },
    check: {
      ...(check.schedule === undefined ? {} : { schedule: check.schedule as ScheduleConfig }),
      afterBackup: check['after-backup'] === true,
      readData: check['read-data'] === true,
      ...(typeof check['read-data-subset'] === 'string' ? { readDataSubset: check['read-data-subset'] } : {}),
    },
    hooks: { before: hookList('before'), after: hookList('after'), onError: hookList('on-error'), finally: hookList('finally') },
    notify: (e.notify as NotificationTarget[] | undefined) ?? [],
  }
}

/** The names of the sets in the file, in file order. */
export function setNames(config: ConfigFile): string[] {
  return Object.keys(config.sets ?? {})
}
