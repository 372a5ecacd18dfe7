/**
 * Turns zod's issues into config issues a person can act on: an unknown key names the keys
 * allowed there and the likely one meant, a wrong type says what was found and how to write
 * what is expected, a wrong choice lists the choices.
 */
import type { z } from 'zod'
import type { KeyPath } from './locate.js'
import { closest } from './suggest.js'

/** A problem before it is given a file and a position. */
export interface PathIssue {
  path: KeyPath
  message: string
  hint?: string
  severity: 'error' | 'warning'
}

type AnySchema = z.core.$ZodType
type Def = { type: string; shape?: Record<string, AnySchema>; catchall?: AnySchema; element?: AnySchema; valueType?: AnySchema; innerType?: AnySchema; in?: AnySchema; options?: AnySchema[] }

function defOf(s: AnySchema): Def {
  return s._zod.def as unknown as Def
}

/** Optional, default, nullable, pipe and readonly wrappers removed. */
function unwrap(s: AnySchema): AnySchema {
  let cur = s
  for (;;) {
    const d = defOf(cur)
    if (d.innerType !== undefined) cur = d.innerType
    else if (d.type === 'pipe' && d.in !== undefined) cur = d.in
    else return cur
  }
}

/** The schema that validates the value at `path`, or undefined when the path leaves it. */
export function schemaAt(root: AnySchema, path: KeyPath): AnySchema | undefined {
  let cur: AnySchema | undefined = unwrap(root)
  for (const seg of path) {
    if (cur === undefined) return undefined
    const d = defOf(cur)
    if (d.type === 'object') cur = d.shape?.[String(seg)] ?? d.catchall
    else if (d.type === 'record') cur = d.valueType
    else if (d.type === 'array') cur = d.element
    else if (d.type === 'union') cur = d.options?.map(unwrap).find((o) => defOf(o).type === 'object')
    else return undefined
    if (cur !== undefined) cur = unwrap(cur)
    if (cur !== undefined && defOf(cur).type === 'union') {
      const obj = defOf(cur).options?.map(unwrap).find((o) => defOf(o).type === 'object')
      if (obj !== undefined && typeof seg === 'string') cur = obj
    }
  }
  return cur
}

/** The keys an object schema at `path` allows (empty when it is not an object). */
export function keysAt(root: AnySchema, path: KeyPath): string[] {
  let s = schemaAt(root, path)
  if (s !== undefined && defOf(s).type === 'union') s = defOf(s).options?.map(unwrap).find((o) => defOf(o).type === 'object')
  return s !== undefined && defOf(s).type === 'object' ? Object.keys(defOf(s).shape ?? {}) : []
}

/** The value at `path` in the parsed file. */
export function valueAt(value: unknown, path: KeyPath): unknown {
  let cur = value
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string | number, unknown>)[seg]
  }
  return cur
}

/** How a value reads in a message: `a list`, `the number 5`, `the text "x"`, `nothing`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a map of keys'
  if (typeof v === 'string') return `the text ${JSON.stringify(v)}`
  if (typeof v === 'number') return `the number ${v}`
  if (typeof v === 'boolean') return `${v}`
  return typeof v
}

const EXPECTED: Record<string, { noun: string; hint: string }> = {
  array: { noun: 'a list', hint: 'Write a list: [a, b] on one line, or one "- item" per line below the key' },
  object: { noun: 'a map of keys', hint: 'Write "key: value" lines indented below it, or { key: value }' },
  record: { noun: 'a map of keys', hint: 'Write "key: value" lines indented below it, or { key: value }' },
  string: { noun: 'text', hint: 'Write text; quote it ("…") if it looks like a number, a date or true/false' },
  number: { noun: 'a number', hint: 'Write a number without quotes' },
  boolean: { noun: 'true or false', hint: 'Write true or false, without quotes' },
}

function knownKeysHint(key: string, known: string[], extra = ''): string {
  const guess = closest(key, known)
  const list = known.length > 0 ? `Allowed here: ${known.join(', ')}` : ''
  return [guess ? `Did you mean "${guess}"?` : '', extra, list].filter((s) => s !== '').join(' ')
}

/**
 * Config issues for one zod issue; `value` is the parsed file, `schema` the schema it was
 * checked against.
 */
export function translateZodIssue(issue: z.core.$ZodIssue, value: unknown, schema: AnySchema): PathIssue[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol')
  const got = valueAt(value, path)
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = keysAt(schema, path)
      return issue.keys.map((key) => ({
        path: [...path, key],
        message: `unknown key "${key}"`,
        hint: knownKeysHint(key, known, key === 'sources' && path.length === 1 && path[0] === 'defaults' ? 'Sources belong in each set, not in defaults.' : ''),
        severity: 'error' as const,
      }))
    }
    case 'invalid_key': {
      const inner = issue.issues[0]?.message ?? 'invalid name'
      return [{ path, message: `invalid name "${String(path[path.length - 1])}": ${inner}`, hint: 'Rename it, for example "nas" or "home-data"', severity: 'error' }]
    }
    case 'invalid_type': {
      const want = EXPECTED[issue.expected] ?? { noun: issue.expected, hint: '' }
      if (got === undefined) return [{ path, message: `"${String(path[path.length - 1])}" is required`, hint: `Add "${String(path[path.length - 1])}:" with ${want.noun}`, severity: 'error' }]
      return [{ path, message: `expected ${want.noun}, got ${describeValue(got)}`, hint: want.hint || undefined, severity: 'error' }]
    }
    case 'invalid_value': {
      const choices = issue.values.map((v) => String(v))
      const guess = typeof got === 'string' ? closest(got, choices) : undefined
      return [{
        path,
        message: `${describeValue(got)} is not a valid ${typeof path[path.length - 1] === 'string' ? String(path[path.length - 1]) : 'value'}`,
        hint: `${guess ? `Did you mean "${guess}"? ` : ''}Use one of: ${choices.join(', ')}`,
        severity: 'error',
      }]
    }
    case 'invalid_union': {
      const choice = discriminatorIssue(issue, path, got, schema)
      if (choice !== undefined) return [choice]
      // A branch whose problems are deeper than "wrong type" is the one the author meant.
      const deep = issue.errors.find((branch) => branch.some((i) => i.code !== 'invalid_type' || i.path.length > 0))
      if (deep) return deep.flatMap((i) => translateZodIssue({ ...i, path: [...issue.path, ...i.path] } as z.core.$ZodIssue, value, schema))
      const nouns = issue.errors.flatMap((b) => b.filter((i) => i.code === 'invalid_type').map((i) => EXPECTED[(i as { expected: string }).expected]?.noun ?? 'another kind of value'))
      return [{ path, message: `expected ${[...new Set(nouns)].join(' or ')}, got ${describeValue(got)}`, hint: unionHint(path), severity: 'error' }]
    }
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small'
      const bound = Number(small ? (issue as { minimum: unknown }).minimum : (issue as { maximum: unknown }).maximum)
      const inclusive = (issue as { inclusive?: boolean }).inclusive !== false
      const key = typeof path[path.length - 1] === 'string' ? String(path[path.length - 1]) : 'value'
      const origin = (issue as { origin?: string }).origin
      const limit = `${small ? (inclusive ? 'at least' : 'more than') : inclusive ? 'at most' : 'less than'} ${bound}`
      const message =
        origin === 'string' ? `${describeValue(got)} is too ${small ? 'short' : 'long'} for ${key}: ${limit} characters`
        : origin === 'array' || origin === 'set' ? `${key} lists ${Array.isArray(got) ? got.length : 'too few'} ${small ? '' : 'too many '}items: ${limit}`.replace('  ', ' ')
        : `${describeValue(got)} is too ${small ? 'small' : 'large'} for ${key}: ${limit}`
      const hint = key === 'to' || key === 'from' ? 'Write an email address, such as me@example.com' : undefined
      return [{ path, message, ...(hint ? { hint } : {}), severity: 'error' }]
    }
    default: {
      const hint = (issue as { params?: { hint?: unknown } }).params?.hint
      return [{ path, message: issue.message, ...(typeof hint === 'string' ? { hint } : {}), severity: 'error' }]
    }
  }
}

/**
 * A discriminated union (`type: ntfy`, `type: email`, …) whose discriminator matches none of
 * its branches: that is a wrong choice, so the message lists the choices.
 */
function discriminatorIssue(issue: z.core.$ZodIssue & { code: 'invalid_union' }, path: KeyPath, got: unknown, schema: AnySchema): PathIssue | undefined {
  const key = (issue as { discriminator?: unknown }).discriminator
  if (issue.errors.length > 0 || typeof key !== 'string') return undefined
  const union = schemaAt(schema, path[path.length - 1] === key ? path.slice(0, -1) : path)
  const choices = (union === undefined ? [] : (defOf(union).options ?? [])).flatMap((o) => {
    const literal = defOf(unwrap(o)).shape?.[key]
    return literal === undefined ? [] : ((defOf(literal) as { values?: unknown[] }).values ?? []).map(String)
  })
  if (choices.length === 0) return undefined
  const guess = typeof got === 'string' ? closest(got, choices) : undefined
  return {
    path: path[path.length - 1] === key ? path : [...path, key],
    message: got === undefined ? `"${key}" is required` : `${describeValue(got)} is not a valid ${key}`,
    hint: `${guess ? `Did you mean "${guess}"? ` : ''}Use one of: ${choices.join(', ')}`,
    severity: 'error',
  }
}

function unionHint(path: KeyPath): string | undefined {
  if (path.some((p) => p === 'before' || p === 'after' || p === 'on-error' || p === 'finally')) {
    return 'Write a shell command as text, or { command: "…", timeout: 5m, continue-on-error: true }'
  }
  return undefined
}
