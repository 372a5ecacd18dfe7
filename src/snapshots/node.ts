import type { Id } from '../base/index.js'

/** The node types restic writes into trees. Sockets are never stored by the archiver. */
export type NodeType = 'file' | 'dir' | 'symlink' | 'dev' | 'chardev' | 'fifo' | 'socket'

export interface ExtendedAttribute {
  name: string
  value: Buffer
}

/**
 * One entry of a tree (a directory listing), as restic's `Node`.
 *
 * Names are raw bytes: file names on Linux need not be UTF-8. Timestamps keep the exact text
 * restic writes (Go RFC 3339 with nanoseconds in the writer's local zone), so re-encoding a
 * decoded tree gives the same bytes; `go-time.ts` converts them to and from nanoseconds.
 */
export interface Node {
  name: Buffer
  type: NodeType
  /** Go os.FileMode bits (permissions plus Go's type flags), not a Unix st_mode. */
  mode: number
  mtime: string
  atime: string
  ctime: string
  uid: number
  gid: number
  user?: string
  group?: string
  /** st_ino; 0n when unknown. */
  inode: bigint
  /** st_dev of the file system holding the node; 0n when unknown. */
  deviceId: bigint
  /** File size in bytes (files only; 0 otherwise). */
  size: number
  /** st_nlink; 0 when not recorded (restic records it for files, symlinks and devices). */
  links: number
  /**
   * Symlink target as a string (restic 0.14 stores it as plain JSON, lossy for non-UTF-8).
   * Build it with goStringFromBytes: each invalid UTF-8 byte becomes a lone surrogate, which
   * the encoder writes as `\ufffd` like Go. Decoded trees use U+DC00 for those escapes.
   */
  linktarget?: string
  xattrs?: ExtendedAttribute[]
  /** st_rdev, for dev and chardev nodes. */
  device?: bigint
  /** Data blob IDs in file order: [] for an empty file, null for anything but a file. */
  content: Id[] | null
  /** Tree blob ID of a directory's listing. */
  subtree?: Id
  error?: string
}
