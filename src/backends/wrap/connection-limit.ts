import { createSemaphore } from '../../base/index.js'
import type { Backend, FileInfo, FileType, Handle } from '../backend.js'

/**
 * A Backend → Backend wrapper that runs at most `connections` operations at once; the rest wait
 * in FIFO order. `properties.connections` reports the limit, so callers size their own
 * concurrency to it.
 *
 * As in restic's connection-limited backend, operations on lock files bypass the limit: a lock
 * refresh must not wait behind a queue of pack uploads until the lock goes stale. A listing
 * counts as one connection while it fetches entries, and not while the caller handles them, so
 * a caller that loads files inside its list loop cannot deadlock on its own listing.
 *
 * @example
 * const be = withConnectionLimit(sftpBackend, 5) // -o sftp.connections=5
 */
export function withConnectionLimit(be: Backend, connections: number): Backend {
  if (!Number.isInteger(connections) || connections < 1) {
    throw new RangeError(`Invalid connection limit ${connections}: expected a whole number, 1 or more`)
  }
  const sem = createSemaphore(connections)
  const limited = async <T>(h: Handle | FileType, fn: () => Promise<T>): Promise<T> => {
    if ((typeof h === 'string' ? h : h.type) === 'locks') return fn()
    await sem.acquire()
    try {
      return await fn()
    } finally {
      sem.release()
    }
  }
  const properties = { ...be.properties, connections }
  return {
    get location() {
      return be.location
    },
    properties,
    create: () => limited('config', () => be.create()),
    save: (h, data) => limited(h, () => be.save(h, data)),
    load: (h, offset, length) => limited(h, () => be.load(h, offset, length)),
    stat: (h) => limited(h, () => be.stat(h)),
    remove: (h) => limited(h, () => be.remove(h)),
    list: (type, options) =>
      (async function* (): AsyncGenerator<FileInfo> {
        const iterator = await limited(type, async () => be.list(type, options)[Symbol.asyncIterator]())
        try {
          for (;;) {
            const r = await limited(type, () => iterator.next())
            if (r.done) return
            yield r.value
          }
        } finally {
          await iterator.return?.()
        }
      })(),
    close: () => be.close(),
  }
}
