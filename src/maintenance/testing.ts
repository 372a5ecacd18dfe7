/**
 * Test helpers for maintenance: small repositories with known snapshots, and ways to damage
 * them. Imported by tests only.
 */
import { hashId, type Id } from '../base/index.js'
import type { Backend, Handle } from '../backends/index.js'
import type { Repository } from '../repository/index.js'
import { encodeSnapshot, encodeTree, type Node } from '../snapshots/index.js'
import { testNode } from '../snapshots/testing.js'

export interface TestSnapshot {
  id: Id
  tree: Id
  /** The data blob IDs of each file, by absolute path. */
  files: Map<string, Id[]>
  /** The tree ID of each directory, by absolute path ("/" is the root). */
  dirs: Map<string, Id>
}

export interface SnapshotSpec {
  /** Absolute path → content. Directories are made as needed. */
  files: Record<string, string | Buffer>
  /** Content is cut into blobs of this many bytes (default 1000). */
  chunkSize?: number
  time?: string
  tags?: string[]
  /** Passed to withWriter: small packs put files into different packs. */
  packSize?: number
}

interface Dir {
  dirs: Map<string, Dir>
  files: Map<string, Buffer>
}

/**
 * Stores a snapshot of the given files: data blobs cut at `chunkSize`, one tree per directory,
 * then the snapshot file. Returns the IDs of everything, so tests can damage precisely.
 *
 * @example
 * const s = await saveTestSnapshot(repo, { files: { '/home/me/a.txt': 'hello' } })
 * s.files.get('/home/me/a.txt') // [blob ID]
 */
export async function saveTestSnapshot(repo: Repository, spec: SnapshotSpec): Promise<TestSnapshot> {
  const root: Dir = { dirs: new Map(), files: new Map() }
  for (const [path, content] of Object.entries(spec.files)) {
    const parts = path.split('/').filter((p) => p !== '')
    let dir = root
    for (const p of parts.slice(0, -1)) {
      let next = dir.dirs.get(p)
      if (next === undefined) dir.dirs.set(p, (next = { dirs: new Map(), files: new Map() }))
      dir = next
    }
    dir.files.set(parts[parts.length - 1], Buffer.from(content))
  }
  const chunk = spec.chunkSize ?? 1000
  const files = new Map<string, Id[]>()
  const dirs = new Map<string, Id>()
  const tree = await repo.withWriter(async (w) => {
    const save = async (dir: Dir, path: string): Promise<Id> => {
      const nodes: Node[] = []
      for (const [name, content] of dir.files) {
        const ids: Id[] = []
        for (let off = 0; off < content.length; off += chunk) ids.push((await w.saveBlob('data', content.subarray(off, off + chunk))).id)
        files.set(join(path, name), ids)
        nodes.push(testNode({ name: Buffer.from(name), size: content.length, content: ids }))
      }
      for (const [name, sub] of dir.dirs) {
        const subtree = await save(sub, join(path, name))
        nodes.push(testNode({ name: Buffer.from(name), type: 'dir', mode: 0x80000000 | 0o755, size: 0, content: null, subtree }))
      }
      const bytes = encodeTree(nodes)
      const id = hashId(bytes)
      await w.saveBlob('tree', bytes, id)
      dirs.set(path, id)
      return id
    }
    return save(root, '/')
  }, { packSize: spec.packSize, threads: 0 })
  const id = await repo.saveUnpacked(
    'snapshots',
    encodeSnapshot({ time: spec.time ?? '2024-05-06T07:08:09.123456789Z', tree, paths: ['/'], hostname: 'test-host', tags: spec.tags }),
  )
  return { id, tree, files, dirs }
}

function join(dir: string, name: string): string {
  return dir === '/' ? '/' + name : `${dir}/${name}`
}

export { tamper } from '../backends/testing/overrides.js'

/** The pack holding a blob, by the repository's loaded index. */
export function packOf(repo: Repository, type: 'data' | 'tree', blob: Id): Id {
  const loc = repo.index.lookup(type, blob)
  if (loc === undefined) throw new Error(`blob ${blob} is not in the index`)
  return loc.packId
}

/** The offset of a blob inside its pack, by the repository's loaded index. */
export function offsetOf(repo: Repository, type: 'data' | 'tree', blob: Id): number {
  const loc = repo.index.lookup(type, blob)
  if (loc === undefined) throw new Error(`blob ${blob} is not in the index`)
  return loc.offset
}
