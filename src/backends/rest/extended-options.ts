import { z } from 'zod'
import { AppError } from '../../base/index.js'

/**
 * The `-o prefix.key=value` options meant for one backend, parsed by a zod object schema whose
 * keys are the part after `prefix.` (values arrive as strings; use z.coerce or transforms).
 * Options for other backends are ignored; an unknown key with this prefix, or a bad value, is an
 * INVALID_ARGUMENT error naming the option, as restic refuses unknown options.
 *
 * @example
 * parseExtendedOptions('rest', z.strictObject({ connections: positiveInt(5) }), { 'rest.connections': '8' })
 * // → { connections: 8 }
 */
export function parseExtendedOptions<S extends z.ZodObject>(prefix: string, schema: S, extended: Readonly<Record<string, string>> = {}): z.infer<S> {
  const mine: Record<string, string> = {}
  for (const [key, value] of Object.entries(extended)) {
    if (key.startsWith(`${prefix}.`)) mine[key.slice(prefix.length + 1)] = value
  }
  const known = Object.keys(schema.shape).map((k) => `${prefix}.${k}`)
  for (const key of Object.keys(mine)) {
    if (!(key in schema.shape)) {
      throw new AppError('INVALID_ARGUMENT', `Unknown option "-o ${prefix}.${key}"`, { hint: `Options of this backend: ${known.join(', ')}` })
    }
  }
  const result = schema.safeParse(mine)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const key = String(issue.path[0] ?? '')
  throw new AppError('INVALID_ARGUMENT', `Invalid option "-o ${prefix}.${key}=${mine[key] ?? ''}": ${issue.message}`)
}

/** A whole number from 1 to 1000, `fallback` when the option is absent. */
export function positiveInt(fallback: number) {
  return z
    .string()
    .default(String(fallback))
    .transform((s, ctx) => {
      const n = /^\s*\d+\s*$/.test(s) ? Number(s) : NaN
      if (!(n >= 1 && n <= 1000)) {
        ctx.addIssue({ code: 'custom', message: 'expected a whole number from 1 to 1000' })
        return z.NEVER
      }
      return n
    })
}
