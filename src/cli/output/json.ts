import type { Id } from '../../base/index.js'
import type { ListedNode } from '../../app/index.js'
import { unixModeFromGo, type Snapshot } from '../../snapshots/index.js'

/** A snapshot as `restic snapshots --json` prints it (restic's field names plus id and short_id). */
export function snapshotJson(id: Id, s: Snapshot): Record<string, unknown> {
  const o: Record<string, unknown> = { time: s.time }
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
  const o: Record<string, unknown> = { name: n.name.toString('utf8'), type: n.type, path: item.path, uid: n.uid, gid: n.gid }
  if (n.type === 'file') o.size = n.size
  o.mode = n.mode
  o.permissions = permissionString(n.mode, n.type)
  o.mtime = n.mtime
  o.atime = n.atime
  o.ctime = n.ctime
  o.struct_type = 'node'
  return o
}

/** "-rw-r--r--", "drwxr-xr-x", "Lrwxrwxrwx" as Go's FileMode.String prints them. */
export function permissionString(mode: number, type: string): string {
  const { perm } = unixModeFromGo(mode)
  const first = ({ dir: 'd', symlink: 'L', dev: 'D', chardev: 'c', fifo: 'p', socket: 'S' } as Record<string, string>)[type] ?? '-'
  const rwx = 'rwxrwxrwx'
  let s = ''
  for (let i = 0; i < 9; i++) s += perm & (1 << (8 - i)) ? rwx[i] : '-'
  return first + s
}
