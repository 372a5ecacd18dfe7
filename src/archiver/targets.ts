/**
 * Backup targets as restic takes them. The snapshot's root tree mirrors each target path as it
 * was given: `/home/me` gives a root holding `home` holding `me`; a relative `docs/x` gives `docs`
 * holding `x`; `.` stands for its own entries. Using the same shape as restic gives the same tree
 * IDs, and restores land where restic's would.
 */
import { readdir } from 'node:fs/promises'
import { posix, resolve as resolvePath } from 'node:path'

/** A part of the tree that leads to the backup targets: only the named children are saved. */
export interface Virtual {
  children: Map<string, Virtual>
  target: boolean
  /** Where this part of the tree is on the file system (absolute). */
  fsPath: string
}

/**
 * The tree of the targets. `excluded` are targets left out by an exclude pattern: as in restic,
 * the folders leading to them are still stored (as they are on the way), without them.
 */
export function buildVirtual(targets: string[], excluded: string[] = []): Virtual {
  const root: Virtual = { children: new Map(), target: false, fsPath: '/' }
  for (const t of excluded) descend(root, t, pathComponents(t).slice(0, -1))
  for (const t of targets) {
    const parts = pathComponents(t)
    if (parts.length === 0) {
      root.target = true
      continue
    }
    const v = descend(root, t, parts)
    v.target = true
    v.children.clear()
  }
  return root
}

/** The node of target `t`'s components `parts` (made where missing), or the first target met on the way there. */
function descend(root: Virtual, t: string, parts: string[]): Virtual {
  let v = root
  let fsPath = rootDirectory(t)
  for (const part of parts) {
    if (v.target) break
    fsPath = fsPath === '/' ? `/${part}` : `${fsPath}/${part}`
    let c = v.children.get(part)
    if (!c) {
      c = { children: new Map(), target: false, fsPath }
      v.children.set(part, c)
    }
    v = c
  }
  return v
}

/**
 * restic's path components of a target: a relative path counts from an imagined root, so
 * leading ".." parts vanish ("../x" → ["x"], "a/b" → ["a", "b"], "/home/me" → ["home", "me"]).
 */
function pathComponents(target: string): string[] {
  return posix.normalize(posix.isAbsolute(target) ? target : `/${target}`).split('/').filter((s) => s !== '')
}

/** Where a target sits in the snapshot: "/home/me" for "/home/me", "/docs/x" for "docs/x". */
export function snapshotPathOf(target: string): string {
  return '/' + pathComponents(target).join('/')
}

/** The absolute directory holding a target's first component ("/" for absolute targets). */
function rootDirectory(target: string): string {
  if (posix.isAbsolute(target)) return '/'
  const ups = posix.normalize(target).split('/').filter((s) => s === '..')
  return resolvePath(ups.length > 0 ? ups.join('/') : '.')
}

/** "." and other all-dots targets stand for their entries, sorted, as restic does. */
/** Whether a target stands for its entries: a relative path of no components ("." "..", "../.."). */
export function isDotTarget(target: string): boolean {
  return pathComponents(target).length === 0 && !posix.isAbsolute(target)
}

export async function expandDotTarget(target: string): Promise<string[]> {
  if (pathComponents(target).length > 0 || posix.isAbsolute(target)) return [target]
  const names = (await readdir(target)).sort()
  return names.map((n) => posix.join(target, n))
}
