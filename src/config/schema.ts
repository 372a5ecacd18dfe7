/**
 * The config file's schema (zod v4): `repositories`, `defaults` and `sets`. Keys are spelled as
 * in the file (kebab-case, as restic's flags). Values that have their own small language
 * (sizes, timeouts, retention durations, schedules) are checked here so that a mistake is
 * reported with its line; cross-references (a destination naming a repository) are checked in
 * references.ts. docs/cairn.schema.json is generated from `configSchema` (scripts/gen-schema.mjs).
 */
import { z } from 'zod'
import type { AppError } from '../base/index.js'
import { notificationTargetSchema } from './notifications.js'
import { durationSchema, parseDuration, parseSchedule } from './schedule.js'

/** The tag every snapshot of a set carries (SET_TAG_PREFIX + its name), so retention touches only that set's snapshots. */
export const SET_TAG_PREFIX = 'cairn-set:'
import { isPercentage, isReadDataSubset, isRetentionCount, isRetentionDuration, parseByteSize, parseTimeout } from './values.js'

/** Names of repositories and sets: a letter or digit, then letters, digits, `_`, `.`, `-`. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

const name = (what: string) =>
  z.string().regex(NAME_PATTERN, { error: `a ${what} name may hold only letters, digits, "_", "." and "-", and starts with a letter or digit` })

/** A byte size: a number of bytes, or text such as `500M` or `10GiB` (powers of 1024). */
export const sizeSchema = z
  .union([z.number().int().nonnegative(), z.string()])
  .refine((v) => parseByteSize(v) !== undefined, { error: (i) => `invalid size ${JSON.stringify(i.input)}: use a number with an optional unit k, M, G or T, such as 500M or 10GiB` })
  .meta({ id: 'size', description: 'A size in bytes, or with a unit (k, M, G, T; powers of 1024): "500M", "10GiB"' })

/** A timeout: seconds, or text such as `90s`, `5m`, `1h30m`. */
export const timeoutSchema = z
  .union([z.number().positive(), z.string()])
  .refine((v) => parseTimeout(v) !== undefined, { error: (i) => `invalid timeout ${JSON.stringify(i.input)}: use seconds, or a duration such as 90s, 5m or 1h30m` })
  .meta({ id: 'timeout', description: 'Seconds, or a duration such as "90s", "5m", "1h30m"' })

/** The shortest time between two of the next runs of a schedule (undefined if it cannot tell). */
function shortestGap(schedule: { nextRun(after: Date): Date }): number | undefined {
  try {
    let at = schedule.nextRun(new Date())
    let gap = Infinity
    for (let i = 0; i < 16; i++) {
      const next = schedule.nextRun(at)
      gap = Math.min(gap, next.getTime() - at.getTime())
      at = next
    }
    return Number.isFinite(gap) ? gap : undefined
  } catch {
    return undefined
  }
}

function formatGap(ms: number): string {
  const m = Math.round(ms / 60_000)
  if (m % 1440 === 0) return `${m / 1440}d`
  if (m % 60 === 0) return `${m / 60}h`
  return `${m}m`
}

/** Checks schedule text with the daemon's parseSchedule(); its message and hint become the issue's. */
function checkSchedule(text: string, ctx: z.core.$RefinementCtx<string>, options: { jitter?: string | number; timeZone?: string } = {}): void {
  try {
    parseSchedule(text, options)
  } catch (err) {
    const e = err as AppError
    ctx.addIssue({ code: 'custom', message: e.message.replace(/^Invalid/, 'invalid'), params: { hint: e.hint } })
  }
}

const scheduleText = z.string().superRefine((v, ctx) => checkSchedule(v, ctx))

/**
 * A schedule: text such as `daily 02:30`, `weekly sun 03:00`, `every 6h` or a cron expression
 * `30 2 * * *`, or `{ when, jitter, timezone }`. Checked with parseSchedule() (schedule.ts).
 */
export const scheduleSchema = z
  .union([
    scheduleText,
    z
      .strictObject({
        when: scheduleText,
        jitter: durationSchema.optional().meta({ description: 'A random delay added to each run, e.g. 15m' }),
        timezone: z.string().optional().meta({ description: 'IANA zone such as Europe/Berlin; default: the system\'s' }),
      })
      .superRefine((v, ctx) => {
        let schedule
        try {
          schedule = parseSchedule(v.when, { timeZone: v.timezone })
        } catch (err) {
          const e = err as AppError
          if (v.timezone !== undefined) ctx.addIssue({ code: 'custom', path: ['timezone'], message: e.message.replace(/^Invalid/, 'invalid'), params: { hint: e.hint } })
          return
        }
        let jitterMs = 0
        try {
          jitterMs = v.jitter === undefined ? 0 : parseDuration(v.jitter)
        } catch {
          return // reported as the jitter's own issue
        }
        // A delay as long as the time between two runs makes the daemon skip runs, quietly.
        const gap = shortestGap(schedule)
        if (jitterMs > 0 && gap !== undefined && jitterMs >= gap) {
          ctx.addIssue({
            code: 'custom',
            path: ['jitter'],
            message: `jitter ${String(v.jitter)} is not shorter than the time between two runs of "${v.when}" (${formatGap(gap)}): runs would be skipped`,
            params: { hint: 'Use a jitter well under the interval, a third of it at most' },
          })
        }
      }),
  ])
  .meta({ id: 'schedule', description: 'When to run: "daily 02:30", "hourly", "weekly sun 03:00", "every 6h", a cron expression "30 2 * * *", or { when, jitter, timezone }' })

const count = z
  .union([z.number(), z.string()])
  .refine((v) => isRetentionCount(v), { error: (i) => `invalid count ${JSON.stringify(i.input)}: use a whole number of snapshots, or "unlimited"` })
const duration = z
  .string()
  .refine((v) => isRetentionDuration(v), { error: (i) => `invalid duration ${JSON.stringify(i.input)}: use years, months, days and hours as restic does, such as 1y6m or 30d` })

/** The `keep-*` options of one retention policy (restic's forget flags). */
export const RETENTION_KEYS = [
  'keep-last',
  'keep-hourly',
  'keep-daily',
  'keep-weekly',
  'keep-monthly',
  'keep-yearly',
  'keep-within',
  'keep-within-hourly',
  'keep-within-daily',
  'keep-within-weekly',
  'keep-within-monthly',
  'keep-within-yearly',
  'keep-tag',
] as const

const policyShape = {
  'keep-last': count.optional().meta({ description: 'Keep the last n snapshots' }),
  'keep-hourly': count.optional().meta({ description: 'Keep the last n hourly snapshots' }),
  'keep-daily': count.optional().meta({ description: 'Keep the last n daily snapshots' }),
  'keep-weekly': count.optional().meta({ description: 'Keep the last n weekly snapshots' }),
  'keep-monthly': count.optional().meta({ description: 'Keep the last n monthly snapshots' }),
  'keep-yearly': count.optional().meta({ description: 'Keep the last n yearly snapshots' }),
  'keep-within': duration.optional().meta({ description: 'Keep snapshots newer than this (1y5m7d2h) before the newest' }),
  'keep-within-hourly': duration.optional(),
  'keep-within-daily': duration.optional(),
  'keep-within-weekly': duration.optional(),
  'keep-within-monthly': duration.optional(),
  'keep-within-yearly': duration.optional(),
  'keep-tag': z.array(z.string()).optional().meta({ description: 'Keep snapshots with all tags of one entry ("a,b")' }),
}

/** One retention policy. */
export const retentionPolicySchema = z.strictObject(policyShape).meta({ id: 'retentionPolicy', description: 'keep-* options, as restic forget' })

/**
 * `retention:`: a policy for every destination, and under a repository's name a policy of its
 * own that replaces the general one for that destination.
 */
export const retentionSchema = z
  .object(policyShape)
  .catchall(retentionPolicySchema)
  .meta({ id: 'retention', description: 'keep-* options for every destination; under a repository name, a policy that replaces them for that destination' })

const hookCommandSchema = z
  .union([
    z.string().min(1),
    z.strictObject({
      command: z.string().min(1).meta({ description: 'Run with sh -c' }),
      timeout: timeoutSchema.optional(),
      'continue-on-error': z.boolean().optional().meta({ description: 'A failure does not stop the set' }),
    }),
  ])
  .meta({ id: 'hookCommand', description: 'A shell command (run with sh -c), or { command, timeout, continue-on-error }' })

/** `hooks:` shell commands around a set's run. */
export const hooksSchema = z.strictObject({
  timeout: timeoutSchema.optional().meta({ description: 'Default timeout of each hook command (built-in: 1h)' }),
  before: z.array(hookCommandSchema).optional().meta({ description: 'Before the backup; a failure stops the set' }),
  after: z.array(hookCommandSchema).optional().meta({ description: 'After a successful run' }),
  'on-error': z.array(hookCommandSchema).optional().meta({ description: 'After a failed run' }),
  finally: z.array(hookCommandSchema).optional().meta({ description: 'Always, last, also when interrupted' }),
}).meta({ id: 'hooks', description: 'Shell commands around the run' })

/** `prune:` when and how to free the data of forgotten snapshots. */
export const pruneSchema = z.strictObject({
  when: z
    .string()
    .superRefine((v, ctx) => {
      if (v !== 'after-forget' && v !== 'never') checkSchedule(v, ctx)
    })
    .optional()
    .meta({ description: '"after-forget" (built-in), "never", or a schedule for the daemon ("weekly")' }),
  'max-unused': z
    .string()
    .refine((v) => v.trim() === 'unlimited' || isPercentage(v) || parseByteSize(v) !== undefined, {
      error: (i) => `invalid max-unused ${JSON.stringify(i.input)}: use a percentage below 100% such as 5%, a size such as 1G, or "unlimited"`,
    })
    .optional(),
  'max-repack-size': sizeSchema.optional(),
  'repack-uncompressed': z.boolean().optional(),
  'repack-small': z.boolean().optional(),
}).meta({ id: 'prune', description: 'When and how to free the space of forgotten snapshots' })

/** `check:` when and how deeply to verify the destinations. */
export const checkSchema = z.strictObject({
  schedule: scheduleSchema.optional().meta({ description: 'When the daemon checks ("monthly")' }),
  'after-backup': z.boolean().optional().meta({ description: 'Check after every run' }),
  'read-data': z.boolean().optional(),
  'read-data-subset': z
    .string()
    .refine(isReadDataSubset, { error: (i) => `invalid read-data-subset ${JSON.stringify(i.input)}: use "n/t" (1/5), a percentage (5%) or a size (500M)` })
    .optional(),
}).meta({ id: 'check', description: 'When and how deeply to check the destinations' })

const stringList = z.array(z.string())

/** The daemon's notification target (notifications.ts), named for the JSON Schema. */
const notifyTarget = notificationTargetSchema.meta({ id: 'notificationTarget' })

/** Settings a set shares with `defaults` (everything but `sources`). */
const sharedShape = {
  description: z.string().optional(),
  exclude: stringList.optional().meta({ description: 'Patterns as restic --exclude' }),
  iexclude: stringList.optional().meta({ description: 'Patterns as restic --iexclude (case-insensitive)' }),
  'exclude-file': stringList.optional().meta({ description: 'Files of patterns, one a line' }),
  'exclude-caches': z.boolean().optional(),
  'exclude-if-present': stringList.optional().meta({ description: 'Skip directories holding this file (FILE[:HEADER])' }),
  'exclude-larger-than': sizeSchema.optional(),
  'one-file-system': z.boolean().optional(),
  'ignore-files': stringList.optional().meta({ description: 'Per-directory ignore files in gitignore syntax, e.g. .cairnignore' }),
  tags: z
    .array(
      z.string().refine((t) => !t.startsWith(SET_TAG_PREFIX), {
        error: (i) => `tag ${JSON.stringify(i.input)} is reserved: cairn tags each set's snapshots "${SET_TAG_PREFIX}NAME" itself, and retention of set NAME would remove snapshots that carry it`,
      }),
    )
    .optional()
    .meta({ description: 'Tags for the snapshots, besides cairn-set:NAME (reserved)' }),
  host: z.string().min(1).optional(),
  destinations: z.array(z.string()).min(1, { error: 'give at least one destination' }).optional().meta({ description: 'Repository names, in priority order' }),
  mode: z.enum(['first-available', 'all']).optional().meta({ description: 'first-available: the first that works; all: every available one' }),
  copy: z.boolean().optional().meta({ description: 'mode all: back up once, copy the snapshot to the rest' }),
  schedule: scheduleSchema.optional(),
  retention: retentionSchema.optional(),
  prune: pruneSchema.optional(),
  check: checkSchema.optional(),
  hooks: hooksSchema.optional(),
  notify: z.array(notifyTarget).optional().meta({ description: 'Who is told about this set\'s runs, besides the global notifications' }),
}

/** `defaults:` inherited by every set. */
export const defaultsSchema = z.strictObject(sharedShape).meta({ id: 'defaults', description: 'Settings every set inherits' })

/** One entry of `sets:`. */
export const setSchema = z.strictObject({
  sources: z.array(z.string().min(1)).min(1, { error: 'give at least one source' }).optional().meta({ description: 'Files and directories to back up (~ is your home)' }),
  ...sharedShape,
}).meta({ id: 'set', description: 'A backup set: what to back up, where to, how long to keep it' })

const envValue = z.union([z.string(), z.number(), z.boolean()])

/** One entry of `repositories:`: where a destination is and how to open it. */
export const repositorySchema = z.strictObject({
  description: z.string().optional(),
  url: z.string().min(1, { error: 'the url cannot be empty' }).meta({ description: 'As restic -r: a path, sftp:, s3:, rest:, rclone:' }),
  'password-file': z.string().min(1).optional(),
  'password-command': z.string().min(1).optional(),
  'password-env': z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'password-env names an environment variable, such as NAS_PASSWORD' })
    .optional(),
  env: z.record(z.string(), envValue).optional().meta({ description: 'Extra environment for the backend (AWS_ACCESS_KEY_ID, …)' }),
  options: z.record(z.string(), envValue).optional().meta({ description: 'Backend options, as restic -o key=value' }),
  removable: z.boolean().optional().meta({ description: 'A drive that comes and goes: skipped when absent' }),
  'min-free': sizeSchema.optional().meta({ description: 'Refuse to back up to a local destination with less free space' }),
  cacert: z.union([z.string(), stringList]).optional(),
  'tls-client-cert': z.string().optional(),
  'limit-upload': z.number().int().nonnegative().optional().meta({ description: 'KiB/s' }),
  'limit-download': z.number().int().nonnegative().optional().meta({ description: 'KiB/s' }),
}).meta({ id: 'repository', description: 'Where backups go and how to open the repository there' })

/** The whole config file. */
export const configSchema = z.strictObject({
  $schema: z.string().optional(),
  version: z.literal(1).optional(),
  repositories: z.record(name('repository'), repositorySchema).optional(),
  defaults: defaultsSchema.optional(),
  notifications: z.array(notifyTarget).optional().meta({ description: 'Who the daemon tells about every set\'s runs' }),
  sets: z.record(name('set'), setSchema).optional(),
})

export type ConfigFile = z.infer<typeof configSchema>
export type RepositoryConfig = z.infer<typeof repositorySchema>
export type SetConfig = z.infer<typeof setSchema>
export type DefaultsConfig = z.infer<typeof defaultsSchema>
export type RetentionConfig = z.infer<typeof retentionSchema>
export type RetentionPolicyConfig = z.infer<typeof retentionPolicySchema>
export type HooksConfig = z.infer<typeof hooksSchema>
export type HookCommandConfig = z.infer<typeof hookCommandSchema>
export type PruneConfig = z.infer<typeof pruneSchema>
export type CheckConfig = z.infer<typeof checkSchema>
export type ScheduleConfig = z.infer<typeof scheduleSchema>
