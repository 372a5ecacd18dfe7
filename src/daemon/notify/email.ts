/**
 * Email over SMTP with nodemailer: implicit TLS (`secure`, port 465) or STARTTLS when the
 * server offers it (required with `require-tls`), optional login with a password read from a
 * file at send time.
 */
import type Nodemailer from 'nodemailer'
import { lazyRequire } from '../../base/index.js'
import type { EmailTarget } from '../../config/index.js'
import type { NotifyEvent } from './event.js'
import { renderTemplate } from './template.js'

const nodemailer = lazyRequire<typeof Nodemailer>('nodemailer')

/** Sends one message; rejects with a message naming the server when it fails. */
export async function sendEmail(what: string, t: EmailTarget, e: NotifyEvent, password: string | undefined, timeoutMs: number): Promise<void> {
  const secure = t.secure ?? false
  const port = t.port ?? (secure ? 465 : 587)
  const transport = nodemailer().createTransport({
    host: t.host,
    port,
    secure,
    requireTLS: t['require-tls'] ?? false,
    ...(t.user === undefined ? {} : { auth: { user: t.user, pass: password ?? '' } }),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  })
  try {
    await transport.sendMail({
      from: t.from,
      to: Array.isArray(t.to) ? t.to.join(', ') : t.to,
      subject: renderTemplate(t.subject ?? '[cairn] {{title}}', e),
      text: `${e.message}\n\n-- \ncairn on ${e.host}\n`,
    })
  } catch (err) {
    throw new Error(`${what}: cannot send mail through ${t.host}:${port}: ${(err as Error).message}`)
  } finally {
    transport.close()
  }
}
