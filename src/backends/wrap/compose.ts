import { AppError } from '../../base/index.js'
import type { Backend } from '../backend.js'
import type { BackendOptions, BackendScheme } from '../registry.js'
import { withConnectionLimit } from './connection-limit.js'
import { withRateLimit } from './rate-limit.js'
import { withRetry, type RetryOptions } from './retry.js'
import { createScrubber, scrubError, withScrubbedErrors } from './scrub.js'
import { secretsOf } from './secrets.js'

/**
 * Opens a backend with the wrappers every backend gets, outermost first:
 * scrubbed errors → retry → rate limit → connection limit → the backend. Retries wait outside
 * the connection limit, so a backing-off call holds no connection; the rate limit charges each
 * attempt, as each sends its bytes again.
 *
 * - `memory:` gets nothing; `local:` gets only a connection limit, and only when
 *   `-o local.connections=N` asks for one.
 * - Every other scheme gets all four. The connection limit is `-o <scheme>.connections`, else the
 *   backend's own `properties.connections`. Rate limits come from `limitUploadKiB` and
 *   `limitDownloadKiB`. Retry notices go to `options.onMessage`.
 * - `open` receives the options with `onMessage` scrubbed, so lines a backend reports itself
 *   (rclone's stderr) are clean too; an error thrown by `open` is scrubbed as well.
 *
 * @example
 * const be = wrapBackend('rest', url, options, (o) => new RestBackend(loc, o))
 */
export function wrapBackend(
  scheme: BackendScheme,
  url: string,
  options: BackendOptions,
  open: (options: BackendOptions) => Backend,
  retry: Omit<RetryOptions, 'onMessage'> = {},
): Backend {
  if (scheme === 'memory') return open(options)
  const connections = connectionsOption(scheme, options)
  if (scheme === 'local') {
    const inner = open(options)
    const be = connections === undefined ? inner : withConnectionLimit(inner, connections)
    // Limits apply to a local repository too (an external drive shared with other work), as
    // restic's do: through save and load, so files are no longer written in place meanwhile.
    const limited = withRateLimit(be, { uploadKiB: options.limitUploadKiB, downloadKiB: options.limitDownloadKiB })
    if (limited === be) return be
    return Object.assign(limited, {
      ...(inner.removeTemporaryFiles === undefined ? {} : { removeTemporaryFiles: inner.removeTemporaryFiles.bind(inner) }),
      ...(inner.replaceConfig === undefined ? {} : { replaceConfig: inner.replaceConfig.bind(inner) }),
    })
  }
  const scrub = createScrubber(secretsOf(url, options.env ?? process.env))
  const report = options.onMessage
  const onMessage = report === undefined ? undefined : (m: string) => report(scrub(m))
  let be: Backend
  try {
    be = open(onMessage === undefined ? options : { ...options, onMessage })
  } catch (err) {
    throw scrubError(err, scrub)
  }
  const inner = be
  be = withConnectionLimit(be, connections ?? Math.max(1, be.properties.connections))
  be = withRateLimit(be, { uploadKiB: options.limitUploadKiB, downloadKiB: options.limitDownloadKiB })
  const retryOptions = { ...retry, ...(onMessage === undefined ? {} : { onMessage }), ...(options.signal === undefined ? {} : { signal: options.signal }) }
  be = withRetry(be, retryOptions)
  const outer = withScrubbedErrors(be, scrub)
  // Cleaning up after killed runs (prune, under its exclusive lock) goes to the backend past
  // the connection and rate limits, but is retried as every other call is: one dropped
  // connection failed the whole prune.
  if (inner.removeTemporaryFiles !== undefined) {
    const clean = withRetry(inner, retryOptions).removeTemporaryFiles!
    return Object.assign(outer, { removeTemporaryFiles: (o?: { dryRun?: boolean }) => clean(o).catch((err: unknown) => Promise.reject(scrubError(err, scrub))) })
  }
  return outer
}

/** `-o <scheme>.connections=N`, checked; undefined when not given. */
function connectionsOption(scheme: BackendScheme, options: BackendOptions): number | undefined {
  const key = `${scheme}.connections`
  const raw = options.extended?.[key]
  if (raw === undefined) return undefined
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isInteger(n) || n < 1) {
    throw new AppError('INVALID_ARGUMENT', `Invalid option "-o ${key}=${raw}": expected a whole number, 1 or more`, {
      hint: `Write for example -o ${key}=5`,
    })
  }
  return n
}
