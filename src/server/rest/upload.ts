import { createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

/** Largest body given one buffer before it arrives: restic 0.14's packs are about 16 MiB by default. */
const PREALLOCATE_MAX = 32 * 1024 * 1024

/** The whole body and its SHA-256 (hex), or the status and reason to refuse it with. */
export type ReceivedBody =
  | { ok: true; data: Buffer; sha256: string }
  | { ok: false; status: 400 | 413 | 507; reason: string }

/** The most a body may hold, and how to refuse one that holds more. */
export interface ReceiveLimit {
  /** Most bytes accepted. */
  bytes: number
  /** The answer when the body is larger: 413 (too large for any upload) or 507 (over a quota). */
  status: 413 | 507
  reason: string
}

/**
 * Reads a request body into memory while hashing it with SHA-256, and stops as soon as it grows
 * past the limit. A body cut short (the client went away, or sent less than its Content-Length)
 * is a 400 and nothing is returned, so a partial upload can never be stored.
 */
export function receiveBody(req: IncomingMessage, limit: ReceiveLimit, expectedLength?: number): Promise<ReceivedBody> {
  return new Promise((resolve) => {
    const hash = createHash('sha256')
    const chunks: Buffer[] = []
    // With a known length the body is copied straight into one buffer, so chunks die young.
    // Only up to a pack's usual size: a larger declared length is not trusted with memory up front.
    const whole = expectedLength !== undefined && expectedLength <= Math.min(limit.bytes, PREALLOCATE_MAX) ? Buffer.allocUnsafe(expectedLength) : undefined
    let total = 0
    let settled = false
    const finish = (result: ReceivedBody) => {
      if (settled) return
      settled = true
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('aborted', onAborted)
      req.off('error', onAborted)
      req.off('close', onClose)
      resolve(result)
    }
    const onData = (chunk: Buffer) => {
      total += chunk.length
      if (total > limit.bytes) {
        req.pause()
        finish({ ok: false, status: limit.status, reason: limit.reason })
        return
      }
      hash.update(chunk)
      if (whole !== undefined && total <= whole.length) chunk.copy(whole, total - chunk.length)
      else chunks.push(chunk)
    }
    const onEnd = () => {
      if (whole !== undefined && total === whole.length) return finish({ ok: true, data: whole, sha256: hash.digest('hex') })
      if (whole !== undefined) return onAborted()
      finish({ ok: true, data: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total), sha256: hash.digest('hex') })
    }
    const onAborted = () => finish({ ok: false, status: 400, reason: 'the upload ended before the whole body arrived' })
    const onClose = () => {
      if (!req.complete) onAborted()
    }
    // The connection may be gone already (while the login was checked, the client's next bytes
    // did not parse, and Node closed it): no event would come.
    if (req.destroyed) return onAborted()
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('aborted', onAborted)
    req.on('error', onAborted)
    req.on('close', onClose)
  })
}
