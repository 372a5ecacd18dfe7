/**
 * @module snapshots
 * The data model above blobs, in restic 0.14's exact JSON (restic-format.md §6.2–6.4).
 *
 * Terms:
 * - **Snapshot**: one backup run; a small JSON file naming the root tree, the backed-up paths,
 *   host, user and tags. Its ID is the SHA-256 of the stored file.
 * - **Tree**: a directory listing, stored as a tree blob `{"nodes":[…]}` plus a newline. Its ID
 *   is the SHA-256 of those exact bytes, so the encoding must match restic's byte for byte for
 *   trees to deduplicate.
 * - **Node**: one entry of a tree (file, directory, symlink, device, fifo). Names are raw bytes,
 *   stored Go-quoted (`strconv.Quote`) inside the JSON string; times are Go RFC 3339 text in the
 *   writer's local zone; `mode` holds Go `os.FileMode` bits. Other strings from the file system
 *   (symlink targets, owner and xattr names) go in through goStringFromBytes, so bytes that
 *   are not UTF-8 encode as Go encodes them.
 * - **Go zero time**: `0001-01-01T00:00:00Z`, what Go writes for a time that was never set.
 *
 * encodeTree(decodeTree(bytes)) gives back the exact bytes of every tree restic 0.14 writes.
 * Snapshot lookup (by ID prefix, `latest`, parent for a backup) sits on top of the codec.
 *
 * @example
 * import { encodeTree, decodeTree, formatGoTime, goFileMode } from '../snapshots/index.js'
 * const st = await fs.lstat(path, { bigint: true })
 * const mtime = formatGoTime(st.mtimeNs)
 * const bytes = encodeTree([{ name: Buffer.from('a.txt'), type: 'file', mode: goFileMode(Number(st.mode)),
 *   mtime, atime: mtime, ctime: formatGoTime(st.ctimeNs), uid: 0, gid: 0, inode: st.ino, deviceId: st.dev,
 *   size: 12, links: 1, content: [blobId] }])
 * decodeTree(bytes)[0].name // <Buffer 61 2e 74 78 74>
 */
export type { ExtendedAttribute, Node, NodeType } from './node.js'
export { goQuoteName, goUnquoteName } from './go-quote.js'
export { goJsonString } from './go-json.js'
export { bytesFromGoString, goStringFromBytes, hasEscapedBytes } from './go-utf8.js'
export { formatGoTime, parseGoTime, reprintGoTime, GO_ZERO_TIME_NS } from './go-time.js'
export { goFileMode, unixModeFromGo, unixFileType } from './file-mode.js'
export { compareNames, decodeNodeJson, decodeTree, encodeNode, encodeTree, encodeTreeJson, nodeJsonHead, nodeJsonTail, plainNameJson, splitTreeJson } from './tree.js'
export { encodeSnapshot, decodeSnapshot, type Snapshot } from './snapshot.js'
export {
  loadSnapshots,
  sortSnapshots,
  matchesFilter,
  findSnapshot,
  resolveSnapshotId,
  findParentSnapshot,
  type SnapshotEntry,
  type SnapshotFilter,
} from './snapshot-find.js'
export {
  applyRetention,
  describePolicy,
  formatTagList,
  isEmptyPolicy,
  isoWeek,
  type KeptSnapshot,
  type RetentionCounters,
  type RetentionPolicy,
  type RetentionResult,
} from './retention.js'
export { formatRetentionDuration, isZeroDuration, parseRetentionDuration, type RetentionDuration } from './retention-duration.js'
export { asGrouped, groupSnapshots, parseGroupBy, type GroupBy, type SnapshotGroup, type SnapshotGroupKey } from './snapshot-group.js'
