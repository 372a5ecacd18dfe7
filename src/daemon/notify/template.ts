/**
 * `{{placeholder}}` templates for webhook bodies, URLs and email subjects. `{{name}}` inserts
 * the value as text, `{{name|json}}` as a JSON value (a quoted, escaped string for text), so a
 * JSON body stays valid whatever the message holds. Unknown names are left as written, so a typo
 * shows up in what the receiver gets.
 */
import type { NotifyEvent } from './event.js'
import { formatBytes, formatDuration } from './format.js'

/** The values a template can use, by placeholder name. */
export function templateValues(e: NotifyEvent): Record<string, string | number | string[] | object> {
  return {
    event: e.event,
    job: e.job,
    set: e.set ?? e.job,
    kind: e.kind,
    host: e.host,
    result: e.result ?? '',
    trigger: e.trigger ?? '',
    run_id: e.runId ?? '',
    title: e.title,
    message: e.message,
    started_at: e.startedAt === undefined ? '' : new Date(e.startedAt).toISOString(),
    ended_at: e.endedAt === undefined ? '' : new Date(e.endedAt).toISOString(),
    duration: e.durationMs === undefined ? '' : formatDuration(e.durationMs),
    duration_seconds: e.durationMs === undefined ? '' : Math.round(e.durationMs / 100) / 10,
    files: e.files ?? '',
    bytes: e.bytes ?? '',
    size: e.bytes === undefined ? '' : formatBytes(e.bytes),
    destinations: e.destinations.map((d) => d.name).join(', '),
    snapshot_ids: e.snapshotIds.join(', '),
    errors: e.errors.join('; '),
    json: eventJson(e),
  }
}

/** The event as a plain JSON object (the default webhook body). */
export function eventJson(e: NotifyEvent): object {
  return {
    event: e.event,
    job: e.job,
    set: e.set ?? null,
    kind: e.kind,
    host: e.host,
    run_id: e.runId ?? null,
    trigger: e.trigger ?? null,
    result: e.result ?? null,
    started_at: e.startedAt === undefined ? null : new Date(e.startedAt).toISOString(),
    ended_at: e.endedAt === undefined ? null : new Date(e.endedAt).toISOString(),
    duration_seconds: e.durationMs === undefined ? null : e.durationMs / 1000,
    files: e.files ?? null,
    bytes: e.bytes ?? null,
    destinations: e.destinations,
    snapshot_ids: e.snapshotIds,
    errors: e.errors,
    last_success_at: e.lastSuccessAt === undefined ? null : new Date(e.lastSuccessAt).toISOString(),
    title: e.title,
    message: e.message,
  }
}

/**
 * Fills a template. `encode` is applied to text values (URL-encoding for URLs).
 *
 * @example
 * renderTemplate('{"text": {{title|json}}}', event) // '{"text": "Backup \"data\" succeeded on pc"}'
 */
export function renderTemplate(template: string, e: NotifyEvent, encode: (s: string) => string = (s) => s): string {
  const values = templateValues(e)
  return template.replace(/\{\{\s*([a-z_]+)\s*(\|\s*json\s*)?\}\}/g, (whole, name: string, json: string | undefined) => {
    if (!Object.hasOwn(values, name)) return whole
    const v = values[name]
    if (json) return JSON.stringify(v)
    if (typeof v === 'object' && !Array.isArray(v)) return encode(JSON.stringify(v))
    return encode(Array.isArray(v) ? v.join(', ') : String(v))
  })
}
