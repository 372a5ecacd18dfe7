import type { Snapshot } from '../../snapshots/index.js'
import { formatTime, table } from './format.js'

/** A row of restic's snapshot table: `forget` adds the reasons a snapshot is kept. */
export interface SnapshotRow {
  id: string
  snapshot: Snapshot
  reasons?: readonly string[]
}

/**
 * restic's table of snapshots (its PrintSnapshots, for `snapshots` and `forget`), in the order
 * given: one snapshot a row, with its paths (and reasons, when any row has them) one a line.
 * `compact` leaves paths and reasons out and puts tags one a line instead. restic pads the
 * headers of Host and Tags to ten characters in the full table, Tags to six in the compact one;
 * when a snapshot of the full table has more than one path, a blank line parts the snapshots.
 */
export function snapshotTable(rows: readonly SnapshotRow[], compact: boolean): string {
  const withReasons = !compact && rows.some((r) => r.reasons !== undefined)
  const header = compact ? ['ID', 'Time', 'Host', 'Tags  '] : ['ID', 'Time', 'Host      ', 'Tags      ', ...(withReasons ? ['Reasons'] : []), 'Paths']
  const parted = !compact && rows.some((r) => r.snapshot.paths.length > 1)
  const lines: string[][] = []
  for (const { id, snapshot: s, reasons } of rows) {
    if (parted && lines.length > 0) lines.push([])
    const tags = s.tags ?? []
    const head = [id.slice(0, 8), formatTime(s.time), s.hostname ?? '']
    const columns = compact ? [tags] : [[tags.join(',')], ...(withReasons ? [reasons ?? []] : []), s.paths]
    const height = Math.max(1, ...columns.map((c) => c.length))
    for (let i = 0; i < height; i++) lines.push([...(i === 0 ? head : ['', '', '']), ...columns.map((c) => c[i] ?? '')])
  }
  return table(header, lines, `${rows.length} snapshots`)
}
