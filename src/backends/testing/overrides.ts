import * as fsp from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import type { LocalFs } from '../local/local-fs.js'
import type { Backend, Handle } from '../backend.js'

/**
 * `target` with some of its members replaced; every other property reads through to it, and
 * its methods stay bound to it. For tests that make one call of a backend or of an open file
 * fail, wait or count.
 *
 * @example
 * const slow = withMembers(backend, { save: async (h, data) => { await delay(5); return backend.save(h, data) } })
 */
export function withMembers<T extends object>(target: T, members: Partial<T>): T {
  return new Proxy(target, {
    get(t, prop) {
      if (Object.hasOwn(members, prop)) return (members as Record<string | symbol, unknown>)[prop]
      const v = Reflect.get(t, prop, t) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v
    },
  })
}

/** The real file system for a LocalBackend, with each file it opens passed through `wrap`. */
export function fsWithFiles(wrap: (fd: FileHandle, path: string, flags: string | number | undefined) => FileHandle): LocalFs {
  return {
    ...fsp,
    open: (async (...args: Parameters<typeof fsp.open>) => wrap(await fsp.open(...args), String(args[0]), args[1])) as typeof fsp.open,
  }
}

/** Replaces a stored file with `mutate(content)` under the same name (backends never do this). */
export async function tamper(backend: Backend, h: Handle, mutate: (b: Buffer) => Buffer | void): Promise<void> {
  const bytes = await backend.load(h)
  const changed = mutate(bytes) ?? bytes
  await backend.remove(h)
  await backend.save(h, changed)
}
