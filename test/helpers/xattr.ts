/**
 * Extended attributes on paths given as raw bytes. The xattr binding takes paths as strings and
 * does not follow symlinks (so the /proc/self/fd route does not work with it); a path that is
 * not valid UTF-8 therefore goes through the attr tools (getfattr/setfattr).
 */
import { getAttribute, listAttributes, setAttribute } from '@napi-rs/xattr'
import { runOnPath, shellQuote } from './byte-path-shell.js'

const utf8 = new TextDecoder('utf-8', { fatal: true })

function asUtf8(path: Buffer): string | undefined {
  try {
    return utf8.decode(path)
  } catch {
    return undefined
  }
}

/** All extended attributes of `path` (not following a final symlink), sorted by name. */
export async function getXattrs(path: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  const str = asUtf8(path)
  if (str !== undefined) {
    const names = (await listAttributes(str)).sort()
    for (const name of names) out.set(name, (await getAttribute(str, name)) ?? Buffer.alloc(0))
    return out
  }
  const text = await runOnPath('getfattr --absolute-names -h -d -m - -e hex', path)
  for (const line of text.split('\n')) {
    const m = /^([^#=][^=]*)(?:=0x([0-9a-f]*))?$/.exec(line)
    if (m) out.set(m[1], Buffer.from(m[2] ?? '', 'hex'))
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/** Sets one extended attribute on `path`. */
export async function setXattr(path: Buffer, name: string, value: Buffer | string): Promise<void> {
  const str = asUtf8(path)
  const bytes = typeof value === 'string' ? Buffer.from(value) : value
  if (str !== undefined) return setAttribute(str, name, bytes)
  await runOnPath(`setfattr -h -n ${shellQuote(name)} -v 0x${bytes.toString('hex')}`, path)
}
