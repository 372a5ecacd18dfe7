/**
 * The HTTP services: ntfy, Gotify, Discord, Slack, healthchecks.io and a generic webhook. Each
 * is a pure function from a NotifyEvent to the request its service expects; {@link sendHttp}
 * sends one with a timeout and turns a non-2xx answer into an error naming the service.
 */
import type {
  DiscordTarget,
  GotifyTarget,
  HealthchecksTarget,
  NtfyTarget,
  SlackTarget,
  WebhookTarget,
} from '../../config/index.js'
import type { NotifyEvent } from './event.js'
import { eventJson, renderTemplate } from './template.js'

/** A request to send. */
export interface HttpRequest {
  method: string
  url: string
  headers: Record<string, string>
  body?: string
}

const JSON_TYPE = { 'content-type': 'application/json' }

const bad = (e: NotifyEvent) => e.event === 'failure' || e.event === 'stale' || e.event === 'low-space' || e.event === 'skipped'

function bearer(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` }
}

/**
 * ntfy: JSON publishing to the server root (`{topic, title, message, priority, tags}`), which
 * carries any characters in the title, unlike ntfy's header form.
 */
export function ntfyRequest(t: NtfyTarget, e: NotifyEvent, token: string | undefined): HttpRequest {
  const u = new URL(t.url)
  const parts = u.pathname.split('/').filter((p) => p !== '')
  const topic = parts.pop() ?? ''
  const root = `${u.origin}/${parts.map((p) => `${p}/`).join('')}`
  const base = t.priority ?? 3
  const priority = bad(e) ? Math.min(5, base + 1) : e.event === 'start' ? Math.max(1, base - 1) : base
  const tag = e.event === 'success' ? 'white_check_mark' : e.event === 'start' ? 'arrow_forward' : e.event === 'failure' ? 'x' : 'warning'
  return {
    method: 'POST',
    url: root,
    headers: { ...JSON_TYPE, ...bearer(token) },
    body: JSON.stringify({ topic, title: e.title, message: e.message, priority, tags: [tag, ...(t.tags ?? [])] }),
  }
}

/** Gotify: POST /message with the application token in X-Gotify-Key. */
export function gotifyRequest(t: GotifyTarget, e: NotifyEvent, token: string | undefined): HttpRequest {
  const base = t.priority ?? 5
  return {
    method: 'POST',
    url: `${t.url.replace(/\/+$/, '')}/message`,
    headers: { ...JSON_TYPE, ...(token === undefined ? {} : { 'x-gotify-key': token }) },
    body: JSON.stringify({ title: e.title, message: e.message, priority: bad(e) ? Math.min(10, base + 3) : base }),
  }
}

/** Discord: a webhook message (at most 2000 characters). */
export function discordRequest(t: DiscordTarget, e: NotifyEvent): HttpRequest {
  const content = `**${e.title}**\n${e.message}`
  return {
    method: 'POST',
    url: t.url,
    headers: JSON_TYPE,
    body: JSON.stringify({ username: t.username ?? 'cairn', content: content.length > 2000 ? `${content.slice(0, 1990)}\n…` : content }),
  }
}

/** Slack: an incoming-webhook message. */
export function slackRequest(t: SlackTarget, e: NotifyEvent): HttpRequest {
  return { method: 'POST', url: t.url, headers: JSON_TYPE, body: JSON.stringify({ text: `*${e.title}*\n${e.message}` }) }
}

/**
 * healthchecks.io: `/start` when a run starts, the bare URL on success, `/fail` on failure and
 * when no backup happened for too long, `/log` (recorded, no state change) otherwise. The
 * message is the request body, which healthchecks keeps with the ping.
 */
export function healthchecksRequest(t: HealthchecksTarget, e: NotifyEvent): HttpRequest {
  const base = t.url.replace(/\/+$/, '')
  const suffix = e.event === 'start' ? '/start' : e.event === 'success' ? '' : e.event === 'failure' || e.event === 'stale' ? '/fail' : '/log'
  return { method: 'POST', url: `${base}${suffix}`, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `${e.title}\n\n${e.message}` }
}

/** A generic webhook: the method, headers and body template of the config (default: the event as JSON). */
export function webhookRequest(t: WebhookTarget, e: NotifyEvent): HttpRequest {
  const method = t.method ?? 'POST'
  const url = renderTemplate(t.url, e, encodeURIComponent)
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(t.headers ?? {})) headers[k.toLowerCase()] = renderTemplate(v, e)
  if (method === 'GET') return { method, url, headers }
  const body = t.body === undefined ? JSON.stringify(eventJson(e)) : renderTemplate(t.body, e)
  if (headers['content-type'] === undefined) {
    headers['content-type'] = t.body === undefined || /^\s*[[{]/.test(t.body) ? 'application/json' : 'text/plain; charset=utf-8'
  }
  return { method, url, headers, body }
}

/** Sends a request; resolves on a 2xx answer, rejects with a message naming `what` otherwise. */
export async function sendHttp(what: string, req: HttpRequest, timeoutMs: number, fetchFn: typeof fetch = fetch): Promise<void> {
  let res: Response
  const { url, authorization } = withoutCredentials(req.url)
  try {
    res = await fetchFn(url, {
      method: req.method,
      headers: { 'user-agent': 'cairn', ...(authorization === undefined ? {} : { authorization }), ...req.headers },
      ...(req.body === undefined ? {} : { body: req.body }),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'follow',
    })
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } }
    // The underlying message may repeat the URL, with the secret in its path or query.
    const why = (e.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000}s` : (e.cause?.code ?? e.cause?.message ?? e.message)).split(url).join(safeUrl(url))
    throw new Error(`${what}: cannot reach ${safeUrl(req.url)}: ${why}`)
  }
  const text = await res.text().catch(() => '')
  if (!res.ok) throw new Error(`${what}: ${safeUrl(req.url)} answered HTTP ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200).trim()}` : ''}`)
}

/**
 * `https://user:password@host/…` as fetch takes it: the URL without its credentials, and them as a
 * Basic authorization header (a header the target sets itself takes precedence).
 */
function withoutCredentials(url: string): { url: string; authorization?: string } {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return { url }
  }
  if (u.username === '' && u.password === '') return { url }
  const decode = (text: string) => {
    try {
      return decodeURIComponent(text)
    } catch {
      return text // a "%" that starts no escape: taken as written
    }
  }
  const pair = `${decode(u.username)}:${decode(u.password)}`
  u.username = ''
  u.password = ''
  return { url: u.href, authorization: `Basic ${Buffer.from(pair).toString('base64')}` }
}

/** A URL without credentials or query (webhook URLs carry their secret in the path: keep only the host). */
function safeUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}`
  } catch {
    return '(invalid URL)'
  }
}
