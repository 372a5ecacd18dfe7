/**
 * Backend → Backend wrappers that every remote backend gets (composed by wrapBackend() in
 * openBackend): retries with backoff on transient errors, a connection limit, upload and download
 * rate limits, and errors and messages scrubbed of secrets.
 */
export { wrapBackend } from './compose.js'
export { withConnectionLimit } from './connection-limit.js'
export { withRateLimit, type RateLimits } from './rate-limit.js'
export { withRetry, type RetryOptions } from './retry.js'
export { createScrubber, scrubError, withScrubbedErrors, type Scrubber } from './scrub.js'
export { secretsOf } from './secrets.js'
export { isTransient } from './transient.js'
export { TokenBucket } from './token-bucket.js'
