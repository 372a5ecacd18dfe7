import { createRequire } from 'node:module'

/**
 * A CommonJS package loaded on first use instead of at startup. ssh2, better-sqlite3, yaml and
 * nodemailer each take 25–100 ms to load, which every command would otherwise pay, even one
 * that never connects over SSH, opens the history or reads the config file.
 *
 * @example
 * const ssh2 = lazyRequire<typeof import('ssh2')>('ssh2')
 * const client = new (ssh2().Client)()
 */
export function lazyRequire<T>(id: string): () => T {
  let loaded: T | undefined
  return () => (loaded ??= createRequire(import.meta.url)(id) as T)
}
