/**
 * Which strings must never reach a message: the password in a location URL and credentials in
 * the environment. Their values are collected here; scrubber.ts replaces them.
 */

/** Variables whose values are always secret, whatever their length. */
const KNOWN_SECRETS = ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'RESTIC_REST_PASSWORD', 'CAIRN_REST_PASSWORD', 'RESTIC_PASSWORD', 'CAIRN_PASSWORD']

/** Names that look like they hold a secret… */
const SECRET_NAME = /SECRET|PASSWORD|PASSWD|PASSPHRASE|TOKEN|CREDENTIAL|PRIVATE_?KEY|API_?KEY|(^|_)PASS$|(^|_)KEY$/i
/** …unless they name where a secret is, not the secret itself. */
const NOT_A_SECRET = /_(FILE|COMMAND|CMD|PATH|DIR|SOCK|ID|URL|HOST)$/i
/** Shorter values of guessed names are left alone: scrubbing "1" or "yes" would garble every message. */
const MIN_GUESSED_LENGTH = 4

/**
 * The secrets to scrub for a repository location and environment: the URL's password (as
 * written and percent-decoded, and the Basic-auth token made from it), the values of
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, RESTIC_REST_PASSWORD and the repository password
 * variables, and any other variable whose name looks secret (`*_SECRET*`, `*PASSWORD*`,
 * `*TOKEN*`, `*_KEY`, …; not `*_FILE`, `*_COMMAND`, `*_ID`).
 *
 * @example
 * secretsOf('rest:https://alice:s3cret@host/', { AWS_SECRET_ACCESS_KEY: 'abcd1234' })
 * // → ['s3cret', 'YWxpY2U6czNjcmV0', 'abcd1234']
 */
export function secretsOf(url: string, env: NodeJS.ProcessEnv): string[] {
  const out = new Set<string>()
  const auth = urlCredentials(url)
  if (auth !== undefined) {
    out.add(auth.password)
    const decoded = tryDecode(auth.password)
    out.add(decoded)
    out.add(Buffer.from(`${tryDecode(auth.user)}:${decoded}`).toString('base64'))
  }
  for (const name of KNOWN_SECRETS) {
    const v = env[name]
    if (v !== undefined && v !== '') out.add(v)
  }
  for (const [name, v] of Object.entries(env)) {
    if (v === undefined || v.length < MIN_GUESSED_LENGTH) continue
    if (SECRET_NAME.test(name) && !NOT_A_SECRET.test(name)) out.add(v)
  }
  out.delete('')
  return [...out]
}

/** `user` and `password` of `scheme:proto://user:password@host/…`, as written (still percent-encoded). */
function urlCredentials(url: string): { user: string; password: string } | undefined {
  const start = url.indexOf('://')
  if (start < 0) return undefined
  const authorityStart = start + 3
  const tail = url.slice(authorityStart).search(/[/?#]/)
  const authority = tail < 0 ? url.slice(authorityStart) : url.slice(authorityStart, authorityStart + tail)
  const at = authority.lastIndexOf('@')
  if (at < 0) return undefined
  const userinfo = authority.slice(0, at)
  const colon = userinfo.indexOf(':')
  if (colon < 0 || colon === userinfo.length - 1) return undefined
  return { user: userinfo.slice(0, colon), password: userinfo.slice(colon + 1) }
}

function tryDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}
