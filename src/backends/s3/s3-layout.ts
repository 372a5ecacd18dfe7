import { isId } from '../../base/index.js'
import type { FileType, Handle } from '../backend.js'

/**
 * Object keys in restic's "default" layout, which restic's s3 backend has used since 0.8
 * (restic-format.md §1.1; `internal/backend/s3` opens it with `ParseLayout(…, "default", prefix)`):
 * `<prefix>/config`, `<prefix>/keys/<id>`, `<prefix>/data/<id[0:2]>/<id>`, and so on. With an
 * empty prefix the keys start at the bucket's root. The old flat "s3legacy" layout is not written.
 *
 * @example
 * objectKey('repo', { type: 'data', name: 'ab12…' }) // → 'repo/data/ab/ab12…'
 */
export function objectKey(prefix: string, h: Handle): string {
  let rel: string
  if (h.type === 'config') rel = 'config'
  else if (h.type === 'data') rel = `data/${h.name.slice(0, 2)}/${h.name}`
  else rel = `${h.type}/${h.name}`
  return prefix === '' ? rel : `${prefix}/${rel}`
}

/** The key prefix under which every file of `type` lives, ending in `/`. */
export function typePrefix(prefix: string, type: FileType): string {
  return prefix === '' ? `${type}/` : `${prefix}/${type}/`
}

/**
 * The file name for a listed key, given the key with typePrefix() already cut off, or undefined
 * when the key is not a file this layout can load (temp names, junk, a pack in the wrong
 * `data/xx/` folder).
 */
export function nameFromListedKey(type: FileType, rest: string): string | undefined {
  if (type === 'data') {
    const slash = rest.indexOf('/')
    if (slash !== 2) return undefined
    const name = rest.slice(3)
    return isId(name) && name.startsWith(rest.slice(0, 2)) ? name : undefined
  }
  return isId(rest) ? rest : undefined
}
