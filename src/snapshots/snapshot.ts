/**
 * The snapshot file codec (restic-format.md §6.2): compact Go-style JSON in restic 0.14's field
 * order, no trailing newline. The repository layer adds the framing and encryption.
 */
import { AppError, isId, type Id } from '../base/index.js'
import { goJsonString } from './go-json.js'
import { parseGoTime } from './go-time.js'

/** A snapshot as stored in `snapshots/<id>`. Its ID is the file name, so it is not a field. */
export interface Snapshot {
  /** Go RFC 3339 time with nanoseconds, in the writer's zone (see formatGoTime). */
  time: string
  /** The snapshot whose files were compared against to skip unchanged ones. */
  parent?: Id
  /** The root tree. */
  tree: Id
  /** The absolute paths that were backed up. */
  paths: string[]
  hostname?: string
  username?: string
  /** Left out when 0 (restic omits it for root). */
  uid?: number
  gid?: number
  excludes?: string[]
  tags?: string[]
  /** The ID of the first version of a snapshot that was rewritten (by tag changes). */
  original?: Id
  /** Written by restic 0.16 and later; 0.14 ignores it. */
  programVersion?: string
}

function stringList(list: readonly string[]): string {
  let s = ''
  for (const item of list) s += (s === '' ? '' : ',') + goJsonString(item)
  return '[' + s + ']'
}

/**
 * The JSON of a snapshot file. Optional fields are left out when undefined, empty or zero, as
 * restic's `omitempty` does; `paths` is always written.
 *
 * @example
 * encodeSnapshot({ time: '2026-11-22T03:37:22.008860185Z', tree: treeId, paths: ['/srv'], hostname: 'vm' })
 */
export function encodeSnapshot(s: Snapshot): Buffer {
  let json = '{"time":' + goJsonString(s.time)
  if (s.parent !== undefined) json += ',"parent":"' + s.parent + '"'
  json += ',"tree":"' + s.tree + '","paths":' + stringList(s.paths)
  if (s.hostname) json += ',"hostname":' + goJsonString(s.hostname)
  if (s.username) json += ',"username":' + goJsonString(s.username)
  if (s.uid) json += ',"uid":' + s.uid
  if (s.gid) json += ',"gid":' + s.gid
  if (s.excludes !== undefined && s.excludes.length > 0) json += ',"excludes":' + stringList(s.excludes)
  if (s.tags !== undefined && s.tags.length > 0) json += ',"tags":' + stringList(s.tags)
  if (s.original !== undefined) json += ',"original":"' + s.original + '"'
  if (s.programVersion) json += ',"program_version":' + goJsonString(s.programVersion)
  return Buffer.from(json + '}', 'utf8')
}

function decodeError(detail: string, cause?: unknown): AppError {
  return new AppError('INVALID_DATA', `Cannot decode snapshot: ${detail}`, {
    hint: 'The snapshot file is damaged or was written by an incompatible program; run "check"',
    cause,
  })
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined
  if (typeof v !== 'string') throw decodeError(`field "${field}" is not a string`)
  return v
}

function optionalId(v: unknown, field: string): Id | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v === 'string') {
    const lower = v.toLowerCase()
    if (isId(lower)) return lower
  }
  throw decodeError(`field "${field}" is not an ID: ${JSON.stringify(v)}`)
}

function optionalUint32(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null || v === 0) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw decodeError(`field "${field}" is not an unsigned integer: ${JSON.stringify(v)}`)
  }
  return v
}

function strings(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw decodeError(`field "${field}" is not a list of strings`)
  }
  return v as string[]
}

/**
 * Parses a snapshot file's JSON leniently: unknown fields (such as `summary` from restic 0.17)
 * are ignored, missing optional fields stay undefined, a missing time is Go's zero time.
 *
 * @throws AppError INVALID_DATA when the JSON is malformed, has no tree, or a field has the
 * wrong type
 */
export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  let doc: unknown
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (err) {
    throw decodeError('not valid JSON', err)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw decodeError('not a JSON object')
  const o = doc as Record<string, unknown>
  const tree = optionalId(o.tree, 'tree')
  if (tree === undefined) throw decodeError('it names no tree')
  const time = optionalString(o.time, 'time') ?? '0001-01-01T00:00:00Z'
  // A time that does not parse would fail every command that sorts snapshots, not this one alone.
  try {
    parseGoTime(time)
  } catch (err) {
    throw decodeError(`its time ${JSON.stringify(time)} is not an RFC 3339 time`, err)
  }
  const snapshot: Snapshot = {
    time,
    tree,
    paths: strings(o.paths, 'paths'),
  }
  const parent = optionalId(o.parent, 'parent')
  if (parent !== undefined) snapshot.parent = parent
  const hostname = optionalString(o.hostname, 'hostname')
  if (hostname !== undefined) snapshot.hostname = hostname
  const username = optionalString(o.username, 'username')
  if (username !== undefined) snapshot.username = username
  const uid = optionalUint32(o.uid, 'uid')
  if (uid !== undefined) snapshot.uid = uid
  const gid = optionalUint32(o.gid, 'gid')
  if (gid !== undefined) snapshot.gid = gid
  const excludes = strings(o.excludes, 'excludes')
  if (excludes.length > 0) snapshot.excludes = excludes
  const tags = strings(o.tags, 'tags')
  if (tags.length > 0) snapshot.tags = tags
  const original = optionalId(o.original, 'original')
  if (original !== undefined) snapshot.original = original
  const programVersion = optionalString(o.program_version, 'program_version')
  if (programVersion !== undefined) snapshot.programVersion = programVersion
  return snapshot
}
