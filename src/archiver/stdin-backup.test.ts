import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { createTestRepository, seededBytes } from '../repository/testing.js'
import { decodeTree } from '../snapshots/index.js'
import { backupStdin, stdinPath } from './stdin-backup.js'
import { fileContent, nodeAt } from './testing.js'

/** A stream of `data`, given in pieces of at most `piece` bytes, as a pipe gives it. */
function streamOf(data: Buffer, piece = 64 * 1024) {
  let at = 0
  let closed = false
  return {
    input: {
      async read(buf: Buffer, offset: number, length: number) {
        const n = Math.min(length, piece, data.length - at)
        data.copy(buf, offset, at, at + n)
        at += n
        return { bytesRead: n }
      },
      async close() {
        closed = true
      },
    },
    closed: () => closed,
  }
}

describe('backupStdin()', () => {
  it('stores the stream as one file at its path, with the folders on its way, as restic does', async () => {
    const repo = await createTestRepository()
    const data = seededBytes(5, 3 * 1024 * 1024 + 17)
    const s = streamOf(data)
    const time = new Date('2026-01-02T03:04:05.678Z')
    const { snapshotId, snapshot, summary } = await backupStdin(repo, { filename: 'dumps/db.sql', input: s.input, time, hostname: 'h', tags: ['db'] })
    assert.ok(snapshotId)
    assert.ok(s.closed())
    assert.deepEqual(snapshot.paths, ['/dumps/db.sql'])
    assert.deepEqual(snapshot.tags, ['db'])
    const file = await nodeAt(repo, snapshot.tree, '/dumps/db.sql')
    assert.equal(file.type, 'file')
    assert.equal(file.mode, 0o644)
    assert.equal(file.size, data.length)
    assert.equal(file.mtime, '2026-01-02T03:04:05.678Z')
    assert.ok(file.content!.length > 1, 'a large input is chunked')
    assert.deepEqual(await fileContent(repo, file), data)
    const [dir] = decodeTree(await repo.loadBlob('tree', snapshot.tree))
    assert.equal(dir.name.toString(), 'dumps')
    assert.equal(dir.type, 'dir')
    assert.equal(dir.mode, 2147484141) // 0755 with Go's directory bit
    assert.deepEqual([summary.filesNew, summary.dirsNew, summary.totalBytesProcessed], [1, 1, data.length])
    let trees = 0
    for (const b of repo.index.blobs()) if (b.type === 'tree') trees += b.uncompressedLength
    assert.equal(summary.dataAdded, data.length + trees, 'data and trees, as restic counts')
  })

  it('refuses empty input without saving a snapshot, as restic does, and a dry run writes nothing', async () => {
    // Empty input was stored as an empty file: a `pg_dump db |` that failed looked backed up.
    const repo = await createTestRepository()
    await assert.rejects(backupStdin(repo, { filename: 'empty', input: streamOf(Buffer.alloc(0)).input }), (err) => isAppError(err, 'INVALID_ARGUMENT') && /No data read from standard input/.test(err.message))
    assert.deepEqual(await repo.listIds('snapshots'), [])
    const dry = await backupStdin(repo, { filename: 'x', input: streamOf(Buffer.from('data')).input, dryRun: true })
    assert.equal(dry.snapshotId, undefined)
    assert.ok(dry.summary.dataAdded > 4 && dry.summary.dataAdded < 2000, 'the data and its two trees')
    assert.equal(repo.index.has('data', (await import('../base/index.js')).hashId(Buffer.from('data'))), false)
  })

  it('refuses a file name that is empty or holds "." or ".."', () => {
    assert.deepEqual(stdinPath('/a//b.sql'), ['a', 'b.sql'])
    for (const bad of ['', '/', 'a/../b', './x', '..']) assert.throws(() => stdinPath(bad), (err) => isAppError(err, 'INVALID_ARGUMENT'), bad)
  })
})
