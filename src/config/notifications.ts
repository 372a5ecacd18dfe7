/**
 * Notification targets in the config file: where the daemon tells the user what happened.
 *
 * Terms:
 * - **target**: one receiver (an ntfy topic, a Gotify server, a Discord or Slack webhook, a
 *   healthchecks.io check, a generic webhook, an email address over SMTP, or a command).
 * - **event**: what a target is told about: `start` (a run begins), `success`, `failure`,
 *   `skipped` (also written `missing-media`: a removable destination was absent), `low-space`
 *   (a destination's free space fell under its threshold), `stale` (no successful run of a set
 *   for `stale-after`, 7 days unless set).
 *
 * Keys are written as in the config file (kebab-case), so the inferred types use them too.
 *
 * @example
 * notifications:
 *   - type: ntfy
 *     url: https://ntfy.sh/my-backups
 *     on: [failure, missing-media, stale]
 *   - type: healthchecks
 *     url: https://hc-ping.com/5f0e…
 *   - type: email
 *     host: smtp.example.com
 *     user: me@example.com
 *     password-file: ~/.config/cairn/smtp.pass
 *     from: cairn@example.com
 *     to: me@example.com
 */
import { z } from 'zod'
import { durationSchema } from './schedule.js'

/** Every event a target can be told about; `missing-media` is another name for `skipped`. */
export const NOTIFICATION_EVENTS = ['start', 'success', 'failure', 'skipped', 'missing-media', 'low-space', 'stale'] as const

/** An event name as written in `on:`. */
export type NotificationEventName = (typeof NOTIFICATION_EVENTS)[number]

/** The events that exist after aliases are resolved. */
export type NotificationEvent = Exclude<NotificationEventName, 'missing-media'>

/** The events a target gets when its `on:` is not given (healthchecks: see {@link eventsOf}). */
export const DEFAULT_EVENTS: readonly NotificationEvent[] = ['failure', 'skipped', 'low-space', 'stale']

const HEALTHCHECKS_EVENTS: readonly NotificationEvent[] = ['start', 'success', 'failure', 'skipped']

const httpUrl = z.string().regex(/^https?:\/\/[^\s]+$/, 'expected an http:// or https:// URL')

/** Fields every target has. */
const common = {
  /** A name for logs and messages; default "<type> #<position>". */
  name: z.string().min(1).optional(),
  /** The events this target gets. */
  on: z.array(z.enum(NOTIFICATION_EVENTS)).min(1).optional(),
  /** Only runs of these sets (default: all sets). */
  sets: z.array(z.string().min(1)).min(1).optional(),
  /** How long one delivery may take (default 10s). */
  timeout: durationSchema.optional(),
  /** For the `stale` event: how long without a successful run of a set (default 7d). */
  'stale-after': durationSchema.optional(),
}

/** A secret given inline or read from a file (the file is preferred: configs get shared). */
const token = {
  token: z.string().min(1).optional(),
  'token-file': z.string().min(1).optional(),
}

export const ntfyTargetSchema = z
  .object({
    type: z.literal('ntfy'),
    /** The topic URL, e.g. https://ntfy.sh/my-backups. */
    url: httpUrl,
    ...token,
    /** 1 (min) to 5 (max); failures go out one step higher than this (default 3). */
    priority: z.number().int().min(1).max(5).optional(),
    tags: z.array(z.string()).optional(),
    ...common,
  })
  .strict()

export const gotifyTargetSchema = z
  .object({
    type: z.literal('gotify'),
    /** The server's base URL, e.g. https://gotify.example.com. */
    url: httpUrl,
    ...token,
    priority: z.number().int().min(0).max(10).optional(),
    ...common,
  })
  .strict()

export const discordTargetSchema = z
  .object({
    type: z.literal('discord'),
    /** The channel's webhook URL. */
    url: httpUrl,
    username: z.string().optional(),
    ...common,
  })
  .strict()

export const slackTargetSchema = z
  .object({
    type: z.literal('slack'),
    /** The incoming-webhook URL. */
    url: httpUrl,
    ...common,
  })
  .strict()

export const healthchecksTargetSchema = z
  .object({
    type: z.literal('healthchecks'),
    /** The check's ping URL, e.g. https://hc-ping.com/<uuid>; `/start` and `/fail` are appended. */
    url: httpUrl,
    ...common,
  })
  .strict()

export const webhookTargetSchema = z
  .object({
    type: z.literal('webhook'),
    url: httpUrl,
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH']).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    /**
     * The request body with {{placeholders}} (see docs/daemon.md); `{{name|json}}` inserts the
     * value as a JSON string. Default: the whole event as JSON.
     */
    body: z.string().optional(),
    ...common,
  })
  .strict()

export const emailTargetSchema = z
  .object({
    type: z.literal('email'),
    host: z.string().min(1),
    /** Default 465 with `secure`, else 587. */
    port: z.number().int().min(1).max(65535).optional(),
    /** TLS from the first byte (port 465). Otherwise STARTTLS is used when the server offers it. */
    secure: z.boolean().optional(),
    /** Refuse to send unless the connection is encrypted (STARTTLS required). */
    'require-tls': z.boolean().optional(),
    user: z.string().optional(),
    'password-file': z.string().optional(),
    from: z.string().min(3),
    to: z.union([z.string().min(3), z.array(z.string().min(3)).min(1)]),
    /** Subject line with {{placeholders}}; default "[cairn] {{title}}". */
    subject: z.string().optional(),
    ...common,
  })
  .strict()

export const commandTargetSchema = z
  .object({
    type: z.literal('command'),
    /** Run with /bin/sh -c; the message is on stdin and CAIRN_* variables describe the event. */
    command: z.string().min(1),
    ...common,
  })
  .strict()

/** One notification target. */
export const notificationTargetSchema = z.discriminatedUnion('type', [
  ntfyTargetSchema,
  gotifyTargetSchema,
  discordTargetSchema,
  slackTargetSchema,
  healthchecksTargetSchema,
  webhookTargetSchema,
  emailTargetSchema,
  commandTargetSchema,
])

/** The `notifications:` list of the config file. */
export const notificationsSchema = z.array(notificationTargetSchema)

export type NotificationTarget = z.infer<typeof notificationTargetSchema>
export type NtfyTarget = z.infer<typeof ntfyTargetSchema>
export type GotifyTarget = z.infer<typeof gotifyTargetSchema>
export type DiscordTarget = z.infer<typeof discordTargetSchema>
export type SlackTarget = z.infer<typeof slackTargetSchema>
export type HealthchecksTarget = z.infer<typeof healthchecksTargetSchema>
export type WebhookTarget = z.infer<typeof webhookTargetSchema>
export type EmailTarget = z.infer<typeof emailTargetSchema>
export type CommandTarget = z.infer<typeof commandTargetSchema>

/** The events a target gets, aliases resolved and defaults applied. */
export function eventsOf(target: NotificationTarget): Set<NotificationEvent> {
  const names = target.on ?? (target.type === 'healthchecks' ? HEALTHCHECKS_EVENTS : DEFAULT_EVENTS)
  return new Set(names.map((n) => (n === 'missing-media' ? 'skipped' : n)))
}

/** The name of a target for logs: its `name`, else "<type> #<position from 1>". */
export function targetName(target: NotificationTarget, index: number): string {
  return target.name ?? `${target.type} #${index + 1}`
}
