import type { Backend, FileInfo } from '../backend.js'

/** Replaces every secret in a text with `***`. */
export type Scrubber = (text: string) => string

/** Secrets at least this long are replaced wherever they appear. */
const ANYWHERE = 12
/** Secrets shorter than this are replaced only where they stand alone, not inside words. */
const SHORT_SECRET = 6

/** A URL's password (`scheme://user:password@host`), whatever it is. */
const URL_PASSWORD = /(:\/\/[^\s/:@]*):[^\s/@]*@/g

/**
 * A function that hides secrets in a text: the password of every URL in it (by its place, so
 * whatever the password is), and each of `secrets` (longest first, so a secret that contains
 * another is replaced whole). A short secret is replaced only where it stands alone, so "does not
 * exist" stays readable; and one shorter than 12 characters that reads like a word of a message
 * (lower-case letters only, such as "wrong", or digits, dots and colons only, such as "127.0.0.1")
 * only inside URLs: replacing it in "missing or wrong credentials" would garble the message and
 * tell its reader which word the password is.
 *
 * @example
 * createScrubber(['s3cret'])('login with s3cret failed') // → 'login with *** failed'
 * createScrubber(['wrong'])('https://u:wrong@h: wrong credentials') // → 'https://u:***@h: wrong credentials'
 */
export function createScrubber(secrets: Iterable<string>): Scrubber {
  const list = [...new Set(secrets)].filter((s) => s !== '' && (s.length >= ANYWHERE || !readsLikeText(s))).sort((a, b) => b.length - a.length)
  const steps = list.map((secret): Scrubber => {
    if (secret.length >= SHORT_SECRET) return (text) => (text.includes(secret) ? text.split(secret).join('***') : text)
    const alone = new RegExp(`(?<![\\p{L}\\p{N}])${secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\p{L}\\p{N}])`, 'gu')
    return (text) => (text.includes(secret) ? text.replace(alone, '***') : text)
  })
  return (text) => steps.reduce((out, step) => step(out), text.replace(URL_PASSWORD, '$1:***@'))
}

/** A plain lower-case word, or a number or address: the kind of text a message holds anyway. */
function readsLikeText(s: string): boolean {
  return /^\p{Ll}+$/u.test(s) || /^[0-9.:]+$/.test(s)
}

/**
 * Scrubs an error in place (message, hint, stack, and the same for its causes), so it keeps its
 * class and code: callers still recognise a NotFoundError. Returns the error.
 */
export function scrubError(err: unknown, scrub: Scrubber, depth = 0): unknown {
  if (!(err instanceof Error) || depth > 8) return err
  const e = err as Error & { hint?: unknown }
  try {
    e.message = scrub(e.message)
    if (typeof e.stack === 'string') e.stack = scrub(e.stack)
    if (typeof e.hint === 'string') e.hint = scrub(e.hint)
  } catch {
    // a frozen error cannot be changed; there is nothing better to do than pass it on
  }
  if (e.cause !== undefined && e.cause !== err) scrubError(e.cause, scrub, depth + 1)
  return err
}

/**
 * A Backend → Backend wrapper whose errors (from every method, and from list iteration) never
 * contain a secret: each is scrubbed in place before it is rethrown. The location is scrubbed too.
 *
 * @example
 * const be = withScrubbedErrors(restBackend, createScrubber(secretsOf(url, process.env)))
 */
export function withScrubbedErrors(be: Backend, scrub: Scrubber): Backend {
  const guard = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (err) {
      throw scrubError(err, scrub)
    }
  }
  const location = scrub(be.location)
  return {
    location,
    get properties() {
      return be.properties
    },
    create: () => guard(() => be.create()),
    save: (h, data) => guard(() => be.save(h, data)),
    load: (h, offset, length) => guard(() => be.load(h, offset, length)),
    stat: (h) => guard(() => be.stat(h)),
    remove: (h) => guard(() => be.remove(h)),
    list: (type, options) =>
      (async function* (): AsyncGenerator<FileInfo> {
        try {
          yield* be.list(type, options)
        } catch (err) {
          throw scrubError(err, scrub)
        }
      })(),
    close: () => guard(() => be.close()),
  }
}
