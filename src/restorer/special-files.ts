import { isUtf8 } from 'node:buffer'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { open, rename } from 'node:fs/promises'
import { AppError, errnoCode, messageOf } from '../base/index.js'
import { type Node } from '../snapshots/index.js'

/**
 * Creates a fifo, block device or character device node at `path` for a tree node of type
 * `fifo`, `dev` or `chardev`, with the node's permission bits (owner, times, setuid bits and
 * xattrs come later from applyMetadata). Node has no mkfifo or mknod, so this runs the coreutils
 * programs; device nodes need root (CAP_MKNOD).
 *
 * Rejects with an AppError: INVALID_ARGUMENT for other node types (a device without `device` is 0, 0),
 * UNSUPPORTED when the program is missing, IO when it fails (for example EEXIST or EPERM).
 *
 * @example
 * await createSpecialFile('/restore/dev/null', node) // node.type 'chardev', node.device 259n
 */
export async function createSpecialFile(path: string | Buffer, node: Node): Promise<void> {
  const perm = (node.mode & 0o777).toString(8)
  let command: string
  let tail: string[]
  if (node.type === 'fifo') {
    command = 'mkfifo'
    tail = []
  } else if (node.type === 'dev' || node.type === 'chardev') {
    // restic leaves a device number of 0 out of the tree (omitempty): overlayfs's whiteouts are
    // such nodes (0, 0).
    const [major, minor] = splitDevice(node.device ?? 0n)
    command = 'mknod'
    tail = [node.type === 'dev' ? 'b' : 'c', String(major), String(minor)]
  } else {
    throw new AppError('INVALID_ARGUMENT', `Cannot create "${String(path)}" as a special file: its type is "${node.type}"`)
  }
  const what = node.type === 'fifo' ? 'fifo' : 'device node'
  try {
    await createAt(path, (target, fd) => runTool(command, ['-m', perm, '--', target, ...tail], fd))
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' && (err as { syscall?: string }).syscall?.startsWith('spawn')) {
      throw new AppError('UNSUPPORTED', `Cannot create ${what} "${String(path)}": "${command}" is not installed`, {
        hint: 'Install coreutils, or exclude special files from the restore',
        cause: err,
      })
    }
    throw new AppError('IO', `Cannot create ${what} "${String(path)}": ${messageOf(err)}`, { cause: err })
  }
}

/**
 * Splits a Linux st_rdev into [major, minor] (glibc's encoding: 12+ bits of major and 20 bits
 * of minor, interleaved so old 16-bit numbers keep their value).
 *
 * @example
 * splitDevice(259n) // [1n, 3n]
 */
export function splitDevice(device: bigint): [major: bigint, minor: bigint] {
  // Both halves are 32-bit in glibc; unbounded masks would pull the major's high bits into the minor.
  const major = ((device >> 8n) & 0xfffn) | ((device >> 32n) & 0xffff_f000n)
  const minor = (device & 0xffn) | ((device >> 12n) & 0xffff_ff00n)
  return [major, minor]
}

/**
 * Runs `make(target, fd)` with a UTF-8 string that names `path`, since child process arguments
 * cannot carry other bytes. Such a path is reached through the parent directory handed down as
 * descriptor 3; a final name that is itself not UTF-8 is created under a temporary name in the
 * same directory and renamed into place.
 */
async function createAt(path: string | Buffer, make: (target: string, fd?: number) => Promise<Buffer>): Promise<void> {
  if (typeof path === 'string' || isUtf8(path)) {
    await make(path.toString())
    return
  }
  const slash = path.lastIndexOf(0x2f)
  const base = path.subarray(slash + 1)
  const dir = path.subarray(0, slash + 1)
  const handle = await open(dir.length === 0 ? '.' : dir, constants.O_RDONLY | constants.O_DIRECTORY)
  try {
    if (isUtf8(base)) {
      await make(`/proc/self/fd/3/${base.toString('utf8')}`, handle.fd)
      return
    }
    const temporary = `.cairn-${randomBytes(8).toString('hex')}.tmp`
    await make(`/proc/self/fd/3/${temporary}`, handle.fd)
    await rename(Buffer.concat([dir, Buffer.from(temporary)]), path)
  } finally {
    await handle.close()
  }
}

/**
 * Runs a program and resolves to its stdout; `fd`, when given, becomes the child's descriptor 3.
 * Rejects with the spawn error, or an Error carrying the program's stderr on a non-zero exit.
 */
export function runTool(command: string, args: string[], fd?: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe', fd] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout!.on('data', (b: Buffer) => out.push(b))
    child.stderr!.on('data', (b: Buffer) => err.push(b))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out))
      else reject(new Error(Buffer.concat(err).toString('utf8').trim() || `${command} exited with code ${code}`))
    })
  })
}
