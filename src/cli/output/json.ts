import type { Id } from '../../base/index.js'
import type { ListedNode } from '../../app/index.js'
import { goStringFromBytes, reprintGoTime, type Snapshot } from '../../snapshots/index.js'
import { permissionString } from './format.js'
export { permissionString }

/** A snapshot as `restic snapshots --json` prints it (restic's field names plus id and short_id). */
export function snapshotJson(id: Id, s: Snapshot): Record<string, unknown> {
  const o: Record<string, unknown> = { time: reprintGoTime(s.time) }
  if (s.parent) o.parent = s.parent
  o.tree = s.tree
  o.paths = s.paths
  if (s.hostname) o.hostname = s.hostname
  if (s.username) o.username = s.username
  if (s.uid) o.uid = s.uid
  if (s.gid) o.gid = s.gid
  if (s.excludes && s.excludes.length > 0) o.excludes = s.excludes
  if (s.tags && s.tags.length > 0) o.tags = s.tags
  if (s.original) o.original = s.original
  o.id = id
  o.short_id = id.slice(0, 8)
  return o
}

/** A node line of `restic ls --json`. */
export function nodeJson(item: ListedNode): Record<string, unknown> {
  const n = item.node
  const o: Record<string, unknown> = { name: goStringFromBytes(n.name), type: n.type, path: item.path, uid: n.uid, gid: n.gid }
  if (n.type === 'file') o.size = n.size
  // omitempty in restic's: a file with no permission bits at all (chmod 000) has no "mode".
  if (n.mode !== 0) o.mode = n.mode
  o.permissions = permissionString(n.mode)
  o.mtime = n.mtime
  o.atime = n.atime
  o.ctime = n.ctime
  o.struct_type = 'node'
  return o
}

/** `fields` without those that are 0, except `keep`: the numbers of a message as Go's omitempty writes them. */
export function omitZeros(fields: Record<string, number>, keep: readonly string[]): Record<string, number> {
  return Object.fromEntries(Object.entries(fields).filter(([k, v]) => v !== 0 || keep.includes(k)))
}
