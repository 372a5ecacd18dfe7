/**
 * Unix `st_mode` ↔ Go `os.FileMode`, the `mode` restic stores in nodes (restic-format.md §6.3).
 * Go keeps the nine permission bits where Unix has them but moves the file type and the
 * setuid/setgid/sticky flags to the top bits of a uint32.
 */
import type { NodeType } from './node.js'

// Go os.FileMode bits. Written as powers of two: `1 << 31` is negative in JS.
const GO_DIR = 2 ** 31
const GO_SYMLINK = 2 ** 27
const GO_DEVICE = 2 ** 26
const GO_NAMED_PIPE = 2 ** 25
const GO_SOCKET = 2 ** 24
const GO_SETUID = 2 ** 23
const GO_SETGID = 2 ** 22
const GO_CHAR_DEVICE = 2 ** 21
const GO_STICKY = 2 ** 20

// Unix st_mode bits.
const S_IFMT = 0o170000
const S_IFSOCK = 0o140000
const S_IFLNK = 0o120000
const S_IFREG = 0o100000
const S_IFBLK = 0o060000
const S_IFDIR = 0o040000
const S_IFCHR = 0o020000
const S_IFIFO = 0o010000
const S_ISUID = 0o4000
const S_ISGID = 0o2000
const S_ISVTX = 0o1000

/**
 * Go's `os.FileMode` for a Unix `st_mode`, as Go's `os.Lstat` builds it on Linux and as restic
 * keeps it (permissions, setuid, setgid, sticky and type bits). An unknown file type gets no
 * type bits, as in Go.
 *
 * @example
 * goFileMode(0o040755) // 2147484141 (a 0755 directory)
 * goFileMode(0o100644) // 420
 */
export function goFileMode(stMode: number): number {
  let mode = stMode & 0o777
  switch (stMode & S_IFMT) {
    case S_IFBLK:
      mode += GO_DEVICE
      break
    case S_IFCHR:
      mode += GO_DEVICE + GO_CHAR_DEVICE
      break
    case S_IFDIR:
      mode += GO_DIR
      break
    case S_IFIFO:
      mode += GO_NAMED_PIPE
      break
    case S_IFLNK:
      mode += GO_SYMLINK
      break
    case S_IFSOCK:
      mode += GO_SOCKET
      break
  }
  if (stMode & S_ISUID) mode += GO_SETUID
  if (stMode & S_ISGID) mode += GO_SETGID
  if (stMode & S_ISVTX) mode += GO_STICKY
  return mode
}

function has(mode: number, bit: number): boolean {
  return Math.floor(mode / bit) % 2 === 1
}

/**
 * Splits a Go `os.FileMode` into Unix permission bits (including setuid 0o4000, setgid 0o2000
 * and sticky 0o1000, ready for `chmod`) and the node type its type bits name.
 *
 * @example
 * unixModeFromGo(2148532735) // { perm: 0o1777, type: 'dir' }
 */
export function unixModeFromGo(mode: number): { perm: number; type: NodeType } {
  let perm = mode & 0o777
  if (has(mode, GO_SETUID)) perm |= S_ISUID
  if (has(mode, GO_SETGID)) perm |= S_ISGID
  if (has(mode, GO_STICKY)) perm |= S_ISVTX
  let type: NodeType = 'file'
  if (has(mode, GO_DIR)) type = 'dir'
  else if (has(mode, GO_SYMLINK)) type = 'symlink'
  else if (has(mode, GO_DEVICE)) type = has(mode, GO_CHAR_DEVICE) ? 'chardev' : 'dev'
  else if (has(mode, GO_NAMED_PIPE)) type = 'fifo'
  else if (has(mode, GO_SOCKET)) type = 'socket'
  return { perm, type }
}

/** The Unix `S_IFMT` bits of a node type, for building an `st_mode` back. */
export function unixFileType(type: NodeType): number {
  switch (type) {
    case 'file':
      return S_IFREG
    case 'dir':
      return S_IFDIR
    case 'symlink':
      return S_IFLNK
    case 'dev':
      return S_IFBLK
    case 'chardev':
      return S_IFCHR
    case 'fifo':
      return S_IFIFO
    case 'socket':
      return S_IFSOCK
  }
}
