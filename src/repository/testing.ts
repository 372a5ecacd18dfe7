/**
 * Test helpers for code that needs a repository. Imported by tests only.
 */
import { createCipheriv, createHash } from 'node:crypto'
import { MemoryBackend, type Backend } from '../backends/index.js'
import type { ScryptParams } from '../crypto/index.js'
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
}

/**
 * A new repository on a memory backend with weak scrypt parameters and a fixed polynomial.
 *
 * @example
 * const repo = await createTestRepository()
 * await repo.withWriter((w) => w.saveBlob('data', Buffer.from('hello')))
 */
export async function createTestRepository(opts: TestRepositoryOptions = {}): Promise<Repository> {
  return Repository.init(opts.backend ?? new MemoryBackend(), opts.password ?? TEST_PASSWORD, {
    version: opts.version ?? 2,
    polynomial: TEST_POLYNOMIAL,
    scrypt: WEAK_SCRYPT,
  })
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
