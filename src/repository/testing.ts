/**
 * Test helpers for code that needs a repository. Imported by tests only.
 */
import { createCipheriv, createHash } from 'node:crypto'
import { MemoryBackend, type Backend } from '../backends/index.js'
import type { ScryptParams } from '../crypto/index.js'
import type { BlobWriter } from './blob-writer.js'
import { Repository } from './repository.js'

/** scrypt parameters that derive a key in about a millisecond: for tests only. */
export const WEAK_SCRYPT: ScryptParams = { N: 1024, r: 8, p: 1 }

/** A fixed irreducible polynomial, so chunk boundaries are the same in every run. */
export const TEST_POLYNOMIAL = 0x3da3358b4dc173n

export const TEST_PASSWORD = 'test password'

export interface TestRepositoryOptions {
  /** Defaults to a new MemoryBackend. */
  backend?: Backend
  password?: string
  version?: 1 | 2
  /**
   * Encode blobs on worker threads, as production does. Off by default: the workers take most
   * of a second to start, once per withWriter().
   */
  workers?: boolean
}

/**
 * A new repository on a memory backend with weak scrypt parameters and a fixed polynomial.
 *
 * @example
 * const repo = await createTestRepository()
 * await repo.withWriter((w) => w.saveBlob('data', Buffer.from('hello')))
 */
export async function createTestRepository(opts: TestRepositoryOptions = {}): Promise<Repository> {
  const repo = await Repository.init(opts.backend ?? new MemoryBackend(), opts.password ?? TEST_PASSWORD, {
    version: opts.version ?? 2,
    polynomial: TEST_POLYNOMIAL,
    scrypt: WEAK_SCRYPT,
  })
  return opts.workers ? repo : encodeInline(repo)
}

/**
 * Makes `repo.withWriter()` encode blobs on the calling thread unless its caller asks for
 * threads: fast to start, and the same bytes as the worker encoder.
 */
export function encodeInline(repo: Repository): Repository {
  const withWriter = repo.withWriter.bind(repo)
  repo.withWriter = <T>(fn: (w: BlobWriter) => Promise<T>, options: Parameters<Repository['withWriter']>[1] = {}) =>
    withWriter(fn, { threads: 0, ...options })
  return repo
}

/**
 * `n` deterministic pseudo-random bytes for `seed` (AES-256-CTR keystream of the seed):
 * incompressible, and the same in every run.
 *
 * @example
 * const data = seededBytes(1, 100_000)
 */
export function seededBytes(seed: number, n: number): Buffer {
  const key = createHash('sha256').update(`seed ${seed}`).digest()
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  return Buffer.concat([cipher.update(Buffer.alloc(n)), cipher.final()])
}
