import { createLimit, type Id } from '../base/index.js'
import { decodeIndexTable, type IndexTable, type Repository } from '../repository/index.js'

export type IndexReader = Pick<Repository, 'backend' | 'listIds' | 'loadUnpacked'>

export interface IndexFileVisitor {
  /** Called once per readable index file; `oldFormat` for restic ≤ 0.7's bare-array files. */
  file(id: Id, index: IndexTable, oldFormat: boolean): void
  /** Called once per index file that cannot be loaded, decrypted or decoded. */
  error(id: Id, err: unknown): void
}

/**
 * Loads every index file one by one, so a damaged file is reported instead of failing the
 * whole load (Repository.loadIndex fails on the first one). Files are handed to `visit` as
 * they arrive and not kept, so memory holds one decoded file per connection at most.
 * Returns the IDs of all index files listed.
 */
export async function forEachIndexFile(repo: IndexReader, visit: IndexFileVisitor, signal?: AbortSignal): Promise<Id[]> {
  const ids = await repo.listIds('index')
  const limit = createLimit(Math.max(4, repo.backend.properties.connections * 2))
  await Promise.all(
    ids.map((id) =>
      limit(async () => {
        signal?.throwIfAborted()
        let json: Buffer
        let index: IndexTable
        try {
          json = await repo.loadUnpacked('index', id)
          index = decodeIndexTable(json, id)
        } catch (err) {
          signal?.throwIfAborted()
          visit.error(id, err)
          return
        }
        visit.file(id, index, firstJsonByte(json) === 0x5b)
      }),
    ),
  )
  return ids
}

function firstJsonByte(json: Buffer): number {
  for (const c of json) if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return c
  return -1
}
