import type { Id } from '../base/index.js'

/** Where something sits in one snapshot: some of its paths, and how many there are in all. */
export interface SnapshotPaths {
  /** Absolute paths ("/" is the snapshot's root), at most PATHS_PER_SNAPSHOT of them. */
  paths: string[]
  /** How many paths there are in all (a tree can appear under several names). */
  count: number
}

/** A tree, or a named entry in a tree: what a problem points at. */
export interface TreeRef {
  tree: Id
  /** The node's name inside `tree`; undefined for the tree (directory) itself. */
  name?: string
}

/** Paths listed per tree and snapshot at most; the rest are only counted. */
export const PATHS_PER_SNAPSHOT = 20

/**
 * Which snapshots hold which trees, and under which names: the links the tree walk finds
 * (snapshot → root tree, tree → subtree by name), kept so that a damaged tree or blob can be
 * traced back to every snapshot and path it belongs to.
 *
 * Trees are shared between snapshots and directories, so the graph is a DAG. It stores one
 * edge per (parent, name) link in flat arrays, and builds the reverse lookup only when a
 * location is asked for, which happens only when something is wrong.
 */
export class TreeGraph {
  #numbers = new Map<Id, number>()
  #ids: Id[] = []
  #roots = new Map<number, number[]>()
  #edgeParent: number[] = []
  #edgeChild: number[] = []
  #edgeName: string[] = []
  #parents: Map<number, number[]> | undefined
  #locations = new Map<number, Map<number, SnapshotPaths>>()

  get size(): number {
    return this.#ids.length
  }

  has(tree: Id): boolean {
    return this.#numbers.has(tree)
  }

  /** Every tree seen, in the order first seen. */
  trees(): readonly Id[] {
    return this.#ids
  }

  /** Records that snapshot number `snapshot` has `tree` as its root. */
  addRoot(tree: Id, snapshot: number): void {
    const n = this.#number(tree)
    const list = this.#roots.get(n)
    if (list === undefined) this.#roots.set(n, [snapshot])
    else if (!list.includes(snapshot)) list.push(snapshot)
    this.#invalidate()
  }

  /**
   * Records that `parent` lists `child` as the subtree of the directory `name`. Returns true
   * when `child` was not seen before (so the walk should visit it).
   */
  addEdge(parent: Id, name: string, child: Id): boolean {
    const isNew = !this.#numbers.has(child)
    this.#edgeParent.push(this.#number(parent))
    this.#edgeChild.push(this.#number(child))
    this.#edgeName.push(name)
    this.#invalidate()
    return isNew
  }

  /**
   * Every snapshot `ref` appears in (by the number given to addRoot), with its paths there: the
   * directory's paths, plus `/name` when a name is given.
   */
  locate(ref: TreeRef): Map<number, SnapshotPaths> {
    const n = this.#numbers.get(ref.tree)
    if (n === undefined) return new Map()
    const found = this.#locate(n, new Set())
    if (ref.name === undefined) return found
    const out = new Map<number, SnapshotPaths>()
    for (const [s, p] of found) out.set(s, { paths: p.paths.map((dir) => joinPath(dir, ref.name!)), count: p.count })
    return out
  }

  #number(id: Id): number {
    let n = this.#numbers.get(id)
    if (n === undefined) {
      n = this.#ids.length
      this.#ids.push(id)
      this.#numbers.set(id, n)
    }
    return n
  }

  #invalidate(): void {
    if (this.#parents === undefined && this.#locations.size === 0) return
    this.#parents = undefined
    this.#locations.clear()
  }

  #parentEdges(n: number): number[] {
    if (this.#parents === undefined) {
      const parents = new Map<number, number[]>()
      for (let e = 0; e < this.#edgeChild.length; e++) {
        const c = this.#edgeChild[e]
        const list = parents.get(c)
        if (list === undefined) parents.set(c, [e])
        else list.push(e)
      }
      this.#parents = parents
    }
    return this.#parents.get(n) ?? []
  }

  // `active` guards against a cycle, which content addressing rules out for honest repositories
  // but a forged one could contain.
  #locate(n: number, active: Set<number>): Map<number, SnapshotPaths> {
    const cached = this.#locations.get(n)
    if (cached !== undefined) return cached
    const out = new Map<number, SnapshotPaths>()
    active.add(n)
    for (const s of this.#roots.get(n) ?? []) out.set(s, { paths: ['/'], count: 1 })
    for (const e of this.#parentEdges(n)) {
      const p = this.#edgeParent[e]
      if (active.has(p)) continue
      const name = this.#edgeName[e]
      for (const [s, above] of this.#locate(p, active)) {
        let here = out.get(s)
        if (here === undefined) out.set(s, (here = { paths: [], count: 0 }))
        here.count += above.count
        for (const dir of above.paths) {
          if (here.paths.length >= PATHS_PER_SNAPSHOT) break
          here.paths.push(joinPath(dir, name))
        }
      }
    }
    active.delete(n)
    this.#locations.set(n, out)
    return out
  }
}

function joinPath(dir: string, name: string): string {
  return dir === '/' ? '/' + name : dir + '/' + name
}
