// What a restore finds where it is about to create a file, and what it does with it: restic's
// --overwrite policies, and the comparison that lets a restore into a folder holding an older
// (or half-restored) copy write only the blobs that differ.
import { constants, lstatSync, type BigIntStats } from 'node:fs'
import { open } from 'node:fs/promises'
import { errnoCode, hashId, type Id } from '../base/index.js'
import { parseGoTime, type Node } from '../snapshots/index.js'

/** What restore does with a file that exists at the target already (restic's --overwrite). */
export type OverwritePolicy = 'always' | 'if-changed' | 'if-newer' | 'never'

export const OVERWRITE_POLICIES: readonly OverwritePolicy[] = ['always', 'if-changed', 'if-newer', 'never']

/** What stands at a path a restore is about to create, and what becomes of it. */
export type Existing =
  | { kind: 'absent' }
  /** Left as it is: --overwrite never, or if-newer with the snapshot's copy not newer. */
  | { kind: 'kept' }
  /** Something else (a folder, a symlink, a file with other hard links): removed, then made anew. */
  | { kind: 'replaced' }
  /** A regular file of one link, where a file is restored: written only where it differs. */
  | { kind: 'in-place'; size: number; mtimeNs: bigint }

const ABSENT: Existing = { kind: 'absent' }
const KEPT: Existing = { kind: 'kept' }
const REPLACED: Existing = { kind: 'replaced' }

/**
 * Looks at `path` (never following a symlink there) and decides by `policy`. A file with other
 * hard links is replaced, never written into: it may be a link of a file outside the target.
 */
export function findExisting(path: Buffer, node: Node, policy: OverwritePolicy): Existing {
  let st: BigIntStats
  try {
    st = lstatSync(path, { bigint: true })
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return ABSENT
    throw err
  }
  if (policy === 'never') return KEPT
  // Restored times hold microseconds (see fs-metadata), so that is what is compared.
  if (policy === 'if-newer' && micros(parseGoTime(node.mtime)) <= micros(st.mtimeNs)) return KEPT
  if (node.type === 'file' && st.isFile() && st.nlink === 1n) return { kind: 'in-place', size: Number(st.size), mtimeNs: st.mtimeNs }
  return REPLACED
}

/** Which blobs of a file's content an existing file holds already, and whether its size is right. */
export interface ContentMatch {
  /** One per blob of the content, in order. */
  matches: boolean[]
  sizeMatches: boolean
}

/**
 * Compares an existing file with a node's content: reads it blob by blob (`lengths` are the
 * blobs' plaintext lengths) and hashes each piece, up to the file's end. With `trustTimes`
 * (--overwrite if-changed) a file of the node's size and mtime is taken as equal unread.
 */
export async function compareContent(path: Buffer, existing: { size: number; mtimeNs: bigint }, node: Node, lengths: number[], trustTimes: boolean, signal?: AbortSignal): Promise<ContentMatch> {
  const content = node.content ?? []
  const sizeMatches = existing.size === node.size
  if (trustTimes && sizeMatches && micros(existing.mtimeNs) === micros(parseGoTime(node.mtime))) return { matches: content.map(() => true), sizeMatches }
  const matches = content.map(() => false)
  const h = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    let buf = Buffer.allocUnsafe(0)
    let offset = 0
    for (let i = 0; i < content.length; i++) {
      // A large file is many reads: a stop is noticed between them (the caller says so).
      if (signal?.aborted) break
      const len = lengths[i]
      if (offset + len > existing.size) break
      if (buf.length < len) buf = Buffer.allocUnsafe(len)
      const { bytesRead } = await h.read(buf, 0, len, offset)
      if (bytesRead !== len) break
      matches[i] = hashId(buf.subarray(0, len)) === (content[i] as Id)
      offset += len
    }
  } finally {
    await h.close()
  }
  return { matches, sizeMatches }
}

function micros(ns: bigint): bigint {
  const q = ns / 1000n
  return ns % 1000n !== 0n && ns < 0n ? q - 1n : q
}
