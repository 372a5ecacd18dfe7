import type { Backend } from '../backend.js'
import { TokenBucket } from './token-bucket.js'

/** `--limit-upload` and `--limit-download`, in KiB/s; 0 or undefined means unlimited. */
export interface RateLimits {
  uploadKiB?: number
  downloadKiB?: number
}

/**
 * A Backend → Backend wrapper that keeps the bytes of saves under `uploadKiB` KiB/s and the
 * bytes of loads under `downloadKiB` KiB/s, across all concurrent calls (one token bucket per
 * direction). Backends take and return whole buffers, so the pacing is per call: a save waits
 * for its bytes before it starts, a load waits for its bytes after they arrived. Averaged over
 * a few calls the rate is exact; a single large call still goes at full speed once it runs.
 * Other operations (stat, list, remove) are not charged.
 *
 * @example
 * const be = withRateLimit(s3Backend, { uploadKiB: 512 }) // 1 MiB save: about 2 s
 */
export function withRateLimit(be: Backend, limits: RateLimits): Backend {
  const up = bucket(limits.uploadKiB, '--limit-upload')
  const down = bucket(limits.downloadKiB, '--limit-download')
  if (up === undefined && down === undefined) return be
  return {
    get location() {
      return be.location
    },
    get properties() {
      return be.properties
    },
    create: () => be.create(),
    save: async (h, data) => {
      await up?.take(data.length)
      await be.save(h, data)
    },
    load: async (h, offset, length) => {
      const data = await be.load(h, offset, length)
      await down?.take(data.length)
      return data
    },
    stat: (h) => be.stat(h),
    list: (type, options) => be.list(type, options),
    remove: (h) => be.remove(h),
    close: () => be.close(),
  }
}

function bucket(kib: number | undefined, flag: string): TokenBucket | undefined {
  if (kib === undefined || kib === 0) return undefined
  if (!Number.isFinite(kib) || kib < 0) throw new RangeError(`Invalid value ${kib} for ${flag}: expected KiB/s, 0 or more`)
  return new TokenBucket(kib * 1024)
}
