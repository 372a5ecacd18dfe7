import type { FileInfo } from '../backend.js'

/** The media type of protocol version 2; restic sends it as Accept on every request but create. */
export const V2_TYPE = 'application/vnd.x.restic.rest.v2'

/** A listing: v2 carries sizes, v1 only names (each then needs a HEAD for its size). */
export type Listing = { version: 2; files: FileInfo[] } | { version: 1; names: string[] }

/**
 * Parses a list answer as restic 0.14 does (restic-format.md §7.2): as v2
 * (`[{"name": …, "size": …}]`) only when the Content-Type is exactly the v2 type, with no
 * parameters; otherwise as v1 (`["name", …]`). `null` is an empty list (rest-server before
 * 0.12.1). Throws an Error whose message completes "the server's listing is invalid: …".
 *
 * @example
 * parseListing(Buffer.from('["ab…"]'), 'application/json') // → { version: 1, names: ['ab…'] }
 */
export function parseListing(body: Buffer, contentType: string | undefined): Listing {
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch {
    throw new Error('not JSON')
  }
  if (value === null) value = []
  if (!Array.isArray(value)) throw new Error('not a JSON array')
  if (contentType === V2_TYPE) {
    const files = value.map((e: unknown): FileInfo => {
      if (typeof e !== 'object' || e === null) throw new Error('a v2 entry is not an object')
      const { name, size } = e as { name?: unknown; size?: unknown }
      if (typeof name !== 'string') throw new Error('a v2 entry has no "name" string')
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new Error(`entry "${name}" has no valid "size"`)
      return { name, size }
    })
    return { version: 2, files }
  }
  const names = value.map((e: unknown) => {
    if (typeof e !== 'string') throw new Error('a v1 entry is not a string (a v2 listing sent with another Content-Type?)')
    return e
  })
  return { version: 1, names }
}
