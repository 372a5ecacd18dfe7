/**
 * Test helpers for forget and prune: snapshots made of given files, a backend that "crashes"
 * after a number of changes, and a small consistency check. Imported by tests only.
 */
import { hashId, type Id } from '../base/index.js'
import { MemoryBackend, type Backend, type FileInfo, type FileType, type Handle, type ListOptions } from '../backends/index.js'
import { packSize, type Repository } from '../repository/index.js'
import { decodeTree, encodeSnapshot, encodeTree, loadSnapshots, type Node } from '../snapshots/index.js'
import { testNode } from '../snapshots/testing.js'

const CHUNK = 64 * 1024

/**
 * Stores `files` (name → content, split into 64 KiB chunks; names with a "/" go into one
 * subdirectory level) as a snapshot and returns its ID. Each file's new chunks go into packs of
 * their own, and the snapshot's new trees into one more, so tests know what shares a pack.
 */
export async function writeSnapshot(
  repo: Repository,
  files: Record<string, Buffer>,
  options: { time?: string; host?: string; tags?: string[]; compression?: 'auto' | 'off' } = {},
): Promise<Id> {
  const dirs = new Map<string, Node[]>()
  const root: Node[] = []
  for (const [path, data] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const content: Id[] = []
    await repo.withWriter(
      async (w) => {
        for (let off = 0; off < data.length; off += CHUNK) content.push((await w.saveBlob('data', data.subarray(off, off + CHUNK))).id)
      },
      { compression: options.compression, threads: 0 },
    )
    const [dir, name] = path.includes('/') ? path.split('/', 2) : ['', path]
    const node = testNode({ name: Buffer.from(name), size: data.length, content })
    if (dir === '') root.push(node)
    else dirs.set(dir, [...(dirs.get(dir) ?? []), node])
  }
  const tree = await repo.withWriter(
    async (w) => {
      for (const [dir, nodes] of [...dirs].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const sub = await w.saveBlob('tree', encodeTree(nodes))
        root.push(testNode({ name: Buffer.from(dir), type: 'dir', mode: 0x800001ed, content: null, subtree: sub.id, size: 0 }))
      }
      root.sort((a, b) => Buffer.compare(a.name, b.name))
      return (await w.saveBlob('tree', encodeTree(root))).id
    },
    { compression: options.compression, threads: 0 },
  )
  const snapshot = { time: options.time ?? new Date().toISOString(), tree, paths: ['/data'], hostname: options.host ?? 'test', tags: options.tags }
  return repo.saveUnpacked('snapshots', encodeSnapshot(snapshot))
}

/**
 * A backend that works until `crashAfter` changes (saves and removes) have happened and then
 * fails every further call, as if the process had died at that moment. `changes` counts them.
 */
export class CrashingBackend implements Backend {
  readonly #inner: Backend
  crashAfter = Number.POSITIVE_INFINITY
  changes = 0
  dead = false
  /** Every change in order, as "save index", "remove data", … */
  readonly log: string[] = []

  constructor(inner: Backend) {
    this.#inner = inner
  }

  get location(): string {
    return this.#inner.location
  }

  get properties(): Backend['properties'] {
    return this.#inner.properties
  }

  #alive(): void {
    if (this.dead) throw new Error('simulated crash')
  }

  #change(): void {
    this.#alive()
    if (this.changes >= this.crashAfter) {
      this.dead = true
      throw new Error('simulated crash')
    }
    this.changes++
  }

  async create(): Promise<void> {
    return this.#inner.create()
  }

  async save(h: Handle, data: Uint8Array): Promise<void> {
    this.#change()
    this.log.push(`save ${h.type}`)
    return this.#inner.save(h, data)
  }

  async load(h: Handle, offset?: number, length?: number): Promise<Buffer> {
    this.#alive()
    return this.#inner.load(h, offset, length)
  }

  async stat(h: Handle): Promise<FileInfo> {
    this.#alive()
    return this.#inner.stat(h)
  }

  list(type: FileType, options?: ListOptions): AsyncIterable<FileInfo> {
    this.#alive()
    return this.#inner.list(type, options)
  }

  async remove(h: Handle): Promise<void> {
    this.#change()
    this.log.push(`remove ${h.type}`)
    return this.#inner.remove(h)
  }

  async close(): Promise<void> {}
}

/** A copy of every file of a backend in a new MemoryBackend. */
export async function cloneBackend(source: Backend): Promise<MemoryBackend> {
  const copy = new MemoryBackend()
  await copy.save({ type: 'config', name: '' }, await source.load({ type: 'config', name: '' }))
  for (const type of ['keys', 'data', 'index', 'snapshots', 'locks'] as const) {
    for await (const f of source.list(type)) await copy.save({ type, name: f.name }, await source.load({ type, name: f.name }))
  }
  return copy
}

/**
 * What restic's check would object to, in short sentences (empty when sound): index files that
 * do not load, indexed packs that are missing or have the wrong size, snapshots whose trees or
 * data blobs cannot be loaded and verified. Loads every blob, so keep repositories small. Give
 * it a freshly opened repository: the index is loaded into it.
 */
export async function repositoryProblems(repo: Repository): Promise<string[]> {
  const problems: string[] = []
  try {
    await repo.loadIndex({ force: true })
  } catch (err) {
    return [`index does not load: ${(err as Error).message}`]
  }
  const stored = new Map<Id, number>()
  for await (const f of repo.backend.list('data')) stored.set(f.name, f.size)
  for (const p of repo.index.packs()) {
    const size = stored.get(p.id)
    if (size === undefined) problems.push(`pack ${p.id} is indexed but missing`)
    else if (size !== packSize(p.blobs)) problems.push(`pack ${p.id} has ${size} bytes, index says ${packSize(p.blobs)}`)
  }
  const seen = new Set<Id>()
  const walk = async (tree: Id): Promise<void> => {
    if (seen.has(tree)) return
    seen.add(tree)
    for (const node of decodeTree(await repo.loadBlob('tree', tree))) {
      for (const id of node.content ?? []) {
        if (seen.has(id)) continue
        seen.add(id)
        const data = await repo.loadBlob('data', id)
        if (hashId(data) !== id) problems.push(`data blob ${id} does not match its ID`)
      }
      if (node.subtree) await walk(node.subtree)
    }
  }
  for (const e of await loadSnapshots(repo)) {
    try {
      await walk(e.snapshot.tree)
    } catch (err) {
      problems.push(`snapshot ${e.id}: ${(err as Error).message}`)
    }
  }
  return problems
}
