import type { Id } from '../base/index.js'

/**
 * What check found. Errors make the repository unsound (exit 1); hints are worth knowing but
 * harmless (restic prints them and still says "no errors were found").
 */
export type CheckProblemKind =
  // errors
  | 'index-unreadable' // an index file fails to load, decrypt or decode
  | 'pack-missing' // the index lists a pack that is not in data/
  | 'pack-size' // a pack's size differs from the size its index entries add up to
  | 'snapshot-unreadable' // a snapshot file fails to load or decode
  | 'tree-missing' // a tree a snapshot needs is not in the index, or its pack is gone
  | 'tree-damaged' // a tree blob is there but fails to decrypt, verify or decode
  | 'tree-invalid' // a tree decodes, but a node in it is malformed (no content, no subtree, …)
  | 'blob-missing' // a file refers to data blobs the index does not have
  | 'blob-damaged' // --read-data: blobs in a pack fail to decrypt, decompress or verify
  | 'pack-hash' // --read-data: a pack's content does not hash to its name
  | 'pack-header-damaged' // --read-data: a pack's header cannot be read
  | 'pack-header-mismatch' // --read-data: a pack's header and its index entries disagree
  | 'pack-unreadable' // --read-data: a pack cannot be downloaded
  // hints
  | 'pack-unreferenced' // a pack no index refers to (left by an interrupted backup, or a lost index)
  | 'duplicate-pack' // a pack listed in several index files
  | 'mixed-pack' // a pack holding both tree and data blobs
  | 'index-old-format' // an index file in the format of restic ≤ 0.7

/** A snapshot hit by a problem, with the paths inside it that are damaged or lost. */
export interface AffectedSnapshot {
  id: Id
  time: string
  /** Absolute paths inside the snapshot ("/" for its root), sorted. */
  paths: string[]
  /** Paths left out of `paths` because there were too many. */
  morePaths: number
}

export interface CheckProblem {
  kind: CheckProblemKind
  /** One sentence naming what is wrong, e.g. `pack 1a2b3c4d is missing`. */
  message: string
  pack?: Id
  index?: Id
  snapshot?: Id
  tree?: Id
  /** The blobs concerned (missing, damaged, lost with a pack). */
  blobs?: Id[]
  /** The snapshots and paths whose data is damaged or lost because of this problem. */
  affected?: AffectedSnapshot[]
}

export interface CheckReport {
  errors: CheckProblem[]
  hints: CheckProblem[]
  /** Packs that are missing or damaged: their lost data must be dropped or backed up again. */
  brokenPacks: Id[]
  /** The broken packs by what is wrong: gone, damaged (`repair packs` salvages them), or refused to be read (permissions). */
  missingPacks: Id[]
  damagedPacks: Id[]
  unreadablePacks: Id[]
  /** Some trees could not be read, so what uses a lost blob is not fully known. */
  treesIncomplete: boolean
  /** Snapshot files that cannot be read because they are damaged. */
  brokenSnapshots: Id[]
  /** Snapshot files that this user may not read (permissions): nothing is damaged. */
  unreadableSnapshots: Id[]
  /** Rebuilding the index (`repair index`) would fix or reduce some of the problems. */
  suggestRepairIndex: boolean
  /** `prune` would tidy up (unreferenced or mixed packs). */
  suggestPrune: boolean
  stats: {
    indexFiles: number
    packs: number
    snapshots: number
    trees: number
    packsRead: number
    bytesRead: number
  }
}

export type CheckPhase = 'load-index' | 'check-packs' | 'check-snapshots' | 'read-data' | 'locate'

/** Progress callbacks; all optional, called on the caller's event loop, never concurrently. */
export interface CheckProgress {
  /**
   * A phase starts. `total` counts the items `advance` will report (0 when unknown). Phases
   * follow one another, except 'read-data', which runs beside 'check-snapshots'.
   */
  phase?(phase: CheckPhase, total: number): void
  /** `items` more items of the phase are done (index files, trees, packs), with `bytes` read. */
  advance?(phase: CheckPhase, items: number, bytes: number): void
}
