/**
 * Looks at a local repository from the outside: its files on disk, restic's view of its blobs,
 * and the JSON lines the CLIs print.
 */
import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { join, relative } from 'node:path'
import { restic } from './restic.js'

const ID = /^[0-9a-f]{64}$/
const ID_DIRS = ['data', 'index', 'snapshots', 'keys', 'locks']

/** Relative paths of all files below `dir`. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else out.push(relative(dir, p))
    }
  }
  await walk(dir)
  return out.sort()
}

/** Names of the lock files in a local repository. */
export async function lockFiles(repo: string): Promise<string[]> {
  return (await fs.readdir(join(repo, 'locks')).catch(() => [] as string[])).sort()
}

/** Names of the pack files in a local repository. */
export async function packFiles(repo: string): Promise<string[]> {
  return (await listFiles(join(repo, 'data')).catch(() => [] as string[])).sort()
}

/**
 * Every file in a local repository that could not have been written whole and atomically:
 * names that are not a 64-hex ID in an ID directory, content whose SHA-256 is not its name
 * (a partial write under a real name), packs outside their `data/xx/` folder, and anything
 * that looks like a temporary file. Empty = clean.
 */
export async function repoFileProblems(repo: string): Promise<string[]> {
  const problems: string[] = []
  for (const rel of await listFiles(repo)) {
    const parts = rel.split('/')
    const name = parts[parts.length - 1]
    if (rel === 'config') continue
    if (/tmp|temp|partial|~$/i.test(rel)) {
      problems.push(`${rel}: looks like a temporary file`)
      continue
    }
    if (!ID_DIRS.includes(parts[0]) || !ID.test(name)) {
      problems.push(`${rel}: not an ID-named file in a repository folder`)
      continue
    }
    if (parts[0] === 'data' && (parts.length !== 3 || parts[1] !== name.slice(0, 2))) {
      problems.push(`${rel}: pack outside its data/${name.slice(0, 2)}/ folder`)
    }
    const hash = createHash('sha256')
      .update(await fs.readFile(join(repo, rel)))
      .digest('hex')
    if (hash !== name) problems.push(`${rel}: content hash ${hash.slice(0, 12)}… does not match its name`)
  }
  return problems
}

/** The IDs of all data blobs restic sees in the repository (`restic list blobs`). */
export async function dataBlobs(repo: string, password: string): Promise<Set<string>> {
  const r = await restic(['list', 'blobs'], { repo, password })
  if (r.code !== 0) throw new Error(`restic list blobs failed (${r.code}): ${r.stderr}`)
  const ids = new Set<string>()
  for (const line of r.stdout.split('\n')) {
    const m = /^data ([0-9a-f]{64})$/.exec(line.trim())
    if (m) ids.add(m[1])
  }
  return ids
}

/**
 * Which files use the given blobs, as `restic find --blob` reports them; for failure messages
 * (a duplicated chunk is far easier to chase with the file name it belongs to).
 */
export async function whereBlobsAre(repo: string, password: string, ids: string[]): Promise<string> {
  if (ids.length === 0) return ''
  const r = await restic(['find', '--blob', ...ids.slice(0, 20)], { repo, password })
  return `${r.stdout}${r.stderr}`.trim()
}

/** Parses output made of one JSON value per line, skipping blank lines. */
export function jsonLines(stdout: string): unknown[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l)
      } catch {
        throw new Error(`line ${i + 1} of the output is not JSON: ${l.slice(0, 200)}`)
      }
    })
}

/** The fields of restic's `backup --json` summary line that the tests read. */
export interface BackupSummary {
  message_type: 'summary'
  files_new: number
  files_changed: number
  files_unmodified: number
  dirs_new?: number
  data_blobs: number
  tree_blobs?: number
  data_added: number
  total_files_processed: number
  total_bytes_processed?: number
  snapshot_id: string
}

/** The summary object from `backup --json` output (the line with `message_type: "summary"`). */
export function backupSummary(stdout: string): BackupSummary {
  const lines = stdout.split('\n').filter((l) => l.includes('"summary"'))
  for (const line of lines.reverse()) {
    try {
      const v = JSON.parse(line) as { message_type?: string }
      if (v.message_type === 'summary') return v as BackupSummary
    } catch {
      // a progress line that happens to contain the word; keep looking
    }
  }
  throw new Error(`no summary line in backup output: ${stdout.slice(-500)}`)
}

/** Runs `restic check` (optionally `--read-data`) and returns its result. */
export function resticCheck(repo: string, password: string, readData: boolean) {
  return restic(readData ? ['check', '--read-data'] : ['check'], { repo, password, timeoutMs: 170_000 })
}

/** Full IDs of the snapshots in a repository, via `restic snapshots --json`. */
export async function resticSnapshotIds(repo: string, password: string): Promise<string[]> {
  const r = await restic(['snapshots', '--json'], { repo, password })
  if (r.code !== 0) throw new Error(`restic snapshots failed (${r.code}): ${r.stderr}`)
  return (JSON.parse(r.stdout) as { id: string }[]).map((s) => s.id)
}

/** Waits until `predicate` holds, polling every `intervalMs`; false on timeout. */
export async function waitFor(predicate: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 10): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await predicate()) return true
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  return predicate()
}
